"""The motion track of one synthetic clip: AU intensities, head jitter and sensor noise per frame.

A track holds no identity, so any face can be driven by any clip's track
(`generation.synth.render_cross`). The expression follows an onset-apex-offset profile:
still until the onset, a raised-cosine rise to the apex, a raised-cosine fall back to
neutral at the offset, still again to the last frame. The whole movement lasts 0.2-0.5 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generation.synth.aus import AU_NAMES, apex_intensity, expression, face_axes, to_image

#: Movement duration (onset to offset) in seconds, and neutral lead-in / tail.
DURATION_S = (0.2, 0.5)
LEAD_S = (0.1, 0.2)
#: Apex amplitude range, in IOD (the largest landmark displacement of the expression).
AMPLITUDE = (0.02, 0.045)
#: Head jitter bounds: translation in IOD, rotation in radians (0.1 degree).
JITTER_SHIFT = 0.002
JITTER_ROTATION = np.deg2rad(0.1)
#: Sensor noise standard deviation range, in grey levels.
NOISE_STD = (0.5, 1.5)


@dataclass
class ClipTrack:
    """Per-frame drive of a clip; frame indices are 0-based positions in the clip.

    au_intensity: (T, A) in AU_NAMES order, in IOD (see `generation.synth.aus`).
    jitter: (T, 3): head translation along the face axes (IOD) and rotation (radians).
    noise_std / noise_seed: Gaussian sensor noise added to each rendered frame.
    """

    fps: float
    au_intensity: np.ndarray
    jitter: np.ndarray
    onset: int
    apex: int
    offset: int
    noise_std: float
    noise_seed: int
    au_names: tuple[str, ...] = AU_NAMES

    @property
    def n_frames(self) -> int:
        return len(self.au_intensity)


def profile(n_frames: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """Expression strength per frame: 0 outside [onset, offset], 1 at the apex, smooth between."""
    t = np.arange(n_frames, dtype=np.float64)
    out = np.zeros(n_frames)
    rise = (t >= onset) & (t <= apex)
    out[rise] = 0.5 - 0.5 * np.cos(np.pi * (t[rise] - onset) / max(apex - onset, 1))
    fall = (t > apex) & (t <= offset)
    out[fall] = 0.5 + 0.5 * np.cos(np.pi * (t[fall] - apex) / max(offset - apex, 1))
    return out


def _smooth_noise(rng: np.random.Generator, n_frames: int, fps: float, bound: float) -> np.ndarray:
    """A slow random wobble in [-bound, bound]: a mean of three sinusoids of 0.5-3 Hz."""
    t = np.arange(n_frames) / fps
    freqs = rng.uniform(0.5, 3.0, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)
    weights = rng.uniform(0.3, 1.0, 3)
    wave = (weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)
    return bound * wave / weights.sum()


def make_track(
    rng: np.random.Generator,
    recipe: dict[int, float],
    fps: float,
    amplitude: float | None = None,
    jitter: bool = True,
    noise: bool = True,
) -> ClipTrack:
    """A random track expressing `recipe` (AU -> relative weight) at `fps` frames per second."""

    def frames(seconds: float) -> int:
        return max(2, int(round(seconds * fps)))

    duration = rng.uniform(*DURATION_S)
    apex_at = rng.uniform(0.3, 0.5)
    lead, tail = rng.uniform(*LEAD_S, size=2)
    amplitude = float(rng.uniform(*AMPLITUDE) if amplitude is None else amplitude)
    onset = frames(lead)
    apex = onset + frames(duration * apex_at)
    offset = apex + frames(duration * (1 - apex_at))
    n_frames = offset + frames(tail) + 1
    strength = profile(n_frames, onset, apex, offset)
    au = strength[:, None] * apex_intensity(recipe, amplitude)[None, :]
    wobble = np.zeros((n_frames, 3))
    if jitter:
        wobble[:, 0] = _smooth_noise(rng, n_frames, fps, JITTER_SHIFT)
        wobble[:, 1] = _smooth_noise(rng, n_frames, fps, JITTER_SHIFT)
        wobble[:, 2] = _smooth_noise(rng, n_frames, fps, JITTER_ROTATION)
    return ClipTrack(
        fps=float(fps),
        au_intensity=au.astype(np.float32),
        jitter=wobble.astype(np.float32),
        onset=onset,
        apex=apex,
        offset=offset,
        noise_std=float(rng.uniform(*NOISE_STD)) if noise else 0.0,
        noise_seed=int(rng.integers(0, 2**31 - 1)),
    )


def head_points(neutral: np.ndarray) -> np.ndarray:
    """Points (34, 2) around the face that move with the head but not with the expression.

    Two rows of six on the forehead (0.6 and 1.2 IOD above the brows) and two rings of
    eleven outside the jaw line (0.3 and 0.8 IOD beyond it). Given to the warp as extra
    control points, they keep the hair, the ears and the neck from following the facial
    muscles.
    """
    lm = np.asarray(neutral, dtype=np.float64)
    ex, ey, iod = face_axes(lm)
    brows = lm[[17, 19, 21, 22, 24, 26]]
    jaw = lm[[0, 2, 4, 6, 7, 8, 9, 10, 12, 14, 16]]
    out = jaw - lm.mean(0)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    rows = [brows - 0.6 * iod * ey, brows - 1.2 * iod * ey]
    rows += [jaw + 0.3 * iod * out, jaw + 0.8 * iod * out]
    return np.concatenate(rows)


def _rigid(points: np.ndarray, neutral: np.ndarray, jitter: np.ndarray) -> np.ndarray:
    """Move (T, N, 2) points by the per-frame head jitter (T, 3) about the face centre."""
    ex, ey, iod = face_axes(neutral)
    centre = np.asarray(neutral, dtype=np.float64).mean(0)
    jit = jitter.astype(np.float64)
    cos, sin = np.cos(jit[:, 2]), np.sin(jit[:, 2])
    rel = points - centre
    rx = cos[:, None] * rel[..., 0] - sin[:, None] * rel[..., 1]
    ry = sin[:, None] * rel[..., 0] + cos[:, None] * rel[..., 1]
    shift = iod * (jit[:, :1] * ex + jit[:, 1:2] * ey)  # (T, 2)
    return np.stack([rx, ry], -1) + centre + shift[:, None, :]


def track_landmarks(neutral: np.ndarray, track: ClipTrack) -> np.ndarray:
    """Landmarks (T, 68, 2) of a face with `neutral` landmarks (68, 2) driven by `track`."""
    neutral = np.asarray(neutral, dtype=np.float64)
    moved = neutral + to_image(expression(track.au_intensity), neutral)  # (T, 68, 2)
    return _rigid(moved, neutral, track.jitter).astype(np.float32)


def track_head_points(neutral: np.ndarray, track: ClipTrack) -> np.ndarray:
    """`head_points(neutral)` per frame (T, P, 2): moved by the jitter only."""
    head = head_points(neutral)
    head = np.broadcast_to(head, (track.n_frames, *head.shape))
    return _rigid(head, np.asarray(neutral, dtype=np.float64), track.jitter)
