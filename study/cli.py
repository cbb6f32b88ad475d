"""`fme study create|list|export|add-expert|serve`: human studies from the command line.

- `fme study create NAME --method LABEL=DIR ... --set A:B ... [--preset paper] [--catch N]
  [--max-catch-failures K] [--driving DIR] [--seed S] [--db URL]`
- `fme study list [--db URL]`: studies with their participants and votes.
- `fme study export NAME --out DIR [--db URL]`: votes.csv and ratings.csv.
- `fme study add-expert NAME EXPERT [--db URL]`: an expert and the link they rate with.
- `fme study serve [--db URL] [--host 127.0.0.1] [--port 8501]`: the Streamlit app, bound to
  localhost unless `--host` says otherwise.

The database is `--db`, else `FME_DATABASE_URL`, else `sqlite:///fme.db`; it is migrated to
the newest schema first.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from fme.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501


def _session(url: str | None):
    from db.migrate import migrated_sessions

    return migrated_sessions(url)()


def parse_method(text: str) -> tuple[str, Path]:
    label, sep, folder = text.partition("=")
    if not sep or not label.strip() or not folder.strip():
        raise ConfigError(f"--method {text!r}: expected LABEL=DIR (e.g. FOMM+EWP=out/fomm-ewp)")
    return label.strip(), Path(folder.strip())


def parse_set(text: str) -> tuple[str, str]:
    a, sep, b = text.partition(":")
    if not sep or not a.strip() or not b.strip():
        raise ConfigError(f"--set {text!r}: expected A:B with two method labels")
    return a.strip(), b.strip()


def _create(args: argparse.Namespace) -> int:
    from study.design import create_study

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
        )
    print(made.summary())
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
    from study.export import export_csv

    with _session(args.db) as session:
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
    return Path(__file__).resolve().parents[1] / "app.py"


def serve_command(host: str, port: int, app: Path | None = None) -> list[str]:
    """The `streamlit run` command line the app is served with."""
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
    ]


def _serve(args: argparse.Namespace) -> int:
    from db.engine import database_url
    from db.migrate import upgrade

    url = database_url(args.db)
    upgrade(url)
    env = dict(os.environ, FME_DATABASE_URL=url)
    shown = "localhost" if args.host in ("127.0.0.1", "localhost") else args.host
    print(f"volunteers: http://{shown}:{args.port}/")
    print(f"admin:      http://{shown}:{args.port}/admin")
    if not (os.environ.get("FME_ADMIN_PASSWORD") or _has_secret()):
        print("admin password: not set; export FME_ADMIN_PASSWORD=... before serving")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}, reachable from other machines", file=sys.stderr)
    sys.stdout.flush()
    cmd = serve_command(args.host, args.port)
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


def _study_subparsers(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
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


def register(sub: argparse._SubParsersAction) -> None:
    study = _study_subparsers(sub)
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
        choices=["paper", "megc2021"],
        help="paper: the paper's four comparison sets; megc2021: FAMGAN vs FOMM+EWP",
    )
    p.add_argument("--catch", type=int, default=0, help="catch trials per participant (0)")
    p.add_argument(
        "--max-catch-failures",
        type=int,
        default=0,
        help="exclude participants with more failed catch trials than this (0)",
    )
    p.add_argument("--driving", help="folder of driving clips <driving>.mp4 shown to experts")
    p.add_argument("--media", help="folder for the corrupted catch clips (studies/NAME/catch)")
    _common(p)
    p.set_defaults(func=_create)

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
    p.add_argument("--base-url", default=f"http://localhost:{DEFAULT_PORT}")
    _common(p)
    p.set_defaults(func=_add_expert)

    p = study.add_parser("serve", help="serve the app (Streamlit) on localhost")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind ({DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    _common(p)
    p.set_defaults(func=_serve)
