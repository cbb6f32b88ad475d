"""`fme bench NAME`: speed and quality benchmarks that print tables (never tests).

Each benchmark lives beside the code it measures, as a function `run(argv) -> int`
that parses its own options and prints a Markdown table. `fme bench all` runs the
quick ones in turn (what `make bench` calls).
"""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS: dict[str, tuple[str, str]] = {
    "prepare": ("generation.data.bench", "face preparation throughput (frames/s)"),
    "animation": ("generation.bench_speed", "animation frames/s and training step time"),
    "generation": ("generation.bench", "objective check of the variants on the synthetic corpus"),
    "tracking": ("generation.bench_tracking", "landmark methods against exact micro-motion"),
    "au": ("generation.au.bench", "landmark AU estimator: per-AU r on held-out synthetic subjects"),
    "recognizers": ("eval.bench", "recognizer scoring time and training throughput"),
    "study": ("study.bench", "vote path throughput on SQLite"),
}

# `fme bench all`: the benchmarks `make bench` prints, in order.
ALL = ("prepare", "animation", "recognizers", "study")


def _run(args: argparse.Namespace) -> int:
    names = ALL if args.name == "all" else (args.name,)
    status = 0
    for name in names:
        module_name, title = BENCHMARKS[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            print(f"## {name}: not available ({module_name} missing)\n")
            continue
        print(f"## {name}: {title}\n", flush=True)
        status |= int(module.run(list(args.options)) or 0)
        print(flush=True)
    return status


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark and print its table")
    p.add_argument("name", choices=[*BENCHMARKS, "all"])
    p.add_argument("options", nargs=argparse.REMAINDER, help="options for that benchmark")
    p.set_defaults(func=_run)
