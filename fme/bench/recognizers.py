"""`fme bench recognizers`: seconds to score a MEGC-sized set (18 videos) with the three
recognizers on CPU, and recognizer training throughput in clips/s.

The videos are random-textured 256x256 clips written as H.264 MP4 once (not timed); the
scoring time covers decoding, resampling to T x 112 x 112 and the forward passes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _videos(folder: Path, n: int, frames: int, size: int, seed: int) -> None:
    from eval.clips import MEGC2021_LABELS
    from generation.data.video import write_mp4

    rng = np.random.default_rng(seed)
    drivers = list(MEGC2021_LABELS)
    templates = ["normalized_westernMale", "normalized_asianFemale"]
    for k in range(n):
        base = rng.integers(0, 255, (size // 8, size // 8, 3), dtype=np.uint8)
        base = np.kron(base, np.ones((8, 8, 1), np.uint8))
        clip = np.stack([np.roll(base, t, axis=1) for t in range(frames)])
        name = f"{drivers[k % len(drivers)]}-{templates[(k // len(drivers)) % 2]}"
        if k >= 2 * len(drivers):
            name = f"{name}{k}"
        write_mp4(folder / f"{name}.mp4", clip, fps=100)


def run(argv: list[str]) -> int:
    import torch

    from eval.clips import load_bank, video_set_items
    from eval.recognizers import BACKBONES, DISPLAY_NAMES, build, n_parameters
    from eval.train import TrainConfig, predict, train_recognizer

    p = argparse.ArgumentParser(prog="fme bench recognizers")
    p.add_argument("--videos", type=int, default=18)
    p.add_argument("--video-frames", type=int, default=30)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--width", type=float, default=1.0, help="width of the scoring networks")
    p.add_argument("--train-width", type=float, default=0.25)
    p.add_argument("--train-iterations", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "set"
        _videos(folder, args.videos, args.video_frames, 256, args.seed)
        t0 = time.perf_counter()
        bank = load_bank(video_set_items(folder), args.frames, args.size, "bench", progress=False)
        read_s = time.perf_counter() - t0
    total = read_s
    for name in BACKBONES:
        model = build(name, 3, args.width).eval()
        t0 = time.perf_counter()
        predict(model, bank)
        score_s = time.perf_counter() - t0
        total += score_s
        config = TrainConfig(
            backbone=name,
            width=args.train_width,
            frames=args.frames,
            size=args.size,
            iterations=args.train_iterations,
            batch_size=args.batch_size,
            seed=args.seed,
        )
        res = train_recognizer(config, bank, progress=False)
        rows.append(
            (DISPLAY_NAMES[name], n_parameters(model), score_s, res.clips_seen / res.seconds)
        )
    print(
        f"{args.videos} videos of {args.video_frames} frames at 256x256 -> "
        f"{args.frames}x{args.size}x{args.size}; torch threads {torch.get_num_threads()}; "
        f"scoring width {args.width}, training width {args.train_width}, "
        f"batch {args.batch_size}, {args.train_iterations} iterations\n"
    )
    print("| recognizer | parameters (3 classes) | scoring s | training clips/s |")
    print("|---|---|---|---|")
    for name, n_par, score_s, cps in rows:
        print(f"| {name} | {n_par:,} | {score_s:.2f} | {cps:.1f} |")
    print(f"| reading + resampling | | {read_s:.2f} | |")
    print(f"| **all three, total** | | **{total:.2f}** | |")
    return 0
