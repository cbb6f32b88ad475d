"""FAMGAN's driving condition: the per-frame AU vectors that drive a target face.

Xu et al. (MM'21) drive GANimation with the driving clip's AU curve, modulated by the AU
engine's steps (`generation.au.modulation`): a moving mean over 2n+1 frames (Eq. 2,
`moving_mean`), then the target's own AUs times a small alpha plus the driving clip's
change (Eq. 3, `transfer`), y'_i = alpha * y_t + (y_s,i - y_s,ref). The text takes the
change from the onset frame (`reference="onset"`, our default); the printed Eq. 3 from the
previous frame (`reference="previous"`). The result is clipped to OpenFace's 0-5, the
generator's condition range (a relaxing AU cannot go below 0). With `asymmetric`, the
driving face's image-left and image-right halves, each mirrored to a whole face
(`generation.au.asymmetry.half_landmarks`), give two curves; two sequences are generated
and the halves joined (`FAMGAN.animate`). Eq. 1 (averaging five resized copies) belongs to
an estimator that reads images; the landmark estimator measures displacements in
inter-ocular distances, which resizing does not change, so it has nothing to average.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from generation.au.asymmetry import SIDES, half_landmarks
from generation.au.modulation import REFERENCES, moving_mean, transfer
from generation.data.au_pairs import au_vectors

__all__ = ["REFERENCES", "driving_condition"]


def driving_condition(
    clip,
    target_aus: np.ndarray,
    alpha: float,
    reference: str = "onset",
    window: int = 0,
    asymmetric: bool = False,
    relative: bool = True,
    au_scale: float = 1.0,
) -> np.ndarray:
    """(T, 17), or (T, 2, 17) (image-left, image-right) when `asymmetric`, of a driving clip
    (anything `generation.data.au_pairs.au_vectors` takes), on the scale `au_scale` gives
    `au_vectors`. `relative` False: the smoothed driving AUs as they are (no target term, no
    reference). A clip that carries its own `au_track` (a CSV source: one bilateral intensity
    per AU) drives both halves with it."""
    if asymmetric and getattr(clip, "au_track", None) is not None:
        curves = [au_vectors(clip, au_scale)] * len(SIDES)
    elif asymmetric:
        lms = clip.landmarks
        lms = np.asarray(lms() if callable(lms) else lms)
        curves = [
            au_vectors(
                SimpleNamespace(landmarks=half_landmarks(lms, side), onset_index=clip.onset_index),
                au_scale,
            )
            for side in SIDES
        ]
    else:
        curves = [au_vectors(clip, au_scale)]
    smooth = [moving_mean(c, window) for c in curves]
    if relative:
        smooth = [transfer(target_aus, c, alpha, reference, clip.onset_index) for c in smooth]
    out = [np.clip(c, 0.0, 5.0) for c in smooth]
    return np.stack(out, axis=1).astype(np.float32) if asymmetric else out[0].astype(np.float32)
