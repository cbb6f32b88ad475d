"""Simulated volunteers for a study in the database, through the app's own vote path.

Each simulated volunteer is enrolled like a real one (`study.design.enroll`) and answers
every assigned pair with `db.votes.record_vote`: on a comparison pair it picks method A with
the Bradley-Terry probability sigmoid(s_A - s_B); on a catch trial it picks the clean video.
Used to show what the reports look like before people vote; never mix it with real votes.

    python scripts/simulate_study.py demo --db sqlite:///demo/fme.db --participants 31 \
        --strength FOMM=0 --strength FOMM+EWP=0.05 --strength FOMM+AWP=0.35 \
        --strength MRAA=-0.6 --strength MRAA+AWP=-0.3

With `--csv FILE` no database is needed: the paper's design (its four comparison sets,
`--pairs` pairs each, every volunteer votes on every pair, A's side balanced) is written as a
votes CSV in the columns of `study.export.votes_frame`, with volunteers who lean by
Normal(0, --participant-sd) and samples by Normal(0, --sample-sd) on the log-odds scale, a
left-side effect --left-bias, `--catch` catch trials each and `--careless` volunteers who vote
at random and fail their catch trials. `--timing` adds what the page records per vote:
response_ms (log-normal around 4 s; careless volunteers answer in about 0.8 s), over_time
(a response over 20 s) and blur_count (the page lost the focus, 5 % of votes), drawn from a
second random stream so that the votes themselves do not change. The example report in
docs/ is made this way.
"""

from __future__ import annotations

import argparse
import math
import random

from sqlalchemy import select

from db.migrate import migrated_sessions
from db.models import Assignment, Pair
from db.votes import record_vote
from study.design import PAPER_SETS, enroll


def simulated_votes_csv(args: argparse.Namespace, strengths: dict[str, float]) -> int:
    """The paper's design as a votes CSV (see the module docstring)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(args.seed)
    n, m = args.participants, args.pairs
    lean = rng.normal(0.0, args.participant_sd, n)
    careless = set(rng.choice(n, size=args.careless, replace=False).tolist())
    rows = []
    for k, (a, b) in enumerate(PAPER_SETS):
        sample_effect = rng.normal(0.0, args.sample_sd, m)
        for i in range(m):
            for j in range(n):
                a_left = (i + j + k) % 2 == 0
                logit = strengths.get(a, 0.0) - strengths.get(b, 0.0) + sample_effect[i]
                logit += lean[j] + (args.left_bias if a_left else -args.left_bias)
                p_a = 0.5 if j in careless else 1.0 / (1.0 + math.exp(-logit))
                rows.append(
                    dict(
                        set_name=f"set{k + 1}",
                        method_a=a,
                        method_b=b,
                        pair_id=k * m + i + 1,
                        sample=f"d{i // 2 + 1}-t{i % 2 + 1}",
                        participant=f"p{j + 1:04d}",
                        choice="A" if rng.random() < p_a else "B",
                        a_side="left" if a_left else "right",
                        is_catch=False,
                        catch_passed=pd.NA,
                    )
                )
    for j in range(n):
        for c in range(args.catch):
            rows.append(
                dict(
                    set_name="catch",
                    method_a=PAPER_SETS[0][0],
                    method_b="corrupted",
                    pair_id=10_000 + j * args.catch + c,
                    sample=f"catch-{c + 1}",
                    participant=f"p{j + 1:04d}",
                    choice="B" if j in careless else "A",
                    a_side="left",
                    is_catch=True,
                    catch_passed=j not in careless,
                )
            )
    frame = pd.DataFrame(rows)
    if args.timing:
        timing = np.random.default_rng(args.seed + 1)
        people = frame["participant"].str[1:].astype(int).to_numpy() - 1
        hurried = np.isin(people, sorted(careless))
        ms = np.where(
            hurried,
            timing.lognormal(math.log(800), 0.3, len(frame)),
            timing.lognormal(math.log(4000), 0.6, len(frame)),
        )
        frame["response_ms"] = ms.round().astype(int)
        frame["over_time"] = frame["response_ms"] > 20_000
        frame["blur_count"] = (timing.random(len(frame)) < 0.05).astype(int)
    frame.to_csv(args.csv, index=False)
    print(f"{n} simulated volunteers, {len(rows)} votes written to {args.csv}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", nargs="?", help="study in the database (not with --csv)")
    p.add_argument("--db", help="SQLAlchemy URL of the study database")
    p.add_argument("--csv", help="write a simulated votes CSV of the paper's design instead")
    p.add_argument("--participants", type=int, default=31)
    p.add_argument("--pairs", type=int, default=18, help="pairs per set (--csv)")
    p.add_argument("--participant-sd", type=float, default=0.0, help="(--csv)")
    p.add_argument("--sample-sd", type=float, default=0.0, help="(--csv)")
    p.add_argument("--left-bias", type=float, default=0.0, help="(--csv)")
    p.add_argument("--catch", type=int, default=0, help="catch trials per volunteer (--csv)")
    p.add_argument("--careless", type=int, default=0, help="random voters (--csv)")
    p.add_argument(
        "--timing", action="store_true", help="add response_ms, over_time, blur_count (--csv)"
    )
    p.add_argument("--strength", action="append", default=[], metavar="LABEL=S")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    strengths = {k: float(v) for k, v in (s.split("=", 1) for s in args.strength)}
    if args.csv:
        return simulated_votes_csv(args, strengths)
    if not args.study or not args.db:
        p.error("give STUDY and --db URL, or --csv FILE")
    rng = random.Random(args.seed)
    with migrated_sessions(args.db)() as session:
        for _ in range(args.participants):
            person = enroll(session, args.study, age=rng.randint(18, 60), gender="unspecified")
            pairs = session.scalars(
                select(Pair)
                .join(Assignment, Assignment.pair_id == Pair.id)
                .where(Assignment.participant_id == person.id)
                .order_by(Assignment.position)
            ).all()
            for pair in pairs:
                if pair.is_catch:
                    choice = pair.catch_trial.correct
                else:
                    a, b = pair.set.method_a.label, pair.set.method_b.label
                    logit = strengths.get(a, 0.0) - strengths.get(b, 0.0)
                    choice = "A" if rng.random() < 1 / (1 + math.exp(-logit)) else "B"
                record_vote(session, person.token, pair.id, choice, rng.randint(1500, 6000))
    print(f"{args.participants} simulated volunteers voted in study {args.study!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
