"""FAMGAN's training pairs: two frames of one prepared clip with their per-frame AU vectors.

Item i is a `FramePairs` item (the same frames, flips and brightness changes; a flip leaves
the AU vector as it is, the 17 intensities being bilateral) plus "source_aus" and
"driving_aus" (17,) on OpenFace's 0-5 scale: the source frame is GANimation's input and the
driving frame's AUs its desired condition; the driving frame itself (same subject and clip)
lets the trainer measure how close the output comes to the face with those AUs (FAMGAN's
paired term). With `onset_source` p, a fraction p of the items takes the clip's onset frame
as the source (and another frame, uniformly, as the driving one): the situation of
animation, where a neutral target is moved by the driving clip's change from its onset.

`au_vectors(clip)` is the one place FAMGAN and TPSMM-AU get AU intensities from: the
clip's own `au_track` when it carries one (`fme animate --au-source` reads it), else the AU
source of the run (`generation.au.sources`: the landmark estimator relative to the clip's
onset frame by default, or the clip's OpenFace, LibreFace or py-feat CSV), times the model's
`au_scale`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from generation.au.sources import clip_track
from generation.data.frame_pairs import FramePairs
from generation.data.prepared import PreparedClip


def au_vectors(clip, scale: float = 1.0, source=None) -> np.ndarray:
    """(T, 17) float32 AU intensities (`generation.au.AU_NAMES` order) of a clip: a
    `PreparedClip`, a `DrivingClip`, or any record with `landmarks` (T, 68, 2) and
    `onset_index`; its `au_track` when it has one, else `source`'s (an
    `generation.au.sources.AUSource` or name; None: the landmark estimator); times `scale`
    and clipped to OpenFace's 0-5."""
    own = getattr(clip, "au_track", None)
    values = own.values if own is not None else clip_track(clip, source).values
    if scale != 1.0:
        values = np.clip(values * scale, 0.0, 5.0)
    return np.asarray(values, dtype=np.float32)


# ---- the dataset --------------------------------------------------------------------------------


class AUFramePairs(FramePairs):
    """`FramePairs` with "source_aus" and "driving_aus" (17,) float tensors (0-5; the AU
    engine's intensities times `au_scale`)."""

    def __init__(
        self,
        clips: Sequence[PreparedClip],
        size: int,
        au_scale: float = 1.0,
        onset_source: float = 0.0,
        au_source=None,
        **kwargs,
    ):
        super().__init__(clips, size, **kwargs)
        if not 0.0 <= onset_source <= 1.0:
            raise ValueError(f"onset_source must be in [0, 1], got {onset_source}")
        self.onset_source = float(onset_source)
        self.tracks = [au_vectors(c.clip, au_scale, au_source) for c in self.clips]

    def pair_indices(self, index: int) -> tuple[int, int, int, bool, float, float]:
        """`FramePairs.pair_indices`, with the source frame moved to the clip's onset frame
        in a fraction `onset_source` of the items (the driving frame then one of the others,
        drawn uniformly)."""
        c, s, d, flip, gain, bias = super().pair_indices(index)
        if self.onset_source > 0:
            rng = np.random.default_rng([self.seed, self.epoch, index, 2])
            if rng.random() < self.onset_source:
                clip = self.clips[c].clip
                s = int(clip.onset_index)
                others = [k for k in range(clip.n_frames) if k != s]
                d = int(others[rng.integers(len(others))])
        return c, s, d, flip, gain, bias

    def __getitem__(self, index: int) -> dict:
        import torch

        out = super().__getitem__(index)
        c, s, d, *_ = self.pair_indices(int(index))
        out["source_aus"] = torch.from_numpy(self.tracks[c][s].copy())
        out["driving_aus"] = torch.from_numpy(self.tracks[c][d].copy())
        return out
