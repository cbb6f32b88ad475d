"""Rendering a clip: a neutral face image driven by a `ClipTrack` through the landmark warp."""

from __future__ import annotations

import numpy as np

from generation.synth.track import ClipTrack, head_points, track_head_points, track_landmarks
from generation.synth.warp import LandmarkWarp


def face_warp(image_shape: tuple[int, ...], neutral: np.ndarray) -> LandmarkWarp:
    """The warp of a face: its 68 landmarks plus the head points around it, border fixed."""
    points = np.concatenate([np.asarray(neutral, dtype=np.float64), head_points(neutral)])
    return LandmarkWarp(points, (int(image_shape[0]), int(image_shape[1])))


def render_clip(
    image: np.ndarray,
    neutral: np.ndarray,
    track: ClipTrack,
    warp: LandmarkWarp | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8 and landmarks (T, 68, 2) float32 of `image` driven by `track`.

    `neutral` are the image's 68 landmarks; `warp` (from `face_warp`) may be passed to
    reuse one face's spline across clips. Deterministic: the sensor noise comes from the
    track's seed.
    """
    image = np.asarray(image)
    neutral = np.asarray(neutral, dtype=np.float64)
    if warp is None:
        warp = face_warp(image.shape, neutral)
    landmarks = track_landmarks(neutral, track)
    moved = np.concatenate([landmarks, track_head_points(neutral, track)], axis=1)
    disp = moved - np.concatenate([neutral, head_points(neutral)])[None]
    rng = np.random.default_rng(track.noise_seed)
    frames = np.empty((track.n_frames, *image.shape[:2], 3), dtype=np.uint8)
    for t, out in enumerate(warp.warp_frames(image, disp)):
        if track.noise_std > 0:
            out += track.noise_std * rng.standard_normal(out.shape, dtype=np.float32)
        frames[t] = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return frames, landmarks
