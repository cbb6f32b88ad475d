"""Tiny prepared data for the engine tests (training, animation, MEGC sets, checkpoints).

`make_prepared(root)` writes an `fme prepare`-shaped folder without dlib: each subject is
a 64x64 face (skimage's astronaut, prepared once with dlib and cached per process, then
tinted and mirrored per subject) and each clip moves it by a known sub-pixel translation,
the landmarks moved with it. `small_config` is a model config small enough for seconds
of CPU training.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from generation.data.prepared import MANIFEST_COLUMNS, frame_name

SIZE = 64
LABELS = ("negative", "positive", "surprise")
EMOTIONS = ("disgust", "happiness", "surprise")


@lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    """skimage's astronaut photo at 256x256 (dlib finds the face 4x faster than at 512)."""
    from skimage.data import astronaut as photo

    image = np.asarray(Image.fromarray(photo()).resize((256, 256), Image.Resampling.BILINEAR))
    image.setflags(write=False)
    return image


@lru_cache(maxsize=4)
def astronaut_face(size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(image (size, size, 3) uint8, landmarks (68, 2)) of the astronaut photo, prepared."""
    from generation.animation.animate import prepare_face

    image, lms = prepare_face(astronaut(), size)
    image.setflags(write=False)
    lms.setflags(write=False)
    return image, lms


def shift_image(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The image moved by (dx, dy) pixels (bilinear, edges repeated)."""
    from scipy.ndimage import shift

    out = shift(image.astype(np.float32), (dy, dx, 0), order=1, mode="nearest")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def subject_face(s: int, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Subject s's face: the astronaut darkened or brightened, mirrored for odd s."""
    from generation.data.frame_pairs import flip_landmarks

    image, lms = astronaut_face(size)
    gain = 0.8 + 0.15 * (s % 3)
    image = np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    lms = np.array(lms)
    if s % 2:
        image = image[:, ::-1].copy()
        lms = flip_landmarks(lms, size)
    return image, lms


def clip_motion(k: int, n_frames: int) -> np.ndarray:
    """(T, 2) translation of clip k: a rise to an apex and back, direction by k."""
    t = np.arange(n_frames)
    bump = np.sin(np.pi * t / max(1, n_frames - 1))
    angle = 0.9 * k + 0.3
    return np.stack([3.0 * np.cos(angle) * bump, 3.0 * np.sin(angle) * bump], axis=1)


def make_prepared(
    root: Path,
    subjects: int = 4,
    clips_per_subject: int = 2,
    n_frames: int = 8,
    size: int = SIZE,
    dataset: str = "casme2",
) -> Path:
    """An `fme prepare` output folder (manifest, frames, landmarks.npz) at `root`."""
    root = Path(root)
    rows = []
    for s in range(subjects):
        face, lms = subject_face(s, size)
        subject = f"sub{s + 1:02d}"
        for k in range(clips_per_subject):
            clip_id = f"EP{k + 1:02d}_01"
            folder = root / dataset / subject / clip_id
            (folder / "frames").mkdir(parents=True, exist_ok=True)
            motion = clip_motion(s * clips_per_subject + k, n_frames)
            all_lms = np.empty((n_frames, 68, 2), dtype=np.float32)
            for t, (dx, dy) in enumerate(motion):
                frame = shift_image(face, dx, dy)
                Image.fromarray(frame).save(folder / "frames" / frame_name(t))
                all_lms[t] = lms + np.array([dx, dy], dtype=np.float32)
            np.savez(
                folder / "landmarks.npz",
                landmarks=all_lms,
                box=np.array([0, 0, size, size], dtype=np.int32),
                frame_numbers=np.arange(1, n_frames + 1),
                size=size,
                margin=0.25,
            )
            label = LABELS[(s + k) % 3]
            rows.append(
                {
                    "dataset": dataset,
                    "subject": subject,
                    "clip_id": clip_id,
                    "n_frames": n_frames,
                    "onset": 1,
                    "apex": n_frames // 2 + 1,
                    "offset": n_frames,
                    "onset_index": 0,
                    "apex_index": n_frames // 2,
                    "offset_index": n_frames - 1,
                    "emotion": EMOTIONS[(s + k) % 3],
                    "label": label,
                    "aus": "12",
                    "path": f"{dataset}/{subject}/{clip_id}",
                }
            )
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return root


def _narrow(width: int = 8, top: int = 32) -> dict:
    return {"block_expansion": width, "max_features": top}


def tiny_changes(variant: str) -> dict:
    """Model-section changes that make the small CPU networks narrower still (tests only)."""
    if variant == "famgan":
        return {"generator": {"conv_dim": 8, "repeat_num": 1}, "critic": {"conv_dim": 8}}
    if variant.startswith("fomm"):
        return {
            "kp_detector": _narrow(),
            "generator": {**_narrow(), "dense_motion": _narrow()},
            "discriminator": _narrow(),
        }
    return {
        "region_predictor": _narrow(),
        "bg_predictor": _narrow(4, 16),
        "generator": {**_narrow(), "pixelwise_flow_predictor_params": _narrow()},
    }


def small_model_config(variant: str, size: int = SIZE) -> dict:
    """default_config(variant, "small") made narrower (`tiny_changes`), at `size`."""
    from generation.config import merge
    from generation.models import default_config

    cfg = merge(default_config(variant, "small"), tiny_changes(variant))
    cfg["image_size"] = size
    return cfg


def run_config(variant: str, iterations: int = 10, **train):
    """A RunConfig of the cpu-64 packaged config, tiny networks, quick training settings."""
    from generation.config import build_run_config, config_path, read_yaml

    overrides = {
        "iterations": iterations,
        "batch_size": 4,
        "log_every": 1,
        "sample_every": 0,
        "checkpoint_every": 0,
        "sample_frames": 8,
        "holdout": 0.25,
    }
    overrides.update(train)
    data = read_yaml(config_path("cpu-64"))
    data["model"] = tiny_changes(variant)
    return build_run_config(variant, data, "cpu-64", overrides)


def write_templates(folder: Path) -> list[Path]:
    """Two template face photos: the astronaut and its mirror image (dlib finds both)."""
    folder.mkdir(parents=True, exist_ok=True)
    image = astronaut()
    a = folder / "normalized_westernMale.png"
    b = folder / "normalized_asianFemale.png"
    Image.fromarray(image).save(a)
    Image.fromarray(image[:, ::-1].copy()).save(b)
    return [a, b]
