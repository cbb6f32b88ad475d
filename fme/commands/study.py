"""`fme study create|configure|open|close|list|export|add-expert|serve`: human studies from
the command line.

- `fme study create NAME --method LABEL=DIR ... --set A:B ... [--preset NAME] [--catch N]
  [--max-catch-failures K] [--driving DIR] [--seed S] [--db URL]
  [--target N] [--consent FILE] [--demographics age,gender,...] [--completion-url URL]
  [--completion-code CODE] [--screenout-url URL] [--screenout-code CODE] [--min-view-s S]
  [--min-view-loop] [--time-limit-s S]
- `fme study configure NAME [the hosting options of create]`: change them later.
- `fme study close NAME` / `fme study open NAME [--target N | --no-target]`: a closed study
  takes nobody new and keeps every vote; reopened, its participants continue.
- `fme study list [--db URL]`: studies with their participants and votes.
- `fme study export NAME --out DIR [--db URL]`: votes.csv and ratings.csv.
- `fme study add-expert NAME EXPERT [--db URL]`: an expert and the link they rate with.
- `fme study serve [--db URL] [--host 127.0.0.1] [--port 8501] [--base-url-path PREFIX]`: the
  Streamlit app, bound to localhost unless `--host` says otherwise, under /PREFIX/ for a
  reverse proxy.

The database is `--db`, else `FME_DATABASE_URL`, else `sqlite:///fme.db`; it is migrated to
the newest schema first.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from fme.core.errors import ConfigError
from fme.core.options import (
    int_range,
    non_negative_float,
    non_negative_int,
    port_number,
    positive_int,
    probability,
)
from study.presets import PRESETS, describe
from study.recruitment import check_exit_url
from study.specs import parse_method, parse_set

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501


def _session(url: str | None):
    from db.migrate import migrated_sessions

    return migrated_sessions(url)()


def _create(args: argparse.Namespace) -> int:
    from study.design import check_settings, create_study

    settings = _hosting_settings(args)
    check_settings(**settings)  # a bad option fails before the study is written

    methods: dict[str, Path] = {}
    for text in args.method or []:
        label, folder = parse_method(text)
        if label in methods:
            raise ConfigError(f"--method {label} given twice")
        methods[label] = folder
    sets = [parse_set(t) for t in args.set or []]
    root = os.environ.get("FME_VIDEO_ROOT")
    with _session(args.db) as session:
        made = create_study(
            session,
            args.name,
            methods,
            sets,
            catch=args.catch,
            seed=args.seed,
            preset=args.preset,
            max_catch_failures=args.max_catch_failures,
            driving_dir=args.driving,
            media_dir=args.media,
            allowed_root=root,
            planned_n=args.planned_n,
            looks=args.looks,
            spending=args.spending,
            sequential_alpha=args.sequential_alpha,
        )
    if settings:
        from study.design import configure_study

        with _session(args.db) as session:
            configure_study(session, made.name, **settings)
    print(made.summary())
    return 0


def _hosting_options(p: argparse.ArgumentParser) -> None:
    """The options of `create` and `configure` that host a study on a recruitment platform."""
    p.add_argument(
        "--target",
        type=int_range(1, 1_000_000),
        help="stop enrolment after N finished participants",
    )
    p.add_argument("--no-target", action="store_true", help="remove the target")
    p.add_argument("--consent", metavar="FILE", help="consent text (Markdown file)")
    p.add_argument(
        "--demographics",
        metavar="LIST",
        help="fields asked, comma-separated from age,gender,vision,country,comment, or none",
    )
    p.add_argument("--completion-url", help="where finished participants are sent")
    p.add_argument("--completion-code", help="the code shown to finished participants")
    p.add_argument("--screenout-url", help="where participants the catch rule excludes go")
    p.add_argument("--screenout-code", help="the code shown to screened-out participants")
    p.add_argument(
        "--min-view-s",
        type=non_negative_float,
        help="the vote buttons enable after this many seconds",
    )
    p.add_argument(
        "--min-view-loop",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the vote buttons enable once both videos have played through once",
    )
    p.add_argument(
        "--time-limit-s",
        type=non_negative_float,
        help="seconds per pair after which a vote is flagged over_time (0: no limit)",
    )


def _hosting_settings(args: argparse.Namespace) -> dict:
    settings: dict = {}
    if getattr(args, "no_target", False):
        settings["target_finished"] = None
    elif getattr(args, "target", None) is not None:
        settings["target_finished"] = args.target
    if getattr(args, "consent", None):
        from fme.core.inputs import read_text

        settings["consent_text"] = read_text(args.consent, "consent text")
    if getattr(args, "min_view_s", None) is not None:
        settings["min_view_s"] = args.min_view_s
    if getattr(args, "min_view_loop", None) is not None:
        settings["min_view_loop"] = args.min_view_loop
    if getattr(args, "time_limit_s", None) is not None:
        settings["pair_time_limit_s"] = args.time_limit_s or None
    for key in (
        "demographics",
        "completion_url",
        "completion_code",
        "screenout_url",
        "screenout_code",
    ):
        if getattr(args, key, None) is not None:
            settings[key] = getattr(args, key)
    return settings


def _configure(args: argparse.Namespace) -> int:
    from study.design import configure_study

    settings = _hosting_settings(args)
    if not settings:
        raise ConfigError("nothing to change", hint="Give at least one option (see --help).")
    with _session(args.db) as session:
        configure_study(session, args.name, **settings)
    print(f"study {args.name!r}: {', '.join(sorted(settings))} set")
    return 0


def _set_open(args: argparse.Namespace) -> int:
    from study.design import configure_study, enrolment, set_open

    with _session(args.db) as session:
        settings = _hosting_settings(args)
        if settings:
            configure_study(session, args.name, **settings)
        study = set_open(session, args.name, args.open_study)
        state = enrolment(session, study)
    target = f" of a target of {state.target}" if state.target else ""
    how = "open" if study.is_open else "closed"
    print(
        f"study {study.name!r} is {how}: {state.finished} finished{target}, "
        f"{state.holding} in progress; enrolment {'open' if state.open else state.reason}"
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from db.models import Study
    from study.export import study_progress

    with _session(args.db) as session:
        names = list(session.scalars(select(Study.name).order_by(Study.id)))
        print("| study | participants | finished | votes | completion | catch failures |")
        print("|---|---|---|---|---|---|")
        for name in names:
            p = study_progress(session, name)
            print(
                f"| {name} | {p.participants} | {p.finished} | {p.votes} | "
                f"{p.completion:.0%} | {p.catch_failures} |"
            )
    return 0


def _export(args: argparse.Namespace) -> int:
    from fme.core.outputs import output_dir
    from study.export import export_csv

    output_dir(args.out, existing="replace")  # votes.csv and ratings.csv are written again

    from study.design import get_study

    with _session(args.db) as session:
        get_study(session, args.name)  # an unknown study is refused before a folder is made
        paths = export_csv(session, args.name, args.out)
    for what, path in paths.items():
        print(f"{what}: {path}")
    return 0


def _add_expert(args: argparse.Namespace) -> int:
    from study.design import add_expert

    with _session(args.db) as session:
        expert = add_expert(session, args.name, args.expert)
    print(f"expert {expert.name!r}: {args.base_url.rstrip('/')}/expert?expert={expert.token}")
    return 0


def app_path() -> Path:
    """The app's entry script (`app.py` beside the packages)."""
    import importlib.util

    spec = importlib.util.find_spec("app")
    if spec is not None and spec.origin:
        return Path(spec.origin)
    return Path(__file__).resolve().parents[2] / "app.py"


def url_prefix(path: str | None) -> str:
    """`--base-url-path` as Streamlit's `server.baseUrlPath` wants it: no slash at either end
    ("" for none); ConfigError for characters that do not belong in a URL path."""
    import re

    prefix = (path or "").strip().strip("/")
    if prefix and not re.fullmatch(r"[A-Za-z0-9._~\-]+(/[A-Za-z0-9._~\-]+)*", prefix):
        raise ConfigError(
            f"--base-url-path {path!r} is not a URL path",
            hint="Use letters, digits, . _ ~ - and /, e.g. --base-url-path fme "
            "(the app is then at http://HOST/fme/).",
        )
    return prefix


def serve_command(
    host: str, port: int, app: Path | None = None, base_url_path: str = ""
) -> list[str]:
    """The `streamlit run` command line the app is served with (under `base_url_path`, the
    prefix a reverse proxy forwards, when given)."""
    prefix = url_prefix(base_url_path)
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app or app_path()),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.maxUploadSize",
        "1",
        "--server.enableXsrfProtection",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        # Streamlit's full gc.collect(2) after every script run took half the server's time
        # under 100 volunteers (p95 click-to-next-pair 15.4 s with it, 1.9 s without).
        "--runner.postScriptGC",
        "false",
        "--server.fileWatcherType",
        "none",
        *(["--server.baseUrlPath", prefix] if prefix else []),
    ]


def _port_free(host: str, port: int) -> None:
    """ConfigError naming --port when another program listens there (Streamlit would say
    only "Port N is not available" and exit 1)."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                raise ConfigError(
                    f"--port {port}: {'in use by another program' if err.errno == errno.EADDRINUSE else 'not allowed here'} on {host}",
                    hint="Give another --port (or stop the program that listens there).",
                ) from None
            raise ConfigError(f"--host {host}: cannot listen there ({err.strerror})") from None


def _serve(args: argparse.Namespace) -> int:
    from db.engine import database_url
    from db.migrate import upgrade

    url = database_url(args.db)
    _port_free(args.host, args.port)
    upgrade(url)
    env = dict(os.environ, FME_DATABASE_URL=url)
    prefix = url_prefix(args.base_url_path)
    shown = "localhost" if args.host in ("127.0.0.1", "localhost") else args.host
    root = f"http://{shown}:{args.port}/" + (f"{prefix}/" if prefix else "")
    print(f"volunteers: {root}")
    print(f"admin:      {root}admin")
    if prefix:
        print(f"behind a reverse proxy: forward /{prefix}/ (with websocket upgrades) here")
    if not (os.environ.get("FME_ADMIN_PASSWORD") or _has_secret()):
        print("admin password: not set; export FME_ADMIN_PASSWORD=... before serving")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}, reachable from other machines", file=sys.stderr)
    sys.stdout.flush()
    cmd = serve_command(args.host, args.port, base_url_path=prefix)
    if os.name == "posix":  # become the server: signals (Ctrl-C, SIGTERM, SIGKILL) reach it
        os.execve(cmd[0], cmd, env)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0


def _has_secret() -> bool:
    return any(
        p.is_file()
        for p in (Path(".streamlit/secrets.toml"), Path.home() / ".streamlit/secrets.toml")
    )


def study_subparsers(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    parser = sub.choices.get("study")
    if parser is None:
        parser = sub.add_parser("study", help="human studies: design, app, export, reports")
        parser.set_defaults(func=lambda _args: (parser.print_help(), 1)[1])
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest="study_command", metavar="STUDY_COMMAND")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="SQLAlchemy URL (default $FME_DATABASE_URL or sqlite:///fme.db)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")


def _app_address(text: str) -> str:
    """`--base-url`: an http(s) address by the rule of the study's exit links
    (`study.recruitment.check_exit_url`), without a query (the links are made from it)."""
    from urllib.parse import urlparse

    try:
        url = check_exit_url(text, "address")
    except ConfigError as err:
        raise argparse.ArgumentTypeError(err.message) from None
    if url is None or urlparse(url).query:
        raise argparse.ArgumentTypeError(
            f"expected the app's address without a query, e.g. https://study.example.org/fme, "
            f"got {text!r}"
        )
    return url


def _register_create(study: argparse._SubParsersAction) -> None:
    p = study.add_parser(
        "create",
        help="create a study from folders of generated videos",
        description="Pairs the videos of the same sample (<driving>-<template>.mp4) across "
        "methods for every comparison set, reports the samples a method lacks, and assigns "
        "each participant a seeded random order with balanced sides.",
    )
    p.add_argument("name", help="study name (letters, digits, spaces, . _ + -)")
    p.add_argument("--method", action="append", metavar="LABEL=DIR", help="a method's folder")
    p.add_argument("--set", action="append", metavar="A:B", help="a comparison set A vs B")
    p.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="named comparison sets, added to --set: " + "; ".join(map(describe, PRESETS)),
    )
    p.add_argument(
        "--catch", type=non_negative_int, default=0, help="catch trials per participant (0)"
    )
    p.add_argument(
        "--max-catch-failures",
        type=non_negative_int,
        default=0,
        help="exclude participants with more failed catch trials than this (0)",
    )
    p.add_argument("--driving", help="folder of driving clips <driving>.mp4 shown to experts")
    p.add_argument("--media", help="folder for the corrupted catch clips (studies/NAME/catch)")
    p.add_argument(
        "--planned-n",
        type=positive_int,
        help="finished participants the study needs, fixed now: the admin page hides "
        "p-values until then (the stopping rule)",
    )
    p.add_argument(
        "--looks",
        help="a sequential plan instead: interim looks at these fractions of --planned-n, "
        "e.g. 0.5,0.75,1",
    )
    p.add_argument(
        "--spending",
        choices=["obrien-fleming", "pocock"],
        help="the sequential plan's alpha-spending rule (obrien-fleming)",
    )
    p.add_argument(
        "--sequential-alpha",
        type=probability,
        default=0.05,
        help="overall two-sided level of the sequential plan (0.05)",
    )
    _hosting_options(p)
    _common(p)
    p.set_defaults(func=_create)


def register(sub: argparse._SubParsersAction) -> None:
    study = study_subparsers(sub)
    _register_create(study)

    p = study.add_parser(
        "configure",
        help="change a study's target, consent text, demographics, completion/screen-out links",
    )
    p.add_argument("name", help="study name")
    _hosting_options(p)
    _common(p)
    p.set_defaults(func=_configure)

    for command, what in (("open", "open (or reopen)"), ("close", "close")):
        p = study.add_parser(
            command,
            help=f"{what} a study to participants (votes are kept)",
            description="A closed study takes no new participants and tells returning ones "
            "that their answers are saved; reopened, they continue where they stopped.",
        )
        p.add_argument("name", help="study name")
        if command == "open":
            p.add_argument(
                "--target", type=int_range(1, 1_000_000), help="stop enrolment after N finished"
            )
            p.add_argument("--no-target", action="store_true", help="remove the target")
        _common(p)
        p.set_defaults(func=_set_open, open_study=command == "open")

    p = study.add_parser("list", help="studies with participants, votes and completion")
    _common(p)
    p.set_defaults(func=_list)

    p = study.add_parser("export", help="write a study's votes.csv and ratings.csv")
    p.add_argument("name")
    p.add_argument("--out", required=True, help="output folder")
    _common(p)
    p.set_defaults(func=_export)

    p = study.add_parser("add-expert", help="add an expert and print their rating link")
    p.add_argument("name", help="study name")
    p.add_argument("expert", help="the expert's name or code (shown in the expert table)")
    p.add_argument(
        "--base-url",
        type=_app_address,
        default=f"http://localhost:{DEFAULT_PORT}",
        help="the app's address as participants and experts reach it (behind a proxy: the "
        "proxy's address and prefix)",
    )
    _common(p)
    p.set_defaults(func=_add_expert)

    p = study.add_parser("serve", help="serve the app (Streamlit) on localhost")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind ({DEFAULT_HOST})")
    p.add_argument("--port", type=port_number, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    p.add_argument(
        "--base-url-path",
        default="",
        metavar="PREFIX",
        help="serve under /PREFIX/ (Streamlit's server.baseUrlPath), for a reverse proxy "
        "that forwards that prefix (see the study guide, docs/guides/study.md)",
    )
    _common(p)
    p.set_defaults(func=_serve)
