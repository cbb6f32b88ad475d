#!/usr/bin/env python
"""Load figures for the README: N volunteers at once against the served study app.

    .venv/bin/python scripts/load_test.py [--volunteers 100] [--votes 3] [--postgres URL]
        [--post-script-gc] [--seed 0] [--out artifacts/load.json]

Builds the e2e demo study (five methods, four sets, real H.264 clips) in a fresh SQLite file
(or in a fresh database on the PostgreSQL server `--postgres` points at), serves it with
`streamlit run app.py` on a free loopback port, runs the volunteers over Streamlit's
websocket protocol (tests/e2e/load_run.py), checks the database (lost, duplicated, extra
votes) and prints a Markdown table: click-to-next-pair p50/p95/max, votes per second.
`--post-script-gc` keeps Streamlit's full garbage collection after every script run (off in
the tests; see tests/e2e/e2e_helpers.serve_command).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "e2e"), str(REPO)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--volunteers", type=int, default=100)
    p.add_argument("--votes", type=int, default=3, help="votes per volunteer (at most 9)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--postgres", default=None, help="SQLAlchemy URL of a PostgreSQL server")
    p.add_argument("--post-script-gc", action="store_true")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--out", default=str(REPO / "artifacts" / "load.json"))
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.post_script_gc:
        os.environ["FME_E2E_POST_SCRIPT_GC"] = "1"

    from e2e_helpers import (
        AppServer,
        check_acks,
        create_demo_study,
        make_videos,
        read_ledger,
        video_digests,
    )
    from load_run import run_load

    with tempfile.TemporaryDirectory(prefix="fme-load-") as tmp:
        root = Path(tmp)
        dirs = make_videos(root / "videos")
        if args.postgres:
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            name = f"fme_load_{secrets.token_hex(4)}"
            admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            url = make_url(args.postgres).set(database=name).render_as_string(False)
        else:
            url = f"sqlite:///{root / 'fme.db'}"
        create_demo_study(url, dirs, root / "catch")
        server = AppServer(database_url=url, workdir=root / "app").start()
        try:
            result = run_load(
                server.url,
                n=args.volunteers,
                votes=args.votes,
                seed=args.seed,
                timeout=args.timeout,
            )
        finally:
            server.stop()
        counts = check_acks(read_ledger(url, video_digests(url)), result.volunteers)
    summary = result.summary() | counts
    summary.update(
        database="postgresql" if args.postgres else "sqlite",
        post_script_gc=bool(args.post_script_gc),
        command=" ".join(server.command),
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(
        "| volunteers | votes | database | wall s | p50 s | p95 s | max s | votes/s | lost "
        "| duplicated | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {summary['volunteers']} | {summary['acknowledged_votes']} | {summary['database']}"
        f" | {summary['wall_s']} | {summary['latency_p50_s']} | {summary['latency_p95_s']}"
        f" | {summary['latency_max_s']} | {summary['votes_per_s']} | {counts['lost']}"
        f" | {counts['duplicated']} | {summary['errors']} |"
    )
    bad = counts["lost"] or counts["duplicated"] or counts["extra"] or result.errors
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
