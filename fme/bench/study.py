"""`fme bench study`: the vote path under concurrent voters (votes/s, commit latency).

N voters (threads, one session each, as the app's sessions are) vote every pair assigned to
them through `db.votes.record_vote`, and re-click a share of them (double clicks that must
be ignored). Prints votes/s, p50/p95/p99 commit latency, lost and duplicated votes, on a
SQLite file (and on PostgreSQL when `--postgres URL` is given).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from sqlalchemy import func, select, text

from db.engine import make_engine, session_factory
from db.migrate import upgrade
from db.models import ComparisonSet, Method, Pair, Study, Video, Vote
from db.votes import next_assignment, participant_by_token, record_vote
from study.design import enroll


def _study(factory, name: str, n_pairs: int, seed: int) -> None:
    """A study with `n_pairs` pairs of placeholder videos (the vote path never reads files)."""
    with factory() as s:
        study = Study(name=name, seed=seed)
        s.add(study)
        s.flush()
        methods = [Method(study_id=study.id, label=m, folder=f"/nonexistent/{m}") for m in "AB"]
        s.add_all(methods)
        s.flush()
        cs = ComparisonSet(
            study_id=study.id,
            name="A vs B",
            position=0,
            method_a_id=methods[0].id,
            method_b_id=methods[1].id,
        )
        s.add(cs)
        s.flush()
        for i in range(n_pairs):
            vids = [
                Video(
                    study_id=study.id,
                    method_id=m.id,
                    path=f"{m.folder}/d{i}-t.mp4",
                    sha256="0" * 64,
                    n_frames=1,
                    fps=25.0,
                    width=16,
                    height=16,
                    sample=f"d{i}-t",
                    driving=f"d{i}",
                    template="t",
                )
                for m in methods
            ]
            s.add_all(vids)
            s.flush()
            s.add(
                Pair(
                    study_id=study.id,
                    set_id=cs.id,
                    sample=f"d{i}-t",
                    video_a_id=vids[0].id,
                    video_b_id=vids[1].id,
                )
            )
        s.commit()


def measure(
    url: str, voters: int, votes: int, repeat: float, seed: int, think_ms: float = 0.0
) -> dict[str, float]:
    """Run the load on `url` (migrated first) and return the figures."""
    upgrade(url)
    engine = make_engine(url, pool_size=voters + 5, max_overflow=10)
    factory = session_factory(engine)
    name = f"bench-{os.getpid()}-{time.time_ns()}"
    n_pairs = max(1, votes // voters)
    _study(factory, name, n_pairs, seed)
    with factory() as s:
        tokens = [enroll(s, name, age=30, gender="x").token for _ in range(voters)]
    latencies: list[list[float]] = [[] for _ in range(voters)]
    ignored = [0] * voters
    errors: list[BaseException] = []
    start_gate = threading.Barrier(voters)

    def voter(k: int) -> None:
        rng = np.random.default_rng([seed, k])
        try:
            with factory() as s:
                start_gate.wait()
                while True:
                    p = participant_by_token(s, tokens[k])
                    a = next_assignment(s, p)
                    if a is None:
                        break
                    if think_ms:  # a volunteer watching the pair (exponential, mean think_ms)
                        time.sleep(rng.exponential(think_ms) / 1000)
                    choice = "A" if rng.random() < 0.6 else "B"
                    t0 = time.perf_counter()
                    record_vote(s, tokens[k], a.pair_id, choice, int(rng.integers(500, 5000)))
                    latencies[k].append(time.perf_counter() - t0)
                    if rng.random() < repeat:  # a double click
                        ignored[k] += int(record_vote(s, tokens[k], a.pair_id, choice, 1).duplicate)
        except BaseException as err:  # reported in the table
            errors.append(err)

    threads = [threading.Thread(target=voter, args=(k,)) for k in range(voters)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    with factory() as s:
        study_id = s.scalar(select(Study.id).where(Study.name == name))
        stored = s.scalar(
            select(func.count(Vote.id))
            .join(Pair, Pair.id == Vote.pair_id)
            .where(Pair.study_id == study_id)
        )
        distinct = s.scalar(
            select(func.count()).select_from(
                select(Vote.participant_id, Vote.pair_id)
                .join(Pair, Pair.id == Vote.pair_id)
                .where(Pair.study_id == study_id)
                .distinct()
                .subquery()
            )
        )
        if engine.dialect.name == "postgresql":  # leave the test server clean
            s.execute(text("DELETE FROM studies WHERE id = :i"), {"i": study_id})
            s.commit()
    engine.dispose()
    lat = np.array([x for xs in latencies for x in xs]) * 1000
    expected = voters * n_pairs
    return {
        "votes": float(expected),
        "seconds": wall,
        "votes_per_s": expected / wall if wall else float("nan"),
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "p95_ms": float(np.percentile(lat, 95)) if len(lat) else float("nan"),
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
        "lost": float(expected - stored),
        "duplicated": float(stored - distinct),
        "double_clicks_ignored": float(sum(ignored)),
        "errors": float(len(errors)),
    }


def _opts(args: argparse.Namespace) -> tuple:
    return (args.voters, args.votes, args.repeat, args.seed, args.think_ms)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fme bench study", description=__doc__)
    parser.add_argument("--voters", type=int, default=50, help="concurrent voters (50)")
    parser.add_argument("--votes", type=int, default=10_000, help="votes in all (10000)")
    parser.add_argument("--repeat", type=float, default=0.1, help="share double-clicked (0.1)")
    parser.add_argument("--db", help="SQLite file to use (default: a temporary one)")
    parser.add_argument(
        "--postgres",
        help='also run on this PostgreSQL URL (e.g. "$FME_TEST_POSTGRES_URL")',
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause before each vote (0: every voter votes as fast as it can)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(args.db) if args.db else Path(tmp) / "bench.db"
        rows.append(
            (
                "SQLite (WAL)",
                measure(f"sqlite:///{db_path}", *_opts(args)),
            )
        )
    if args.postgres:
        rows.append(("PostgreSQL", measure(args.postgres, *_opts(args))))
    print(
        f"{args.voters} concurrent voters, {args.votes} votes, {args.repeat:.0%} double-clicked, "
        f"mean pause before a vote {args.think_ms:.0f} ms\n"
    )
    print(
        "| database | votes | seconds | votes/s | p50 ms | p95 ms | p99 ms | lost | duplicated "
        "| double clicks ignored | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, r in rows:
        print(
            f"| {label} | {r['votes']:.0f} | {r['seconds']:.1f} | {r['votes_per_s']:.0f} | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['lost']:.0f} | "
            f"{r['duplicated']:.0f} | {r['double_clicks_ignored']:.0f} | {r['errors']:.0f} |"
        )
    return int(any(r["lost"] or r["duplicated"] or r["errors"] for _, r in rows))
