"""The AU engine: per-frame action-unit (AU) intensities and their modulation.

Shared by the AU-driven models (FAMGAN, TPSMM's AU variant), the AU-fidelity metric and the
demo. Every source of intensities (the landmark estimator, OpenFace CSVs, the datasets'
FACS codes) gives one record, `AUTrack`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: OpenFace's 17 AU intensity outputs (`AU01_r` ... `AU45_r`), in its order; FAMGAN's vector.
AU_NAMES: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)  # fmt: skip

#: Where AU curves can come from (`generation.au.sources`): the landmark estimator, or the
#: CSV of OpenFace 2, LibreFace or py-feat.
AU_SOURCES: tuple[str, ...] = ("landmarks", "openface", "libreface", "pyfeat")


@dataclass
class AUTrack:
    """Per-frame AU intensities of one clip.

    `values` is (T, len(names)) float32 on OpenFace's 0-5 scale; `source` says where they came
    from ("landmarks", "openface", "libreface", "pyfeat", "facs"); `fps` is the clip's frame rate when known.
    """

    values: np.ndarray
    names: tuple[str, ...] = AU_NAMES
    source: str = "landmarks"
    fps: float | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise ValueError(
                f"AUTrack values must be (T, {len(self.names)}), got {self.values.shape}"
            )

    @property
    def n_frames(self) -> int:
        return int(self.values.shape[0])

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]


# The sources, importable from the package (loaded on first use: they import this module).
_SOURCES: dict[str, str] = {
    "estimate_from_landmarks": "generation.au.estimator",
    "estimate_from_frames": "generation.au.estimator",
    "clip_au_track": "generation.au.estimator",
    "read_openface_csv": "generation.au.openface",
    "facs_track": "generation.au.facs",
    "clip_facs_track": "generation.au.facs",
}


def __getattr__(name: str):
    if name in _SOURCES:
        import importlib

        return getattr(importlib.import_module(_SOURCES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
