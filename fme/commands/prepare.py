"""`fme prepare DATASET ROOT OUT`: crop, resize and landmark every clip of a dataset."""

from __future__ import annotations

import argparse
import sys

from fme.core.options import float_range, int_range


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="prepare a dataset's clips: face crop, resize, 68 landmarks, manifest",
        description=(
            "Read a dataset (casme2, samm, smic; the synthetic corpus reads as casme2), find "
            "the face on each clip's onset frame with dlib, crop every frame with that box "
            "plus a margin, resize, and save frames, landmarks and OUT/manifest.csv. Finished "
            "clips are skipped on a re-run; clips that fail are listed in OUT/report.csv."
        ),
    )
    p.add_argument(
        "dataset", help="casme2, samm, smic, casme_sq (CAS(ME)²) or casme3 (CAS(ME)³ part A)"
    )
    p.add_argument("root", help="the dataset's folder as shipped")
    p.add_argument("out", help="output folder (may already hold other prepared datasets)")
    p.add_argument(
        "--size", type=int_range(16, 2048), default=256, help="side of the prepared frames"
    )
    p.add_argument(
        "--margin",
        type=float_range(0, 2),
        default=0.25,
        help="margin around the face box, as a fraction of its side",
    )
    p.add_argument(
        "--landmarks",
        choices=("track", "dlib"),
        default="track",
        help="track: dlib on the onset frame (sub-pixel), followed through the clip by a "
        "Lucas-Kanade tracker (default; micro-motion is below dlib's whole pixels); "
        "dlib: dlib on every frame",
    )
    p.add_argument(
        "--labels",
        choices=("composite", "emotion"),
        default=None,
        help="3-class labels: composite = the published MEGC2019 list (default; clips it "
        "leaves out get none), emotion = mapped from the dataset's emotion (the default for "
        "the synthetic corpus, which no list holds)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (preparation is deterministic)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fme.api import prepare

    prepared = prepare(
        args.dataset,
        args.root,
        args.out,
        size=args.size,
        margin=args.margin,
        labels=args.labels,
        landmarks=args.landmarks,
        seed=args.seed,
        progress=not args.quiet,
    )
    report, result = prepared.read, prepared.result
    fps = result.frames / result.seconds if result.seconds > 0 else 0.0
    print(
        f"{report.dataset}: {result.processed} clips prepared ({result.frames} frames, "
        f"{fps:.1f} frames/s), {result.cached} already done, {len(result.problems)} left out"
    )
    print(report.summary())
    for note in report.notes:
        print(f"note: {note}")
    for clip in report.corrected:
        print(f"corrected: {clip.key}: {'; '.join(clip.corrections)}")
    print(f"manifest: {result.manifest}")
    for problem in result.problems:
        print(f"error: {problem.message}", file=sys.stderr)
    if result.problems:
        print(f"{len(result.problems)} clip(s) left out; see {result.report}", file=sys.stderr)
        return 2
    return 0
