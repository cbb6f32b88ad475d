"""`fme bench prepare`: face-preparation throughput (frames/s) on the synthetic corpus.

Writes a small synthetic corpus (not timed), loads the dlib models (not timed), prepares
every clip once from scratch and once more (all clips cached), and prints Markdown tables:
the totals and the time per stage (read + grayscale, face detection: the onset's and the
presence check of every frame, 68 landmarks per frame, crop + resize, PNG + npz writing).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fme bench prepare", description=__doc__)
    p.add_argument("--subjects", type=int, default=2, help="synthetic subjects")
    p.add_argument("--clips-per-subject", type=int, default=2, help="clips per subject")
    p.add_argument("--frame-size", type=int, default=256, help="side of the synthetic frames")
    p.add_argument("--size", type=int, default=256, help="side of the prepared frames")
    p.add_argument(
        "--landmarks", choices=("track", "dlib"), default="track", help="as `fme prepare`"
    )
    p.add_argument("--seed", type=int, default=0, help="corpus seed")
    p.add_argument("--work", default=None, help="keep the corpus and output here (default: temp)")
    return p


def run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from generation.data.readers import read_dataset
    from generation.face.detect import face_detector, landmark_predictor
    from generation.face.prepare import STAGES, PrepareConfig, prepare_clips
    from generation.synth.corpus import SynthConfig, write_corpus

    with tempfile.TemporaryDirectory(prefix="fme-bench-prepare-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        corpus, out = work / "corpus", work / "prepared"
        write_corpus(
            corpus,
            SynthConfig(
                subjects=args.subjects,
                clips_per_subject=args.clips_per_subject,
                seed=args.seed,
                size=args.frame_size,
            ),
            progress=False,
        )
        clips = read_dataset("casme2", corpus)
        face_detector(), landmark_predictor()  # loaded before timing (the synth step has used them)
        config = PrepareConfig(size=args.size, seed=args.seed, landmarks=args.landmarks)
        if out.exists():
            import shutil

            shutil.rmtree(out)
        cpu = time.process_time()
        cold = prepare_clips(clips, out, config, progress=False)
        cpu = time.process_time() - cpu
        warm = prepare_clips(clips, out, config, progress=False)

    n = cold.frames
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(
        f"synthetic corpus: {len(clips)} clips, {n} frames of {args.frame_size}x"
        f"{args.frame_size} -> {args.size}x{args.size}; OMP_NUM_THREADS={threads}\n"
    )
    print("| run | clips prepared | clips cached | frames | wall s | CPU s | frames/s (wall) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| first prepare | {cold.processed} | {cold.cached} | {n} | {cold.seconds:.2f} "
        f"| {cpu:.2f} | {n / cold.seconds:.1f} |"
    )
    print(
        f"| second prepare (cached) | {warm.processed} | {warm.cached} | {warm.frames} "
        f"| {warm.seconds:.2f} | | - |"
    )
    print()
    print("| stage (first prepare) | wall s | ms/frame |")
    print("|---|---:|---:|")
    for stage in STAGES:
        s = cold.timings[stage]
        print(f"| {stage} | {s:.3f} | {1000 * s / max(n, 1):.2f} |")
    return 0 if not cold.problems else 1
