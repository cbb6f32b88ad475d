"""FAMGAN's fine-grained AU modulation (Xu et al., MM'21), one function per step.

1. `multiscale_average` (Eq. 1): the AU vector of a frame is the mean of the estimator's
   vectors on five copies resized to (H + d) x (W + d), d in {-10, -5, 0, 5, 10} pixels.
2. `moving_mean` (Eq. 2): each AU curve is replaced by its mean over the 2n + 1 frames
   centred on each frame. Edge rule (the paper states none): near the ends the window is
   cut to the frames that exist, so frame i averages frames max(0, i - n) .. min(T - 1,
   i + n); a constant curve stays constant and no frame is invented.
3. `transfer` (Eq. 3): the target's AUs scaled by a small alpha plus the driving clip's
   change, y'_i = alpha * y_t + (y_s,i - y_s,ref). The paper's text takes the change from
   the driving onset frame (ref = onset, the default: `reference="onset"`); its printed
   Eq. 3 from the previous frame (ref = i - 1: `reference="previous"`, where frame 0's
   change is 0).

Step 4, the left and right halves driven apart, is image work: `generation.au.asymmetry`.

The paper's y_t is the target face's own (absolute) intensities, from OpenFace. The landmark
estimator measures change from an onset frame, so for a single target image it gives 0
(a neutral target, alpha * y_t = 0); a user with OpenFace output passes its track
(`generation.au.openface.read_openface_csv`) as the target instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fme.core.errors import ConfigError
from generation.au import AUTrack

#: Eq. 1's size changes, in pixels.
SCALE_OFFSETS: tuple[int, ...] = (-10, -5, 0, 5, 10)
REFERENCES: tuple[str, ...] = ("onset", "previous")


def _values(x) -> np.ndarray:
    return x.values if isinstance(x, AUTrack) else np.asarray(x, dtype=np.float64)


def _is_frames(arr: np.ndarray) -> bool:
    """(T, H, W, C) or grey (T, H, W) frames, rather than one (H, W[, C]) image (a last
    axis of 1, 3 or 4 is read as channels)."""
    return arr.ndim == 4 or (arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4))


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """An image (H, W[, C]) or frames (T, H, W[, C]) uint8 resized to height x width
    (bilinear, PIL)."""
    from PIL import Image

    arr = np.asarray(image)
    if height < 1 or width < 1:
        raise ConfigError(f"cannot resize to {height}x{width}", hint="Use larger frames.")

    def one(a: np.ndarray) -> np.ndarray:
        img = Image.fromarray(np.ascontiguousarray(a))
        return np.asarray(img.resize((width, height), Image.Resampling.BILINEAR))

    return np.stack([one(a) for a in arr]) if _is_frames(arr) else one(arr)


def multiscale_average(
    image: np.ndarray,
    estimator: Callable[[np.ndarray], object],
    offsets: Sequence[int] = SCALE_OFFSETS,
) -> np.ndarray:
    """Eq. 1: the mean of `estimator(resize(image, H + d, W + d))` over d in `offsets`.

    `image` is one image (H, W[, C]) or frames (T, H, W[, C]); `estimator` returns an AU
    vector (17,) or per-frame vectors (T, 17) (or an `AUTrack`), which are averaged."""
    arr = np.asarray(image)
    h, w = arr.shape[1:3] if _is_frames(arr) else arr.shape[:2]
    outs = [_values(estimator(resize(arr, h + d, w + d))) for d in offsets]
    return np.mean(np.stack(outs), axis=0)


def moving_mean(values, n: int) -> np.ndarray:
    """Eq. 2: each column of (T, K) averaged over frames i - n .. i + n (cut at the ends)."""
    y = _values(values)
    if n < 0:
        raise ConfigError(f"moving mean half-width {n} < 0", hint="Use n >= 0.")
    one_d = y.ndim == 1
    y2 = y[:, None] if one_d else y
    c = np.concatenate([np.zeros((1, y2.shape[1])), np.cumsum(y2, axis=0)])
    t = np.arange(len(y2))
    lo = np.maximum(t - n, 0)
    hi = np.minimum(t + n, len(y2) - 1) + 1
    out = (c[hi] - c[lo]) / (hi - lo)[:, None]
    return out[:, 0] if one_d else out


def transfer(
    target,
    driving,
    alpha: float = 0.1,
    reference: str = "onset",
    onset_index: int = 0,
) -> np.ndarray:
    """Eq. 3: y'_i = alpha * y_t + (y_s,i - y_s,ref) for every driving frame i.

    `target` is the target face's AU vector (17,) (or a track whose first row is used);
    `driving` the driving clip's (T, 17). `reference`: "onset" (the paper's text, default;
    ref = `onset_index`) or "previous" (the printed Eq. 3; ref = i - 1, frame 0 has no
    change). Values are not clipped: a relaxing AU gives a negative change."""
    yt = _values(target)
    yt = yt[0] if yt.ndim == 2 else yt
    ys = _values(driving)
    if reference == "onset":
        if not 0 <= onset_index < len(ys):
            raise ConfigError(f"onset index {onset_index} outside the driving clip")
        change = ys - ys[onset_index]
    elif reference == "previous":
        change = np.diff(ys, axis=0, prepend=ys[:1])
    else:
        raise ConfigError(f"unknown AU reference {reference!r}", hint="Use onset or previous.")
    return alpha * yt[None, :] + change


def modulated_track(
    target: AUTrack,
    driving: AUTrack,
    alpha: float = 0.1,
    n: int = 1,
    reference: str = "onset",
    onset_index: int = 0,
) -> AUTrack:
    """Steps 2 and 3 on tracks: the driving curves smoothed (`moving_mean`, n) then
    transferred onto the target (`transfer`); the record says how."""
    smooth = moving_mean(driving.values, n)
    values = transfer(target.values, smooth, alpha, reference, onset_index)
    meta = {
        "alpha": alpha,
        "n": n,
        "reference": reference,
        "onset_index": onset_index,
        "driving": driving.meta.get("clip", ""),
    }
    return AUTrack(values, driving.names, f"modulated {driving.source}", driving.fps, meta)
