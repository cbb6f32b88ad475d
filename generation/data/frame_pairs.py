"""Training pairs: two frames (source, driving) of one prepared clip, with their landmarks.

The landmarks are the ones `fme prepare` cached in each clip's `landmarks.npz`; nothing
here detects faces. The subjects are split once into training and held-out subjects
(`holdout_split`); a `FramePairs` of the training clips never yields a held-out subject.

Augmentation is light and the same for both frames of a pair: a horizontal flip (the
landmarks mirrored and re-indexed with `FLIP_PERMUTATION`, so that landmark 36 is still
the outer corner of the subject's right eye) and a small brightness/contrast change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fme.core.errors import DataError
from generation.data.prepared import PreparedClip
from generation.data.video import read_image


def _flip_permutation() -> tuple[int, ...]:
    """dlib-68 index of each landmark's mirror partner."""
    pairs = [(i, 16 - i) for i in range(8)]  # jaw 0..16
    pairs += [(17 + i, 26 - i) for i in range(5)]  # eyebrows 17..21 <-> 26..22
    pairs += [(31, 35), (32, 34)]  # nose base
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lips
    perm = list(range(68))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return tuple(perm)


#: FLIP_PERMUTATION[i] is the landmark that becomes landmark i after a horizontal flip.
FLIP_PERMUTATION: tuple[int, ...] = _flip_permutation()


def flip_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Landmarks (..., 68, 2) of the horizontally flipped image of `width` pixels."""
    out = np.array(landmarks, dtype=np.float32, copy=True)
    out[..., 0] = (width - 1) - out[..., 0]
    return out[..., FLIP_PERMUTATION, :]


def subject_key(clip: PreparedClip) -> str:
    return f"{clip.dataset}/{clip.subject}"


def holdout_split(
    clips: Sequence[PreparedClip], fraction: float, seed: int = 0
) -> tuple[list[PreparedClip], list[PreparedClip]]:
    """(training clips, held-out clips), split by subject.

    round(fraction x subjects) subjects are held out, at least one when fraction > 0 and
    there are two subjects or more; the choice depends only on the sorted subject keys and
    `seed`.
    """
    subjects = sorted({subject_key(c) for c in clips})
    n = int(round(fraction * len(subjects)))
    if fraction > 0 and len(subjects) >= 2:
        n = min(max(n, 1), len(subjects) - 1)
    else:
        n = 0
    rng = np.random.default_rng([seed, 7])
    held = {subjects[i] for i in rng.permutation(len(subjects))[:n]}
    train = [c for c in clips if subject_key(c) not in held]
    test = [c for c in clips if subject_key(c) in held]
    return train, test


@dataclass
class _ClipData:
    clip: PreparedClip
    landmarks: np.ndarray  # (T, 68, 2) in prepared-frame pixels


def load_frame(path, size: int) -> tuple[np.ndarray, float]:
    """A prepared frame (size, size, 3) uint8 and the scale from its file's size."""
    from PIL import Image

    image = read_image(path)
    h, w = image.shape[:2]
    if h != w:
        raise DataError(f"prepared frame is not square ({w}x{h})", path, "Run `fme prepare`.")
    if h == size:
        return image, 1.0
    resized = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized), size / h


def rescale_landmarks(landmarks: np.ndarray, scale: float) -> np.ndarray:
    """Pixel-centre-preserving rescale of landmarks: u = (x + 0.5) s - 0.5."""
    if scale == 1.0:
        return np.asarray(landmarks, dtype=np.float32)
    return ((np.asarray(landmarks, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)


class FramePairs:
    """A torch Dataset of (source, driving) pairs of frames from the same clip.

    Item i is drawn with a generator seeded by (seed, epoch, i): the same seed and epoch
    give the same pairs in any number of worker processes. `set_epoch` draws new ones.
    Items are dicts of float tensors in [0, 1]: "source", "driving" (3, size, size),
    "source_landmarks", "driving_landmarks" (68, 2) pixels, and "clip" (its index).
    `len` is `pairs_per_clip` x the number of clips.
    """

    def __init__(
        self,
        clips: Sequence[PreparedClip],
        size: int,
        augment: bool = True,
        seed: int = 0,
        pairs_per_clip: int = 8,
        driving_jitter: float = 0.0,
    ):
        usable = []
        for clip in clips:
            if clip.n_frames < 2:
                continue
            lms = clip.landmarks()
            if lms.shape != (clip.n_frames, 68, 2):
                raise DataError(
                    f"landmarks of shape {lms.shape} for {clip.n_frames} frames",
                    clip.dir / "landmarks.npz",
                    "Run `fme prepare` again.",
                )
            usable.append(_ClipData(clip, lms))
        if not usable:
            raise DataError(
                "no clip with two frames or more to train on",
                clips[0].root if clips else None,
                "Prepare more clips or lower the hold-out fraction.",
            )
        self.clips = usable
        self.size = int(size)
        self.augment = augment
        self.seed = seed
        self.pairs_per_clip = pairs_per_clip
        self.driving_jitter = float(driving_jitter)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.clips) * self.pairs_per_clip

    @property
    def subjects(self) -> set[str]:
        return {subject_key(c.clip) for c in self.clips}

    def pair_indices(self, index: int) -> tuple[int, int, int, bool, float, float]:
        """(clip, source frame, driving frame, flip, gain, bias) of item `index`."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        c = index % len(self.clips)
        n = self.clips[c].clip.n_frames
        s, d = rng.choice(n, size=2, replace=False)
        flip = bool(self.augment and rng.random() < 0.5)
        gain = float(rng.uniform(0.9, 1.1)) if self.augment else 1.0
        bias = float(rng.uniform(-0.05, 0.05)) if self.augment else 0.0
        return c, int(s), int(d), flip, gain, bias

    def driving_affine(self, index: int) -> np.ndarray | None:
        """The (2, 3) pixel affine applied to item `index`'s driving frame, or None.

        With `driving_jitter` j > 0, half the items move the driving frame (and its
        landmarks) by a random similarity about the image centre: shift up to j of the
        side, rotation up to j x 100 degrees, scale 1 +- j. A micro-expression moves the
        face by a fraction of a pixel; without motion to follow, FOMM's masks collapse
        onto the background, and this teaches the motion networks to follow keypoints.
        """
        j = self.driving_jitter
        if j <= 0:
            return None
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        if rng.random() < 0.5:
            return None
        angle = np.deg2rad(rng.uniform(-100 * j, 100 * j))
        scale = 1.0 + rng.uniform(-j, j)
        shift = rng.uniform(-j, j, 2) * self.size
        m = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        centre = np.full(2, (self.size - 1) / 2.0)
        return np.concatenate([m, (centre + shift - m @ centre)[:, None]], axis=1)

    def __getitem__(self, index: int) -> dict:
        import torch

        c, s, d, flip, gain, bias = self.pair_indices(int(index))
        affine = self.driving_affine(int(index))
        data = self.clips[c]
        out: dict = {"clip": c}
        for name, k in (("source", s), ("driving", d)):
            image, scale = load_frame(data.clip.frame_path(k), self.size)
            lms = rescale_landmarks(data.landmarks[k], scale)
            if flip:
                image = image[:, ::-1]
                lms = flip_landmarks(lms, self.size)
            x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).float() / 255.0
            if name == "driving" and affine is not None:
                x, lms = _warp_affine(x, lms, affine)
            if gain != 1.0 or bias != 0.0:
                x = ((x - 0.5) * gain + 0.5 + bias).clamp_(0.0, 1.0)
            out[name] = x
            out[f"{name}_landmarks"] = torch.from_numpy(np.ascontiguousarray(lms))
        return out


def _warp_affine(image, landmarks: np.ndarray, affine: np.ndarray):
    """image (C, S, S) tensor and pixel landmarks moved by the pixel affine p -> A p + t."""
    import torch
    import torch.nn.functional as F

    c, h, w = image.shape
    inv = np.linalg.inv(affine[:, :2])
    ys, xs = np.meshgrid(
        np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij"
    )
    out_pts = np.stack([xs, ys], -1) - affine[:, 2]
    src = out_pts @ inv.T  # where each output pixel comes from
    grid = np.stack([src[..., 0] / (w - 1) * 2 - 1, src[..., 1] / (h - 1) * 2 - 1], -1)
    warped = F.grid_sample(
        image[None],
        torch.from_numpy(grid.astype(np.float32))[None],
        mode="bilinear",
        padding_mode="border",
        align_corners=True,
    )[0]
    moved = np.asarray(landmarks, np.float64) @ affine[:, :2].T + affine[:, 2]
    return warped, moved.astype(np.float32)
