"""Landmark features of action units: motion from the onset frame, per AU region.

Every frame's 68 landmarks are aligned to the onset frame's by the similarity transform
(rotation, scale, translation; least squares) of the points no AU moves much: the jaw
ends (0, 16), the top of the nose bridge (27) and the four eye corners (36, 39, 42, 45).
This removes head motion. What is left, the landmark displacement from the onset frame,
is written in the onset face's own axes (x from the image-left eye centre to the
image-right one, y down the face) and divided by the onset's inter-ocular distance (IOD),
so that faces of any size, position and roll give the same numbers.

An AU's features are the displacements of the landmarks of its region (`AU_REGIONS`):
the brows for AU 1 and 2, brows and eyes for AU 4, the eyes (and cheeks) for 5, 6, 7,
nose, inner brows and upper lip for 9, the mouth with the nose base or the chin for the
lower face. Landmark indices are dlib 68, 0-based.
"""

from __future__ import annotations

import numpy as np

#: Landmarks that no AU of the synthetic library moves, plus the eye corners (moved by
#: a few AUs only, a few % of their amplitude): the reference for head motion.
ALIGN_POINTS: tuple[int, ...] = (0, 16, 27, 36, 39, 42, 45)

_BROWS = tuple(range(17, 27))
_EYES = tuple(range(36, 48))
_NOSE = tuple(range(27, 36))
_NOSE_BASE = tuple(range(31, 36))
_MOUTH = tuple(range(48, 68))
_CHIN = tuple(range(4, 13))
_CHEEKS = (1, 2, 14, 15)

#: The landmarks whose motion an AU's intensity is estimated from.
AU_REGIONS: dict[str, tuple[int, ...]] = {
    "AU01": _BROWS,
    "AU02": _BROWS,
    "AU04": _BROWS + _EYES,
    "AU05": _BROWS + _EYES,
    "AU06": _EYES + _CHEEKS,
    "AU07": _BROWS + _EYES,
    "AU09": _NOSE + (20, 21, 22, 23) + (50, 51, 52, 61, 62, 63),
    "AU10": _NOSE_BASE + _MOUTH,
    "AU12": _NOSE_BASE + _MOUTH,
    "AU14": _NOSE_BASE + _MOUTH,
    "AU15": _NOSE_BASE + _MOUTH,
    "AU17": _MOUTH + _CHIN,
    "AU20": _MOUTH,
    "AU23": _MOUTH,
    "AU25": _MOUTH + _CHIN,
    "AU26": _MOUTH + _CHIN,
    "AU45": _EYES,
}


def _check(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must be (T, 68, 2), got {lm.shape}")
    return lm


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """The (2, 2) rows (x axis, y axis) of a face's own frame and its IOD, from (68, 2)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    v = lm[42:48].mean(0) - lm[36:42].mean(0)
    iod = float(np.linalg.norm(v))
    if iod < 1e-6:
        raise ValueError("the eyes coincide: not a face's landmarks")
    ex = v / iod
    return np.stack([ex, np.array([-ex[1], ex[0]])]), iod


def align_to(landmarks: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each frame of (T, 68, 2) mapped onto `reference` (68, 2) by the least-squares
    similarity transform of the `ALIGN_POINTS` (Umeyama, no reflection)."""
    lm = _check(landmarks)
    ref = np.asarray(reference, dtype=np.float64)
    idx = list(ALIGN_POINTS)
    src = lm[:, idx]  # (T, P, 2)
    dst = ref[idx]  # (P, 2)
    mu_s = src.mean(1, keepdims=True)
    mu_d = dst.mean(0)
    s0 = src - mu_s
    d0 = dst - mu_d
    # complex form of the 2-D similarity: z_dst ~ a * z_src, a = sum(conj(s) d) / sum |s|^2
    zs = s0[..., 0] + 1j * s0[..., 1]
    zd = d0[..., 0] + 1j * d0[..., 1]
    a = (np.conj(zs) * zd[None]).sum(1) / np.maximum((np.abs(zs) ** 2).sum(1), 1e-12)
    z = (lm[..., 0] - mu_s[..., 0]) + 1j * (lm[..., 1] - mu_s[..., 1])
    out = a[:, None] * z
    return np.stack([out.real, out.imag], -1) + mu_d


def displacements(landmarks: np.ndarray, onset_index: int = 0) -> np.ndarray:
    """(T, 68, 2) motion from the onset frame, head motion removed, in the onset face's
    axes and IOD units (see the module docstring)."""
    lm = _check(landmarks)
    if not 0 <= onset_index < len(lm):
        raise ValueError(f"onset_index {onset_index} is outside 0..{len(lm) - 1}")
    ref = lm[onset_index]
    axes, iod = face_frame(ref)
    d = align_to(lm, ref) - ref
    d[onset_index] = 0.0  # exactly, not to rounding
    return (d @ axes.T) / iod


def region_features(disp: np.ndarray, au: str) -> np.ndarray:
    """(T, 2 * len(region)) features of AU `au` from displacements (T, 68, 2)."""
    idx = list(AU_REGIONS[au])
    return np.asarray(disp)[:, idx].reshape(len(disp), -1)
