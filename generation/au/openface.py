"""OpenFace 2.x CSV output (FeatureExtraction / FaceLandmarkVidMulti) -> `AUTrack`.

OpenFace writes one row per frame with the intensities `AU01_r` ... `AU45_r` (0-5) among
many other columns; its headers carry a leading space (`" AU01_r"`), which is stripped
here, as are the columns' case. `frame`, `timestamp`, `confidence` and `success` are read
when present: the frame rate from the timestamps, and the frames where OpenFace lost the
face (`success` 0) listed in `meta["failed_frames"]` (their values are kept as written).
A CSV with only some of the 17 AUs gives 0 for the others, named in
`meta["not_estimated"]`; one with none is refused. `read_openface_landmarks` reads its 2-D
landmarks (`x_0 ... x_67`, `y_0 ... y_67`, pixels; iBUG 68, dlib's layout), so the landmark
estimator can be run on OpenFace's own landmarks and compared with its AUs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fme.core.errors import DataError
from generation.au import AU_NAMES, AUTrack


def read_openface_csv(path: str | Path, fps: float | None = None) -> AUTrack:
    """The AU intensities of an OpenFace CSV; `fps` overrides the timestamps' rate."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError("OpenFace CSV not found", path, "Pass the CSV FeatureExtraction wrote.")
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataError(f"cannot read the OpenFace CSV ({err})", path) from err
    table.columns = [str(c).strip() for c in table.columns]
    lower = {c.lower(): c for c in table.columns}
    found = [a for a in AU_NAMES if f"{a.lower()}_r" in lower]
    if not found:
        raise DataError(
            "no AU intensity columns (AU01_r ... AU45_r) in the CSV",
            path,
            "Run OpenFace with -aus (FeatureExtraction writes them by default).",
        )
    if table.empty:
        raise DataError("the OpenFace CSV has no rows", path)
    values = np.zeros((len(table), len(AU_NAMES)), dtype=np.float32)
    for k, au in enumerate(AU_NAMES):
        if au in found:
            col = pd.to_numeric(table[lower[f"{au.lower()}_r"]], errors="coerce")
            if col.isna().any():
                raise DataError(f"non-numeric values in {au}_r", path)
            values[:, k] = col.to_numpy(np.float32)
    meta: dict = {"path": str(path), "not_estimated": [a for a in AU_NAMES if a not in found]}
    if "success" in lower:
        ok = pd.to_numeric(table[lower["success"]], errors="coerce").fillna(0).to_numpy()
        meta["failed_frames"] = [int(i) for i in np.flatnonzero(ok == 0)]
    if "frame" in lower:
        meta["frames"] = [int(v) for v in table[lower["frame"]]]
    if fps is None and "timestamp" in lower and len(table) > 1:
        steps = np.diff(pd.to_numeric(table[lower["timestamp"]], errors="coerce").to_numpy())
        steps = steps[np.isfinite(steps) & (steps > 0)]
        fps = float(1.0 / np.median(steps)) if len(steps) else None
    return AUTrack(values=values, source="openface", fps=fps, meta=meta)


def read_openface_landmarks(path: str | Path) -> np.ndarray:
    """(T, 68, 2) float32: the 2-D landmarks of an OpenFace CSV (`x_0 ... y_67`, pixels)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError("OpenFace CSV not found", path, "Pass the CSV FeatureExtraction wrote.")
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataError(f"cannot read the OpenFace CSV ({err})", path) from err
    table.columns = [str(c).strip() for c in table.columns]
    names = [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)]
    missing = [n for n in names if n not in table.columns]
    if missing or table.empty:
        raise DataError(
            "no 2-D landmark columns (x_0 ... x_67, y_0 ... y_67) in the CSV",
            path,
            "Run OpenFace with -2Dfp (FeatureExtraction writes them by default).",
        )
    values = table[names].apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
    if np.isnan(values).any():
        raise DataError("non-numeric landmark values", path)
    return np.stack([values[:, :68], values[:, 68:]], axis=-1)
