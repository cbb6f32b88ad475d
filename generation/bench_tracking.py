"""`fme bench tracking`: how well each landmark method follows micro-motion.

Writes a synthetic corpus (its per-frame ground-truth landmarks are exact) and, for every
clip, finds the landmarks three ways: dlib on every frame (whole pixels; `fme prepare
--landmarks dlib`), dlib on every frame enlarged to a 400 px face (sub-pixel), and the
tracker (`generation.tracking.track_clip`, `fme prepare --landmarks track`). It prints
the error of the apex motion (apex minus onset) of the 18 prior keypoints and of the
landmark motion over all frames, in % of the inter-ocular distance, beside the size of
the true apex motion, and the time per frame.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = ("dlib per frame", "dlib per frame, upsampled", "tracker")


def _landmarks(method: str, gray: np.ndarray, face, onset: int) -> np.ndarray:
    from generation.face import landmarks68
    from generation.tracking import track_clip

    if method == "tracker":
        return track_clip(gray, face, onset)[0]
    upsample = 0 if method.endswith("upsampled") else 1
    return np.stack([landmarks68(g, face, upsample=upsample) for g in gray])


def run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fme bench tracking", description=__doc__.split("\n")[0])
    p.add_argument("--subjects", type=int, default=5)
    p.add_argument("--clips-per-subject", type=int, default=2)
    p.add_argument("--frame-size", type=int, default=128, help="side of the synthetic frames")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import pandas as pd

    from generation.bench import markdown
    from generation.data.readers import read_dataset
    from generation.face import detect_faces, inter_ocular, to_gray
    from generation.prior import prior_keypoints
    from generation.synth.corpus import SynthConfig, write_corpus
    from generation.video import read_image

    errors = {m: {"apex": [], "all": [], "seconds": 0.0} for m in METHODS}
    sizes, frames = [], 0
    with tempfile.TemporaryDirectory(prefix="fme-bench-tracking-") as tmp:
        corpus = Path(tmp)
        config = SynthConfig(args.subjects, args.clips_per_subject, args.seed, size=args.frame_size)
        write_corpus(corpus, config, progress=False)
        for clip in read_dataset("casme2", corpus):
            truth_file = corpus / "ground_truth" / clip.subject / f"{clip.clip_id}.npz"
            with np.load(truth_file) as z:
                truth = z["landmarks"].astype(np.float64)
            gray = np.stack([to_gray(read_image(f)) for f in clip.frames])
            on = clip.onset_index
            apex = int(np.argmax(np.abs(truth - truth[on]).sum((1, 2))))
            face = detect_faces(gray[on])[0]
            iod = float(inter_ocular(truth[on]))
            true_kp = prior_keypoints(truth[apex]) - prior_keypoints(truth[on])
            sizes.append(100 * np.linalg.norm(true_kp, axis=-1).mean() / iod)
            frames += len(gray)
            for method in METHODS:
                t = time.perf_counter()
                lm = _landmarks(method, gray, face, on)
                errors[method]["seconds"] += time.perf_counter() - t
                est = prior_keypoints(lm[apex]) - prior_keypoints(lm[on])
                errors[method]["apex"].append(
                    100 * np.linalg.norm(est - true_kp, axis=-1).mean() / iod
                )
                motion = (lm - lm[on]) - (truth - truth[on])
                errors[method]["all"].append(100 * np.linalg.norm(motion, axis=-1).mean() / iod)
    rows = [
        {"landmarks": "true apex motion (size)", "apex keypoint motion (% IOD)": np.mean(sizes)}
    ]
    for method, e in errors.items():
        rows.append(
            {
                "landmarks": method,
                "apex keypoint motion (% IOD)": float(np.mean(e["apex"])),
                "landmark motion, all frames (% IOD)": float(np.mean(e["all"])),
                "ms/frame": 1000 * e["seconds"] / max(frames, 1),
            }
        )
    print(
        f"{args.subjects * args.clips_per_subject} synthetic clips, {frames} frames of "
        f"{args.frame_size}x{args.frame_size}; errors of the estimated motion against the "
        "ground truth (the size row: the true motion itself)\n"
    )
    print(markdown(pd.DataFrame(rows), digits=3))
    return 0
