"""`fme`: one console script; each package registers its own sub-commands.

A package that offers commands has a module with `register(subparsers)`, which adds
parsers whose `func` attribute takes the parsed namespace and returns an exit status.
The modules are listed in COMMAND_MODULES and imported lazily (torch is not imported
to print `fme --help`).

A user's mistake (a bad option value, an FMEError from the command) is one line on stderr
and exit status 2; so is a full, failing or read-only disk (`fme.core.outputs.storage_error`).
Any other exception is a bug: one line saying so and where to report it,
then the traceback, exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from fme.core.errors import FMEError, print_bug, print_error
from fme.core.options import Parser

# Modules that define `register(subparsers)`. A missing module is skipped so that a
# partial install (or a package not written yet) does not break the others.
COMMAND_MODULES = [
    "fme.commands.synth",
    "fme.commands.prepare",
    "fme.commands.generation",
    "fme.commands.eval",
    "fme.commands.study",
    "fme.commands.report",
    "fme.bench",
    "fme.commands.demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="fme",
        description="FME Studio: facial micro-expression generation and evaluation.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # -h, or a bad option (already answered in one line)
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 2)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except FMEError as err:
        print_error(err)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # not ours: a bug, unless the disk failed
        from fme.core.outputs import storage_error

        problem = storage_error(err)
        if problem is not None:  # a full, failing or read-only disk: the user's to fix
            print_error(problem)
            return 2
        print_bug(err)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
