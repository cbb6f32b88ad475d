"""`fme bench NAME`: speed and quality benchmarks that print tables (never tests).

Each benchmark lives beside the code it measures, as a function `run(argv) -> int`
that parses its own options and prints a Markdown table. `fme bench all` runs the
quick ones in turn (what `make bench` calls).
"""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS: dict[str, tuple[str, str]] = {
    "prepare": ("fme.bench.prepare", "face preparation throughput (frames/s)"),
    "animation": ("fme.bench.animation", "animation frames/s and training step time"),
    "generation": (
        "fme.bench.generation",
        "objective check of the variants on the synthetic corpus",
    ),
    "tracking": ("fme.bench.tracking", "landmark methods against exact micro-motion"),
    "au": ("fme.bench.au", "landmark AU estimator: per-AU r on held-out synthetic subjects"),
    "recognizers": ("fme.bench.recognizers", "recognizer scoring time and training throughput"),
    "study": ("fme.bench.study", "vote path throughput on SQLite"),
    "metrics": (
        "fme.bench.metrics",
        "FID/KID, LPIPS, FVD and identity networks: seconds per 100 frames",
    ),
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
