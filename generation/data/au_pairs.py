"""FAMGAN's training pairs: two frames of one prepared clip with their per-frame AU vectors.

Item i is a `FramePairs` item (the same frames, flips and brightness changes; a flip leaves
the AU vector as it is, the 17 intensities being bilateral) plus "source_aus" and
"driving_aus" (17,) on OpenFace's 0-5 scale: the source frame is GANimation's input and the
driving frame's AUs its desired condition; the driving frame itself (same subject and clip)
lets the trainer measure how close the output comes to the face with those AUs.

`au_vectors(clip)` is the one place FAMGAN gets AU intensities from. It uses the AU engine
(`generation.au.clip_au_track`) when that exists and otherwise an INTERIM stand-in of ours,
`landmark_au_proxy`, marked as such below. Lead: at the merge of the AU engine, make
`au_vectors` call the engine only and delete the stand-in (and `mirrored_halves`, which its
half split/mirror helpers replace).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from generation.data.frame_pairs import FramePairs
from generation.data.prepared import PreparedClip


def _landmarks_of(clip) -> np.ndarray:
    lms = clip.landmarks
    return np.asarray(lms() if callable(lms) else lms, dtype=np.float64)


def au_vectors(clip) -> np.ndarray:
    """(T, 17) float32 AU intensities (0-5, `generation.au.AU_NAMES` order) of a clip: a
    `PreparedClip` or anything with `landmarks` (T, 68, 2) and `onset_index`."""
    try:
        from generation.au import clip_au_track
    except ImportError:  # the AU engine has not landed yet
        clip_au_track = None
    if clip_au_track is not None:
        return np.asarray(clip_au_track(clip).values, dtype=np.float32)
    return landmark_au_proxy(_landmarks_of(clip), int(clip.onset_index))


# ---- INTERIM (until the AU engine lands): a landmark-displacement proxy ----------------------

#: proxy intensity per IOD of an AU's largest landmark move (0.1 IOD -> 5, the scale's top)
PROXY_SCALE = 50.0


def landmark_au_proxy(landmarks: np.ndarray, onset_index: int = 0) -> np.ndarray:
    """INTERIM stand-in for the AU engine: (T, 17) intensities from landmark motion.

    Each frame's displacement from the onset frame (its median over the 68 points, the head's
    shift, removed), in the onset face's axes and inter-ocular distances, is fitted as a
    non-negative sum of the synthetic corpus's AU patterns (`generation.synth.aus.PATTERNS`)
    and scaled by PROXY_SCALE into OpenFace's 0-5 range. AUs the library has no pattern for
    (e.g. AU45) stay 0.
    """
    from scipy.optimize import nnls

    from generation.au import AU_NAMES
    from generation.synth.aus import AU_NUMBERS, PATTERNS, face_axes

    lms = np.asarray(landmarks, dtype=np.float64)
    ex, ey, iod = face_axes(lms[onset_index])
    disp = lms - lms[onset_index]
    disp = disp - np.median(disp, axis=1, keepdims=True)
    face = np.stack([disp @ ex, disp @ ey], axis=-1) / max(iod, 1e-6)  # (T, 68, 2)
    basis = PATTERNS.reshape(len(AU_NUMBERS), -1).T  # (136, A)
    columns = [AU_NAMES.index(f"AU{n:02d}") for n in AU_NUMBERS]
    out = np.zeros((len(lms), len(AU_NAMES)), dtype=np.float32)
    for t, d in enumerate(face.reshape(len(lms), -1)):
        coef, _ = nnls(basis, d)
        out[t, columns] = np.clip(coef * PROXY_SCALE, 0.0, 5.0)
    return out


def mirrored_halves(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """INTERIM stand-in for the AU engine's half split/mirror: (left, right) landmark sets
    (T, 68, 2), each one image half of the face with its mirror image about the face's
    vertical midline (the mean x of the nose bridge and tip, 27-30 and 33) as the other half.
    """
    from generation.synth.aus import MIRROR

    lms = np.asarray(landmarks, dtype=np.float64)
    mid = lms[:, [27, 28, 29, 30, 33], 0].mean(axis=1)[:, None]
    reflected = lms[:, list(MIRROR)].copy()
    reflected[..., 0] = 2 * mid - reflected[..., 0]
    on_left = lms[..., 0] <= mid
    left = np.where(on_left[..., None], lms, reflected)
    right = np.where(on_left[..., None], reflected, lms)
    return left, right


# ---- the dataset --------------------------------------------------------------------------------


class AUFramePairs(FramePairs):
    """`FramePairs` with "source_aus" and "driving_aus" (17,) float tensors (0-5)."""

    def __init__(self, clips: Sequence[PreparedClip], size: int, **kwargs):
        super().__init__(clips, size, **kwargs)
        self.tracks = [au_vectors(c.clip) for c in self.clips]

    def __getitem__(self, index: int) -> dict:
        import torch

        out = super().__getitem__(index)
        c, s, d, *_ = self.pair_indices(int(index))
        out["source_aus"] = torch.from_numpy(self.tracks[c][s].copy())
        out["driving_aus"] = torch.from_numpy(self.tracks[c][d].copy())
        return out
