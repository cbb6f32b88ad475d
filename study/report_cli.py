"""`fme study report` and `fme study expert` (also `fme expert-table`): study tables and figures.

- `fme study report NAME [--db URL] --out DIR [--alpha A]`: votes (and expert ratings) of a
  study in the database, through `study.export`.
- `fme study report --votes CSV [--ratings CSV] --out DIR`: the same from exported CSVs.
- `fme study power [--effect P ...] [--pairs M] [--pair-sd S ...] [--simulate N]`: volunteers
  a set needs for the paper's Z test to find a given voting rate.
- `fme study expert --ratings CSV [--out DIR]` or `fme study expert --study NAME [--db URL]`,
  and `fme expert-table --ratings CSV --out DIR`: the MEGC expert table, printed and written.

The sub-commands join the `study` parser that `study.cli` registers (or create it, through
`study.cli._study_subparsers`). Heavy imports stay inside the handlers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fme.errors import DataError
from study.cli import _study_subparsers

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.orm import Session

DEFAULT_DB = "sqlite:///fme.db"


def _database_url(arg: str | None) -> str:
    from db.engine import database_url

    return database_url(arg)


def _read_csv(path: str) -> pd.DataFrame:
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DataError("file not found", path=p, hint="Give the CSV the admin page exported.")
    try:
        return pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"not a readable CSV ({err})", path=p) from None


def _open_session(url: str) -> Session:
    from sqlalchemy.engine import make_url
    from sqlalchemy.orm import Session

    from db.engine import make_engine

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).is_file():
            raise DataError(
                "no such database file",
                path=parsed.database,
                hint="Pass --db URL or set FME_DATABASE_URL, or use --votes CSV.",
            )
    return Session(make_engine(url))  # the project's engine: WAL, busy timeout, foreign keys


def _from_database(name: str, url: str, what: str) -> pd.DataFrame:
    session = _open_session(url)
    try:
        from study import export
    except ImportError as err:
        session.close()
        raise DataError(
            f"reading a study from the database needs study.export ({err})",
            hint="Export the votes as CSV and use --votes CSV.",
        ) from None
    with session:
        return getattr(export, f"{what}_frame")(session, name)


def _study_max_failures(name: str, url: str) -> int | None:
    """The study's own exclusion rule (`Study.max_catch_failures`), when the schema has it."""
    try:
        from study.design import get_study
    except ImportError:
        return None
    with _open_session(url) as session:
        return getattr(get_study(session, name), "max_catch_failures", None)


def _report(args: argparse.Namespace) -> int:
    from study.report import study_report

    if args.votes:
        votes = _read_csv(args.votes)
        title = f"Study report: {Path(args.votes).name}"
    elif args.name:
        url = _database_url(args.db)
        votes = _from_database(args.name, url, "votes")
        title = f"Study report: {args.name}"
        if args.max_catch_failures is None and args.min_catch_pass_rate is None:
            args.max_catch_failures = _study_max_failures(args.name, url)
    else:
        raise DataError("name a study or give --votes CSV", hint="See `fme study report -h`.")
    if len(votes) == 0:
        raise DataError(f"no votes in {args.votes or args.name}")
    ratings = None
    if args.ratings:
        ratings = _read_csv(args.ratings)
    elif args.name and not args.votes:
        ratings = _from_database(args.name, _database_url(args.db), "ratings")
    report = study_report(
        votes,
        ratings,
        alpha=args.alpha,
        exclude_failed_catch=not args.keep_failed_catch,
        min_catch_pass_rate=1.0 if args.min_catch_pass_rate is None else args.min_catch_pass_rate,
        max_catch_failures=args.max_catch_failures,
        mixed=not args.no_mixed,
        n_boot=args.boot,
        seed=args.seed,
        title=title,
    )
    written = report.write(args.out, png=False if args.no_png else None)
    from study.report import markdown_table

    print(markdown_table(report.tables["sets"]))
    if report.excluded:
        print(f"\nexcluded after failed catch trials: {', '.join(report.excluded)}")
    print(f"\nwrote {len(written)} files to {args.out} (index: {Path(args.out) / 'report.md'})")
    return 0


def _expert(args: argparse.Namespace) -> int:
    from study.expert import expert_table
    from study.report import StudyReport, markdown_table

    if args.ratings:
        ratings = _read_csv(args.ratings)
        source = args.ratings
    elif args.study:
        ratings = _from_database(args.study, _database_url(args.db), "ratings")
        source = None
    else:
        raise DataError("give --ratings CSV or --study NAME")
    table = expert_table(
        ratings,
        require_complete=not args.allow_incomplete,
        source=source,
    )
    print(markdown_table(table, digits=6))
    if args.out:
        from study import figures

        report = StudyReport(title="Expert scores")
        report.tables["expert"] = table
        report.figures["expert"] = figures.expert_figure(table)
        written = report.write(args.out, png=False if args.no_png else None)
        print(f"\nwrote {len(written)} files to {args.out}", file=sys.stderr)
    return 0


def _power(args: argparse.Namespace) -> int:
    import pandas as pd

    from study.report import markdown_table
    from study.stats import required_volunteers, simulated_power

    rows = []
    for sd in args.pair_sd:
        for effect in args.effect:
            res = required_volunteers(
                effect, args.pairs, pair_sd=sd, alpha=args.alpha, power=args.power
            )
            row = {
                "voting_rate": effect,
                "pair_sd": sd,
                "n_pairs": args.pairs,
                "volunteers": res.n_participants if res.n_participants else "none",
            }
            if args.simulate and res.n_participants:
                row["simulated_power"] = simulated_power(
                    res.n_participants,
                    effect,
                    args.pairs,
                    pair_sd=sd,
                    alpha=args.alpha,
                    n_sim=args.simulate,
                    seed=args.seed,
                )
            rows.append(row)
    print(markdown_table(pd.DataFrame(rows)))
    return 0


def _add_expert_options(p: argparse.ArgumentParser, out_required: bool) -> None:
    p.add_argument("--ratings", help="CSV with expert, method, video, upper, lower, noise")
    p.add_argument("--study", help="read the ratings of this study from the database")
    p.add_argument("--db", help=f"SQLAlchemy URL (default $FME_DATABASE_URL or {DEFAULT_DB})")
    p.add_argument("--out", required=out_required, help="folder for the table and figure")
    p.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="accept experts who rated unequal numbers of videos per method",
    )
    p.add_argument("--no-png", action="store_true", help="HTML figures only")
    p.add_argument("--seed", type=int, default=0, help="unused (no randomness); for uniformity")
    p.set_defaults(func=_expert)


def register(sub: argparse._SubParsersAction) -> None:
    study = _study_subparsers(sub)
    if "report" not in study.choices:
        p = study.add_parser(
            "report",
            help="tables and figures of a study (from the database or a votes CSV)",
            description="Per-set Z tests (the paper's Tables III-V), per-pair binomial tests, "
            "Bradley-Terry ranking, position bias, agreement, power, expert table; CSV, "
            "Markdown and LaTeX tables and plotly HTML figures under --out.",
        )
        p.add_argument("name", nargs="?", help="study name in the database")
        p.add_argument("--db", help=f"SQLAlchemy URL (default $FME_DATABASE_URL or {DEFAULT_DB})")
        p.add_argument("--votes", help="votes CSV exported by the admin page (instead of NAME)")
        p.add_argument("--ratings", help="expert ratings CSV (adds the expert table)")
        p.add_argument("--out", required=True, help="output folder")
        p.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
        p.add_argument(
            "--keep-failed-catch",
            action="store_true",
            help="keep participants who failed catch trials",
        )
        p.add_argument(
            "--max-catch-failures",
            type=int,
            help="exclude participants with more failed catch trials than this "
            "(default: the study's own rule when reading the database)",
        )
        p.add_argument(
            "--min-catch-pass-rate",
            type=float,
            help="or: exclude participants whose catch pass rate is below this "
            "(default 1.0: any failure excludes)",
        )
        p.add_argument("--no-mixed", action="store_true", help="skip the mixed-effects model")
        p.add_argument("--boot", type=int, default=200, help="bootstrap resamples for BT (200)")
        p.add_argument("--no-png", action="store_true", help="HTML figures only")
        p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
        p.set_defaults(func=_report)
    if "power" not in study.choices:
        w = study.add_parser(
            "power",
            help="volunteers a comparison set needs (the paper's Z test)",
            description="Volunteers N for the right-tailed Z test over M pairs to find a true "
            "voting rate with the given power, when the true rate varies across pairs with "
            "standard deviation --pair-sd; --simulate checks it by simulation.",
        )
        w.add_argument(
            "--effect",
            type=float,
            nargs="+",
            default=[0.55, 0.6, 0.65, 0.7],
            help="true voting rate(s) of the better method",
        )
        w.add_argument("--pairs", type=int, default=18, help="pairs per set (18)")
        w.add_argument(
            "--pair-sd",
            type=float,
            nargs="+",
            default=[0.0, 0.05, 0.1],
            help="spread of the true rate across pairs",
        )
        w.add_argument("--alpha", type=float, default=0.05)
        w.add_argument("--power", type=float, default=0.8)
        w.add_argument(
            "--simulate",
            type=int,
            default=0,
            metavar="N_SIM",
            help="also simulate the test this many times at the N found",
        )
        w.add_argument("--seed", type=int, default=0)
        w.set_defaults(func=_power)
    if "expert" not in study.choices:
        e = study.add_parser("expert", help="MEGC expert table from ratings")
        _add_expert_options(e, out_required=False)
    if "expert-table" not in sub.choices:
        t = sub.add_parser("expert-table", help="MEGC expert table from a ratings CSV")
        _add_expert_options(t, out_required=True)
