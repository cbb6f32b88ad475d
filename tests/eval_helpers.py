"""Test helpers for eval/: a small synthetic video task with 3 motion classes.

Every subject has its own texture; every clip starts from the same still image of that
subject and a bright feature moves down (class 0), moves up (class 1) or grows (class 2)
along an onset-apex-offset profile. Only the motion tells the classes apart, so a
recognizer that scores well on held-out subjects has learned motion, not identity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from eval.clips import ClipBank


def subject_texture(subject: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(1000 + subject)
    base = gaussian_filter(rng.normal(size=(size, size, 3)), sigma=(size / 16, size / 16, 0))
    base = (base - base.min()) / (np.ptp(base) + 1e-9)
    return 0.25 + 0.4 * base


def render_clip(subject: int, label: int, frames: int, size: int, seed: int) -> np.ndarray:
    """(frames, size, size, 3) uint8."""
    rng = np.random.default_rng(seed)
    tex = subject_texture(subject, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    cx = size * (0.5 + 0.08 * rng.uniform(-1, 1))
    cy = size * (0.5 + 0.08 * rng.uniform(-1, 1))
    amp = size * 0.18 * rng.uniform(0.8, 1.2)
    t = np.linspace(0, 1, frames)
    profile = np.sin(np.pi * t)  # onset - apex - offset
    out = []
    for p in profile:
        dy = {0: amp * p, 1: -amp * p, 2: 0.0}[label]
        sigma = size * (0.07 + (0.08 * p if label == 2 else 0.0))
        spot = np.exp(-((xx - cx) ** 2 + (yy - cy - dy) ** 2) / (2 * sigma**2))
        img = np.clip(tex + 0.6 * spot[..., None], 0, 1)
        out.append(np.rint(img * 255).astype(np.uint8))
    return np.stack(out)


def motion_bank(
    subjects: list[int], clips_per_class: int, frames: int = 8, size: int = 32, seed: int = 0
) -> ClipBank:
    clips, labels, subj, keys = [], [], [], []
    for s in subjects:
        for c in range(3):
            for k in range(clips_per_class):
                clips.append(
                    render_clip(s, c, frames, size, seed * 100000 + s * 1000 + c * 100 + k)
                )
                labels.append(c)
                subj.append(f"synthetic/sub{s:02d}")
                keys.append(f"synthetic/sub{s:02d}/c{c}_{k}")
    return ClipBank(np.stack(clips), np.array(labels), subj, keys)


def write_prepared(
    root: Path,
    subjects: list[int],
    clips_per_class: int,
    frames: int = 10,
    size: int = 32,
    lead: int = 2,
) -> Path:
    """The motion task in the `fme prepare` format (manifest, frames, landmarks.npz), with
    `lead` still frames before the onset and after the offset."""
    from generation.data.prepared import MANIFEST_COLUMNS, frame_name, write_csv
    from generation.data.video import write_png

    emotions = ("disgust", "happiness", "surprise")
    labels = ("negative", "positive", "surprise")
    rows = []
    for s in subjects:
        for c in range(3):
            for k in range(clips_per_class):
                clip = render_clip(s, c, frames, size, s * 1000 + c * 100 + k)
                clip = np.concatenate([clip[:1]] * lead + [clip] + [clip[-1:]] * lead)
                rel = f"synthetic/sub{s:02d}/EP{c + 1:02d}_{k + 1:02d}"
                for i, f in enumerate(clip):
                    write_png(root / rel / "frames" / frame_name(i), f)
                lm = np.zeros((len(clip), 68, 2), np.float32) + size / 2
                lm += np.linspace(0, 1, 68, dtype=np.float32)[None, :, None] * size / 4
                np.savez(root / rel / "landmarks.npz", landmarks=lm, box=np.array([0, 0, 1, 1]))
                rows.append(
                    {
                        "dataset": "synthetic",
                        "subject": f"sub{s:02d}",
                        "clip_id": f"EP{c + 1:02d}_{k + 1:02d}",
                        "n_frames": len(clip),
                        "onset": lead + 1,
                        "apex": lead + frames // 2 + 1,
                        "offset": lead + frames,
                        "onset_index": lead,
                        "apex_index": lead + frames // 2,
                        "offset_index": lead + frames - 1,
                        "emotion": emotions[c],
                        "label": labels[c],
                        "aus": "",
                        "path": rel,
                    }
                )
    # one clip the composite leaves out: never read
    rows.append(
        {
            **rows[0],
            "clip_id": "EP09_09",
            "emotion": "others",
            "label": "",
            "path": "synthetic/missing",
        }
    )
    write_csv(root / "manifest.csv", MANIFEST_COLUMNS, rows)
    return root


# `fme eval` options for the smallest recognizer runs (a width-1/16 network on 4x16x16 clips)
TINY_RECOGNIZER_ARGS = ["--width", "0.0625", "--frames", "4", "--size", "16", "--iterations", "2",
                        "--batch-size", "4", "--device", "cpu", "--quiet"]  # fmt: skip
