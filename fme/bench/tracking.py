"""`fme bench tracking`: how well each landmark method follows micro-motion.

Writes a synthetic corpus (its per-frame ground-truth landmarks are exact) and, for every
clip, finds the landmarks three ways: dlib on every frame (whole pixels; `fme prepare
--landmarks dlib`), dlib on every frame enlarged to a 400 px face (sub-pixel), and the
tracker (`generation.face.tracking.track_clip`, `fme prepare --landmarks track`). It prints
the error of the apex motion (apex minus onset) of the 18 prior keypoints and of the
landmark motion over all frames, in % of the inter-ocular distance, beside the size of
the true apex motion, and the time per frame.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

METHODS = ("dlib per frame", "dlib per frame, upsampled", "tracker")


@dataclass
class MotionErrors:
    """Per clip: the size of the true apex keypoint motion and each method's errors (% IOD)."""

    size: list[float] = field(default_factory=list)
    apex: dict[str, list[float]] = field(default_factory=dict)
    all_frames: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    frames: int = 0
    fallbacks: int = 0  # tracker frames that kept dlib's landmarks


def motion_errors(corpus: Path, methods: tuple[str, ...] = METHODS) -> MotionErrors:
    """Each method's landmarks of every clip of a synthetic corpus against its exact ones."""
    from generation.data.readers import read_dataset
    from generation.data.video import read_image
    from generation.face.detect import detect_faces, inter_ocular, landmarks68, to_gray
    from generation.face.prior import prior_keypoints
    from generation.face.tracking import track_clip

    out = MotionErrors(
        apex={m: [] for m in methods},
        all_frames={m: [] for m in methods},
        seconds=dict.fromkeys(methods, 0.0),
    )
    for clip in read_dataset("casme2", corpus):
        with np.load(Path(corpus) / "ground_truth" / clip.subject / f"{clip.clip_id}.npz") as z:
            truth = z["landmarks"].astype(np.float64)
        gray = np.stack([to_gray(read_image(f)) for f in clip.frames])
        on = clip.onset_index
        apex = int(np.argmax(np.abs(truth - truth[on]).sum((1, 2))))
        face = detect_faces(gray[on])[0]
        iod = float(inter_ocular(truth[on]))
        true_kp = prior_keypoints(truth[apex]) - prior_keypoints(truth[on])
        out.size.append(100 * np.linalg.norm(true_kp, axis=-1).mean() / iod)
        out.frames += len(gray)
        for method in methods:
            t = time.perf_counter()
            if method == "tracker":
                lm, fallbacks = track_clip(gray, face, on)
                out.fallbacks += fallbacks
            else:
                upsample = 0 if method.endswith("upsampled") else 1
                lm = np.stack([landmarks68(g, face, upsample=upsample) for g in gray])
            out.seconds[method] += time.perf_counter() - t
            est = prior_keypoints(lm[apex]) - prior_keypoints(lm[on])
            out.apex[method].append(100 * np.linalg.norm(est - true_kp, axis=-1).mean() / iod)
            motion = (lm - lm[on]) - (truth - truth[on])
            out.all_frames[method].append(100 * np.linalg.norm(motion, axis=-1).mean() / iod)
    return out


def run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fme bench tracking", description=__doc__.split("\n")[0])
    p.add_argument("--subjects", type=int, default=5)
    p.add_argument("--clips-per-subject", type=int, default=2)
    p.add_argument("--frame-size", type=int, default=128, help="side of the synthetic frames")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import pandas as pd

    from fme.bench.common import markdown
    from generation.synth.corpus import SynthConfig, write_corpus

    with tempfile.TemporaryDirectory(prefix="fme-bench-tracking-") as tmp:
        corpus = Path(tmp)
        config = SynthConfig(args.subjects, args.clips_per_subject, args.seed, size=args.frame_size)
        write_corpus(corpus, config, progress=False)
        errors = motion_errors(corpus)
    rows = [
        {
            "landmarks": "true apex motion (size)",
            "apex keypoint motion (% IOD)": np.mean(errors.size),
        }
    ]
    for method in METHODS:
        rows.append(
            {
                "landmarks": method,
                "apex keypoint motion (% IOD)": float(np.mean(errors.apex[method])),
                "landmark motion, all frames (% IOD)": float(np.mean(errors.all_frames[method])),
                "ms/frame": 1000 * errors.seconds[method] / max(errors.frames, 1),
            }
        )
    print(
        f"{args.subjects * args.clips_per_subject} synthetic clips, {errors.frames} frames of "
        f"{args.frame_size}x{args.frame_size}; errors of the estimated motion against the "
        "ground truth (the size row: the true motion itself)\n"
    )
    print(markdown(pd.DataFrame(rows), digits=3))
    return 0
