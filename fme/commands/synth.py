"""`fme synth`: write the synthetic micro-expression corpus (CASME II layout)."""

from __future__ import annotations

import argparse
import time

from fme.core.options import existing_dir, frame_rate, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth",
        help="write a synthetic micro-expression corpus in the CASME II layout",
        description=(
            "Synthetic micro-expressions: identities from real face photos, AU-driven "
            "landmark warps, CASME II folders, coding sheet and per-frame ground truth."
        ),
    )
    p.add_argument("out", help="output folder (new, empty, or an earlier corpus to replace)")
    p.add_argument("--subjects", type=positive_int, default=4, help="identities, one per subject")
    p.add_argument(
        "--clips-per-subject", type=positive_int, default=3, help="clips of each subject"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same corpus)")
    p.add_argument("--size", type=positive_int, default=256, help="frame side in pixels")
    p.add_argument("--fps", type=frame_rate, default=100.0, help="frames per second")
    p.add_argument(
        "--faces", type=existing_dir, default=None, help="folder of extra neutral face photos"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from generation.synth.corpus import SynthConfig, write_corpus

    config = SynthConfig(
        subjects=args.subjects,
        clips_per_subject=args.clips_per_subject,
        seed=args.seed,
        size=args.size,
        fps=args.fps,
        faces_dir=args.faces,
    )
    start = time.perf_counter()
    clips = write_corpus(args.out, config)
    seconds = time.perf_counter() - start
    n_frames = sum(c.n_frames for c in clips)
    print(
        f"wrote {len(clips)} clips ({n_frames} frames, {config.subjects} subjects) "
        f"to {args.out} in {seconds:.1f} s"
    )
    return 0
