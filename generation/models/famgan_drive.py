"""FAMGAN's driving condition: the per-frame AU vectors that drive a target face.

Xu et al. (MM'21) drive GANimation with the driving clip's AU curve, modulated: a moving mean
over 2n+1 frames (their Eq. 2), then the target's own AUs times a small alpha plus the driving
clip's change (Eq. 3), y'_i = alpha * y_t + (y_s,i - y_s,ref). The text takes the change from
the onset frame (`reference="onset"`, our default); the printed Eq. 3 from the previous frame
(`reference="previous"`). With `asymmetric`, the driving face's image-left and image-right
halves (each mirrored to a whole face) give two curves, two sequences are generated and the
halves joined (`FAMGAN.animate`). Eq. 1 (averaging five resized copies) belongs to the AU
estimator; the landmark stand-in is scale-free, so it has nothing to average.

INTERIM: `moving_mean` and `modulate` are minimal local versions of the AU engine's
modulation functions (generation/au, another branch); lead: at the merge, call the engine's
from `driving_condition` and delete these two (their tests in tests/test_famgan.py go too).
"""

from __future__ import annotations

import numpy as np

from fme.errors import ConfigError

REFERENCES = ("onset", "previous")


def moving_mean(values: np.ndarray, n: int) -> np.ndarray:
    """INTERIM. Mean over frames i-n..i+n of (T, A) values (the window cut at the ends)."""
    values = np.asarray(values, dtype=np.float64)
    if n <= 0:
        return values.copy()
    c = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    t = np.arange(len(values))
    lo, hi = np.maximum(t - n, 0), np.minimum(t + n, len(values) - 1) + 1
    return (c[hi] - c[lo]) / (hi - lo)[:, None]


def modulate(
    driving: np.ndarray,
    target: np.ndarray,
    alpha: float,
    reference: str = "onset",
    onset_index: int = 0,
) -> np.ndarray:
    """INTERIM. alpha * target + (driving_i - driving_ref), ref the onset frame or frame i-1
    (frame 0 then has no change), clipped to OpenFace's 0-5 scale."""
    driving = np.asarray(driving, dtype=np.float64)
    if reference == "onset":
        change = driving - driving[onset_index]
    elif reference == "previous":
        change = driving - np.concatenate([driving[:1], driving[:-1]])
    else:
        raise ConfigError(f"AU reference {reference!r}: choose {' or '.join(REFERENCES)}")
    return np.clip(alpha * np.asarray(target, np.float64)[None] + change, 0.0, 5.0)


def driving_condition(
    clip,
    target_aus: np.ndarray,
    alpha: float,
    reference: str = "onset",
    window: int = 0,
    asymmetric: bool = False,
    relative: bool = True,
) -> np.ndarray:
    """(T, 17), or (T, 2, 17) (image-left, image-right) when `asymmetric`, of a driving clip
    (anything `generation.data.au_pairs.au_vectors` takes). `relative` False: the smoothed
    driving AUs as they are (no target term, no reference)."""
    from types import SimpleNamespace

    from generation.data.au_pairs import au_vectors, mirrored_halves

    if asymmetric:
        halves = mirrored_halves(np.asarray(clip.landmarks))
        curves = [
            au_vectors(SimpleNamespace(landmarks=h, onset_index=clip.onset_index)) for h in halves
        ]
    else:
        curves = [au_vectors(clip)]
    smooth = [moving_mean(c, window) for c in curves]
    if relative:
        out = [modulate(c, target_aus, alpha, reference, clip.onset_index) for c in smooth]
    else:
        out = [np.clip(c, 0.0, 5.0) for c in smooth]
    return np.stack(out, axis=1).astype(np.float32) if asymmetric else out[0].astype(np.float32)
