"""Motion magnification of a driving clip before an animator reads it.

Linear Eulerian video magnification (Wu, Rubinstein, Shih, Guttag, Durand, Freeman,
"Eulerian Video Magnification for Revealing Subtle Changes in the World", SIGGRAPH 2012):
every frame is split into a Laplacian pyramid; each level's pixel values are filtered in
time; the filtered signal, times alpha, is added back; the pyramid is collapsed. For a
small displacement d(t) of an image I, I(x - d) + alpha * B(t)[I(x - d)] ~ I(x - (1 + alpha) d)
while (1 + alpha) d stays small against the spatial wavelength: the motion is magnified by
1 + alpha. As in the paper, alpha is attenuated on the fine levels, where the linear
approximation breaks: a level of spatial wavelength lambda (2^(l+1) px for level l) gets
alpha * min(1, lambda / lambda_c) (`cutoff`, default 16 px; the paper's code attenuates
linearly below lambda_c too).

Temporal filters:
* "onset" (default): the change since the driving onset frame, B(t)[v] = v(t) - v(onset),
  i.e. every temporal frequency but the static component; fits a micro-expression clip
  (onset -> apex -> offset, one event).
* "band": the paper's ideal band-pass (FFT over time, frequencies in [low, high] Hz kept).

`magnify_clip(frames, alpha)` takes uint8 frames (T, H, W, C) and returns uint8 frames of the
same shape (clipped to 0-255). With `alpha` = 0 the frames come back unchanged.

The animator then reads motion that is 1 + alpha times larger (`motion_gain`), and the
caller divides the motion it takes from the driving clip by that gain to bring it back to
the clip's scale (`fme animate --magnify`): an animator trained on macro motion sees a
larger expression, the output moves as much as the clip did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fme.core.errors import ConfigError

FILTERS: tuple[str, ...] = ("onset", "band")


@dataclass(frozen=True)
class Magnification:
    """`--magnify ALPHA` and its temporal filter (see `magnify_clip`)."""

    alpha: float
    temporal: str = "onset"
    fps: float = 100.0
    low: float = 0.5
    high: float = 10.0
    cutoff: float = 16.0

    @property
    def gain(self) -> float:
        return motion_gain(self.alpha)


def motion_gain(alpha: float) -> float:
    """The factor by which linear Eulerian magnification with `alpha` scales small
    motions: 1 + alpha."""
    return 1.0 + float(alpha)


def _down(x):
    import torch.nn.functional as F

    return F.avg_pool2d(x, 2, ceil_mode=True)


def _up(x, size):
    import torch.nn.functional as F

    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def laplacian_pyramid(x, levels: int):
    """[L_0, ..., L_{n-1}, G_n] of images (N, C, H, W): band-pass levels and the residual
    low-pass; `collapse` of it gives x back exactly (up to float rounding)."""
    out = []
    cur = x
    for _ in range(levels):
        if min(cur.shape[-2:]) < 2:
            break
        low = _down(cur)
        out.append(cur - _up(low, cur.shape[-2:]))
        cur = low
    out.append(cur)
    return out


def collapse(pyramid):
    cur = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        cur = band + _up(cur, band.shape[-2:])
    return cur


def _temporal(v, temporal: str, onset: int, fps: float, low: float, high: float):
    """The temporal filter of (T, C, H, W) values along T."""
    import torch

    if temporal == "onset":
        return v - v[onset : onset + 1]
    freqs = torch.fft.rfftfreq(v.shape[0], d=1.0 / fps).to(v.device)
    keep = ((freqs >= low) & (freqs <= high)).to(v.dtype).view(-1, 1, 1, 1)
    spec = torch.fft.rfft(v, dim=0)
    return torch.fft.irfft(spec * keep, n=v.shape[0], dim=0)


def magnify_clip(
    frames: np.ndarray,
    alpha: float,
    temporal: str = "onset",
    onset: int = 0,
    fps: float = 100.0,
    low: float = 0.5,
    high: float = 10.0,
    cutoff: float = 16.0,
    levels: int = 6,
) -> np.ndarray:
    """Linear Eulerian magnification of uint8 frames (T, H, W, C) (see the module docstring)."""
    import torch

    alpha = float(alpha)
    if not alpha >= 0 or alpha != alpha:
        raise ConfigError(f"--magnify {alpha!r}: give a magnification factor >= 0")
    if temporal not in FILTERS:
        raise ConfigError(f"temporal filter {temporal!r}: choose {' or '.join(FILTERS)}")
    frames = np.asarray(frames)
    if alpha == 0:
        return frames.copy()
    if not 0 <= onset < len(frames):
        raise ConfigError(f"onset {onset} outside the {len(frames)} frames")
    if temporal == "band" and not 0 <= low < high:
        raise ConfigError(f"temporal band [{low}, {high}] Hz: give 0 <= low < high")
    x = torch.from_numpy(frames.astype(np.float32)).permute(0, 3, 1, 2)
    pyramid = laplacian_pyramid(x, levels)
    out = []
    for level, band in enumerate(pyramid):
        wavelength = 2.0 ** (level + 1)
        gain = alpha * min(1.0, wavelength / float(cutoff))
        out.append(band + gain * _temporal(band, temporal, onset, fps, low, high))
    result = collapse(out).permute(0, 2, 3, 1).numpy()
    return np.clip(np.round(result), 0, 255).astype(np.uint8)


def magnify_landmarks(landmarks: np.ndarray, alpha: float, onset: int = 0) -> np.ndarray:
    """Lagrangian magnification of tracked points (T, N, 2): onset + (1 + alpha) (p - onset),
    the same gain the Eulerian magnification gives the pixels' small motions."""
    lms = np.asarray(landmarks, dtype=np.float32)
    base = lms[onset : onset + 1]
    return (base + motion_gain(alpha) * (lms - base)).astype(np.float32)


def magnify_driving(
    frames: np.ndarray, landmarks: np.ndarray, magnification: Magnification, onset: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The driving clip magnified: frames by `magnify_clip` (Eulerian), their landmarks by
    `magnify_landmarks` (Lagrangian), so that a model reading either sees the same motion."""
    m = magnification
    out = magnify_clip(frames, m.alpha, m.temporal, onset, m.fps, m.low, m.high, m.cutoff)
    return out, magnify_landmarks(landmarks, m.alpha, onset)
