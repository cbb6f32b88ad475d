"""`fme prepare DATASET ROOT OUT`: crop, resize and landmark every clip of a dataset."""

from __future__ import annotations

import argparse
import sys

from fme.core.options import float_range, int_range
from generation.face.presence import POLICIES, POLICY_HELP


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="prepare a dataset's clips: face crop, resize, 68 landmarks, manifest",
        description=(
            "Read a dataset (casme2, samm, smic; the synthetic corpus reads as casme2), find "
            "the face on each clip's onset frame with dlib, crop every frame with that box "
            "plus a margin, resize, and save frames, landmarks and OUT/manifest.csv. Finished "
            "clips are skipped on a re-run; clips that fail are listed in OUT/report.csv. "
            "`fme prepare videos ROOT OUT` takes your own videos: every video file or frame "
            "folder under ROOT is a clip, coded by an optional ROOT/clips.csv (clip, subject, "
            "onset, apex, offset, emotion, label); without a coded onset, the first frame "
            "with a face is the onset. The face is checked on every frame; frames without "
            "one, and facial regions where the tracker fell back to dlib, are counted on "
            "screen and in OUT/report.csv."
        ),
    )
    p.add_argument(
        "dataset",
        help="casme2, samm, smic, casme_sq (CAS(ME)²), casme3 (CAS(ME)³ part A), or videos "
        "(your own videos and frame folders)",
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
        "--no-face",
        choices=POLICIES,
        default="hold",
        help=POLICY_HELP + "; a clip whose onset frame has no face is left out (videos "
        "without a coded onset start at the first frame with one)",
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
        no_face=args.no_face,
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
    if result.processed and args.landmarks == "track":
        print(result.fallback_text())
    for note in result.notes:
        if note.stage == "no-face":
            print(f"warning: {note.message}", file=sys.stderr)
    if result.faceless_frames:
        print(
            f"{result.faceless_frames} frame(s) without a face (--no-face {args.no_face}); "
            f"see {result.report}"
        )
    print(f"manifest: {result.manifest}")
    for problem in result.problems:
        print(f"error: {problem.message}", file=sys.stderr)
    if result.problems:
        print(f"{len(result.problems)} clip(s) left out; see {result.report}", file=sys.stderr)
        return 2
    return 0
