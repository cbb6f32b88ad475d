"""Simulated volunteers for a study in the database, through the app's own vote path.

Each simulated volunteer is enrolled like a real one (`study.design.enroll`) and answers
every assigned pair with `db.votes.record_vote`: on a comparison pair it picks method A with
the Bradley-Terry probability sigmoid(s_A - s_B); on a catch trial it picks the clean video.
Used to show what the reports look like before people vote; never mix it with real votes.

    python scripts/simulate_study.py demo --db sqlite:///demo/fme.db --participants 31 \
        --strength FOMM=0 --strength FOMM+EWP=0.05 --strength FOMM+AWP=0.35 \
        --strength MRAA=-0.6 --strength MRAA+AWP=-0.3
"""

from __future__ import annotations

import argparse
import math
import random

from sqlalchemy import select

from db.migrate import migrated_sessions
from db.models import Assignment, Pair
from db.votes import record_vote
from study.design import enroll


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study")
    p.add_argument("--db", required=True, help="SQLAlchemy URL of the study database")
    p.add_argument("--participants", type=int, default=31)
    p.add_argument("--strength", action="append", default=[], metavar="LABEL=S")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    strengths = {k: float(v) for k, v in (s.split("=", 1) for s in args.strength)}
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
