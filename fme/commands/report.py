"""`fme study report` and `fme study expert` (also `fme expert-table`): study tables and figures.

- `fme study report NAME [--db URL] --out DIR [--alpha A]`: votes (and expert ratings) of a
  study in the database, through `study.export`.
- `fme study report --votes CSV [--ratings CSV] [--study NAME] --out DIR`: the same from
  exported CSVs (`--study` picks one study of a CSV that holds several). `--looks` and
  `--spending` (or the study's own sequential plan) add the stopping-rule table;
  `--equivalence-margin` sets the TOST bounds, `--fast-ms` the sensitivity table's rule.
- `fme study power [--effect P ...] [--pairs M] [--pair-sd S ...] [--simulate N]`: volunteers
  a set needs for the paper's Z test to find a given voting rate.
- `fme study expert --ratings CSV [--out DIR]` or `fme study expert --study NAME [--db URL]`,
  and `fme expert-table --ratings CSV --out DIR`: the MEGC expert table, printed and written.

The sub-commands join the `study` parser that `fme.commands.study` registers (or create it, through
`fme.commands.study.study_subparsers`). Heavy imports stay inside the handlers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fme.commands.study import study_subparsers
from fme.core.errors import ConfigError, DataError
from fme.core.options import (
    int_range,
    non_negative_float,
    non_negative_int,
    probability,
    unit_interval,
    voting_rate,
)

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.orm import Session

DEFAULT_DB = "sqlite:///fme.db"
DEFAULT_MAX_CATCH_FAILURES = 0  # `fme study create --max-catch-failures` default


def _database_url(arg: str | None) -> str:
    from db.engine import database_url

    return database_url(arg)


def _read_csv(path: str) -> pd.DataFrame:
    from fme.core.inputs import read_csv

    p = Path(path)
    if p.is_dir():
        raise DataError(
            "is a folder, expected a CSV file", p, "Give the CSV the admin page exported."
        )
    if not p.is_file():
        raise DataError("file not found", path=p, hint="Give the CSV the admin page exported.")
    return read_csv(p, "CSV file")


def _open_session(url: str) -> Session:
    from sqlalchemy.engine import make_url
    from sqlalchemy.orm import Session

    from db.engine import database_errors, open_engine

    with database_errors(url):
        parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).is_file():
            raise DataError(
                "no such database file",
                path=parsed.database,
                hint="Pass --db URL or set FME_DATABASE_URL, or use --votes CSV.",
            )
    return Session(open_engine(url))  # the project's engine: WAL, busy timeout, foreign keys


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


def _sequential_plan(args: argparse.Namespace):
    """The sequential plan of --looks/--spending, else the study's own from the database."""
    from study.sequential import SequentialPlan

    if args.looks:
        return SequentialPlan.parse(args.looks, args.spending or "obrien-fleming", args.alpha)
    if args.spending:
        raise DataError("--spending needs --looks (e.g. --looks 0.5,0.75,1)")
    if args.name and not args.votes:
        try:
            from study.design import get_study
        except ImportError:
            return None
        with _open_session(_database_url(args.db)) as session:
            study = get_study(session, args.name)
            looks = getattr(study, "sequential_looks", None)
            if looks:
                return SequentialPlan.parse(
                    looks, study.sequential_spending, study.sequential_alpha or args.alpha
                )
    return None


def _report(args: argparse.Namespace) -> int:
    from fme.api import report_study as study_report
    from fme.core.outputs import output_dir

    output_dir(args.out, existing="replace")  # the report's own files are written again
    source = None
    if args.max_catch_failures is not None:
        source = "--max-catch-failures"
    elif args.min_catch_pass_rate is not None:
        source = "--min-catch-pass-rate"
    if args.votes and args.name:
        raise ConfigError(
            "give a study NAME or --votes CSV, not both",
            hint="The report is made from one of them; leave the other out.",
        )
    if args.votes:
        votes = _read_csv(args.votes)
        title = f"Study report: {Path(args.votes).name}"
        if source is None and not args.keep_failed_catch:
            # A votes CSV does not carry the study's rule: use `fme study create`'s default.
            args.max_catch_failures = DEFAULT_MAX_CATCH_FAILURES
            source = (
                f"a votes CSV does not carry the study's rule: the default of `fme study "
                f"create`, {DEFAULT_MAX_CATCH_FAILURES}; set it with --max-catch-failures"
            )
    elif args.name:
        url = _database_url(args.db)
        votes = _from_database(args.name, url, "votes")
        title = f"Study report: {args.name}"
        if args.max_catch_failures is None and args.min_catch_pass_rate is None:
            args.max_catch_failures = _study_max_failures(args.name, url)
            if args.max_catch_failures is not None:
                source = f"the study's own rule, max_catch_failures = {args.max_catch_failures}"
    else:
        raise DataError("name a study or give --votes CSV", hint="See `fme study report -h`.")
    if len(votes) == 0:
        raise DataError(f"no votes in {args.votes or args.name}")
    plan = _sequential_plan(args)
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
        n_boot=args.boot,
        n_calibration=args.calibration,
        seed=args.seed,
        title=title,
        catch_rule_source=source,
        study=args.study if args.votes else None,
        equivalence_margin=args.equivalence_margin,
        fast_ms=args.fast_ms,
        sequential=plan,
    )
    if args.title:
        report.title = args.title
    written = report.write(
        args.out, png=False if args.no_png else None, figures=not args.no_figures
    )
    print(report.layout("table_iv").markdown())
    for note in report.notes:
        print(note)
    if report.excluded:
        print(f"\nexcluded after failed catch trials: {', '.join(report.excluded)}")
    print(f"\nwrote {len(written)} files to {args.out} (index: {Path(args.out) / 'report.md'})")
    return 0


def _expert(args: argparse.Namespace) -> int:
    from fme.core.outputs import output_dir
    from study.expert import expert_table
    from study.report import StudyReport, expert_layout

    if args.out:
        output_dir(args.out, existing="replace")
    if args.ratings and args.study:
        raise ConfigError(
            "give --ratings CSV or --study NAME, not both",
            hint="The table is made from one of them; leave the other out.",
        )
    if args.ratings:
        ratings = _read_csv(args.ratings)
        source = args.ratings
    elif args.study:
        ratings = _from_database(args.study, _database_url(args.db), "ratings")
        source = f"study {args.study!r}"
    else:
        raise DataError("give --ratings CSV or --study NAME")
    table = expert_table(
        ratings,
        require_complete=not args.allow_incomplete,
        source=source,
    )
    layout = expert_layout(table)
    print(layout.markdown())
    if args.out:
        from study import figures

        report = StudyReport(title="Expert scores")
        report.add(layout)
        report.figures["expert"] = figures.expert_figure(table)
        written = report.write(
            args.out, png=False if args.no_png else None, command="fme expert-table"
        )
        print(f"\nwrote {len(written)} files to {args.out}", file=sys.stderr)
    return 0


def _power(args: argparse.Namespace) -> int:
    import pandas as pd

    from study.stats import required_volunteers, simulated_power
    from study.tables import Column, Table

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
                "volunteers": res.n_participants,
                "simulated_power": float("nan"),
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
    frame = pd.DataFrame(rows)
    frame["volunteers"] = frame["volunteers"].astype("Int64")
    columns = [
        Column("voting_rate", "true VotingRate", kind="fixed", digits=2),
        Column("pair_sd", "pair SD", kind="fixed", digits=2),
        Column("n_pairs", "M", kind="int"),
        Column(
            "volunteers",
            f"N for {100 * args.power:.0f} % power",
            kind="int",
            missing="none (add pairs)",
        ),
    ]
    if args.simulate:
        columns.append(Column("simulated_power", "simulated power", kind="fixed", digits=3))
    print(Table("power", frame, columns, "Volunteers a set needs").markdown())
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


def _register_report(study: argparse._SubParsersAction) -> None:
    p = study.add_parser(
        "report",
        help="tables and figures of a study (from the database or a votes CSV)",
        description="The paper's Tables IV and V and voting rates, the Z test with "
        "Student's t beside it, sign/Wilcoxon and per-pair exact tests, a crossed "
        "random-effects analysis (participants and samples), Bradley-Terry ranking, "
        "position bias, agreement, power from the data, simulated level and power, "
        "expert table; CSV, Markdown and LaTeX tables and plotly HTML figures under --out.",
    )
    p.add_argument("name", nargs="?", help="study name in the database")
    p.add_argument("--db", help=f"SQLAlchemy URL (default $FME_DATABASE_URL or {DEFAULT_DB})")
    p.add_argument("--votes", help="votes CSV exported by the admin page (instead of NAME)")
    p.add_argument("--ratings", help="expert ratings CSV (adds the expert table)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--alpha", type=probability, default=0.05, help="significance level (0.05)")
    p.add_argument(
        "--keep-failed-catch",
        action="store_true",
        help="keep participants who failed catch trials",
    )
    p.add_argument(
        "--max-catch-failures",
        type=non_negative_int,
        help="exclude participants with more failed catch trials than this "
        "(default: the study's own rule from the database; 0 for a votes CSV)",
    )
    p.add_argument(
        "--min-catch-pass-rate",
        type=unit_interval,
        help="or: exclude participants whose catch pass rate is below this "
        "(default 1.0: any failure excludes)",
    )
    p.add_argument(
        "--calibration",
        type=int_range(0, 1_000_000),
        default=2000,
        metavar="N_SIM",
        help="simulated sets per scenario for the level/power table (2000; 0: none)",
    )
    p.add_argument(
        "--boot",
        type=int_range(0, 1_000_000),
        default=200,
        help="bootstrap resamples for BT (200)",
    )
    p.add_argument("--no-png", action="store_true", help="HTML figures only")
    p.add_argument("--no-figures", action="store_true", help="tables and report.md only")
    p.add_argument("--title", help="title of report.md (default: the study or CSV name)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument(
        "--study",
        help="with --votes: report this study of a CSV that holds several (its study column)",
    )
    p.add_argument(
        "--equivalence-margin",
        type=probability,
        default=0.05,
        metavar="D",
        help="TOST bounds 1/2 +- D on P(M_b) for sets that are not significant (0.05)",
    )
    p.add_argument(
        "--fast-ms",
        type=non_negative_float,
        default=1000.0,
        help="the sensitivity table drops votes answered faster than this (1000 ms)",
    )
    p.add_argument(
        "--looks",
        help="a sequential plan's looks as fractions of N, e.g. 0.5,0.75,1 (default: the "
        "study's own plan from the database): adds the stopping-rule calibration table",
    )
    p.add_argument(
        "--spending",
        choices=["obrien-fleming", "pocock"],
        help="the plan's alpha-spending rule (obrien-fleming)",
    )
    p.set_defaults(func=_report)


def register(sub: argparse._SubParsersAction) -> None:
    study = study_subparsers(sub)
    if "report" not in study.choices:
        _register_report(study)
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
            type=voting_rate,
            nargs="+",
            default=[0.55, 0.6, 0.65, 0.7],
            help="true voting rate(s) of the better method",
        )
        w.add_argument("--pairs", type=int_range(1, 10_000), default=18, help="pairs per set (18)")
        w.add_argument(
            "--pair-sd",
            type=non_negative_float,
            nargs="+",
            default=[0.0, 0.05, 0.1],
            help="spread of the true rate across pairs",
        )
        w.add_argument("--alpha", type=probability, default=0.05)
        w.add_argument("--power", type=probability, default=0.8)
        w.add_argument(
            "--simulate",
            type=int_range(0, 1_000_000),
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
