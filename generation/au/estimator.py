"""The landmark AU estimator: per-frame AU intensities from tracked 68-point landmarks.

OpenFace, py-feat and the other AU estimators fetch their weights at run time; this one
needs only the landmarks `fme prepare` already caches. `estimate_from_landmarks` measures
named geometric cues of the face (`generation.au.geometry`: brow heights, lid openings,
lip-corner height, jaw opening, ... in IOD, each against a neutral reference) on scales set
on real faces, so an ordinary smile reads about 3.5 rather than clipping at 5, opposite AUs
of one cue (AU 12 and 15, AU 5 and 45, AU 26 and 17) exclude each other, and the AUs the
landmarks cannot tell apart or see are reported as such (`meta["combined"]`,
`meta["not_estimated"]`).

The earlier estimator, a ridge regression fitted on the synthetic corpus
(`LandmarkAUModel`, `landmark_model.json`, `fme bench au`), is still here for the synthetic
benchmark: pass its model to `estimate_from_landmarks` to use it. On real faces it read AU
1 and 2 as one curve (the synthetic library only moves them together) and clipped smiles
at 5 (intensity 1 was 0.03 IOD of an AU's most-moving landmark).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from fme.core.errors import DataError
from fme.core.outputs import write_text_atomic
from generation.au import AU_NAMES, AUTrack, geometry
from generation.au.features import AU_REGIONS, displacements, region_features
from generation.data.prepared import MANIFEST, PreparedClip, load_prepared
from generation.data.video import iter_video, probe
from generation.face.detect import largest_face, to_gray
from generation.face.presence import follow_face
from generation.face.tracking import lk_track_video

#: Displacement (in IOD) of an AU's most-moving landmark at intensity 1.
INTENSITY_UNIT_IOD = 0.03
#: OpenFace's intensity range.
MAX_INTENSITY = 5.0
MODEL_PATH = Path(__file__).with_name("landmark_model.json")


@dataclass
class LandmarkAUModel:
    """Per-AU linear weights over the region features; AUs without weights give 0."""

    weights: dict[str, np.ndarray]
    ridge: float = 0.0
    meta: dict = field(default_factory=dict)

    @property
    def estimated(self) -> tuple[str, ...]:
        return tuple(a for a in AU_NAMES if a in self.weights)

    @property
    def not_estimated(self) -> tuple[str, ...]:
        return tuple(a for a in AU_NAMES if a not in self.weights)

    def predict(self, disp: np.ndarray, clip: bool = True) -> np.ndarray:
        """(T, 17) intensities of displacements (T, 68, 2); `clip` to 0-5."""
        out = np.zeros((len(disp), len(AU_NAMES)), dtype=np.float64)
        for k, au in enumerate(AU_NAMES):
            if au in self.weights:
                out[:, k] = region_features(disp, au) @ self.weights[au]
        return np.clip(out, 0.0, MAX_INTENSITY) if clip else out

    @classmethod
    def fit(
        cls,
        disp: np.ndarray,
        targets: np.ndarray,
        aus: tuple[str, ...],
        ridge: float = 1e-3,
        meta: dict | None = None,
    ) -> LandmarkAUModel:
        """Ridge fit of each AU in `aus` on displacements (N, 68, 2) -> targets (N, 17).

        `ridge` is relative: the penalty is ridge * mean diagonal of X'X, so it does not
        depend on the feature scale."""
        weights = {}
        for au in aus:
            x = region_features(disp, au)
            y = targets[:, AU_NAMES.index(au)]
            gram = x.T @ x
            lam = ridge * float(np.trace(gram)) / gram.shape[0]
            weights[au] = np.linalg.solve(gram + lam * np.eye(gram.shape[0]), x.T @ y)
        return cls(weights=weights, ridge=ridge, meta=dict(meta or {}))

    def to_json(self) -> dict:
        return {
            "format": "fme-landmark-au-model/1",
            "intensity_unit_iod": INTENSITY_UNIT_IOD,
            "ridge": self.ridge,
            "regions": {a: list(AU_REGIONS[a]) for a in self.weights},
            "weights": {a: [round(float(v), 5) for v in w] for a, w in self.weights.items()},
            "meta": self.meta,
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        write_text_atomic(path, json.dumps(self.to_json(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> LandmarkAUModel:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            weights = {a: np.asarray(w, dtype=np.float64) for a, w in data["weights"].items()}
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DataError(
                f"cannot read the AU model ({err})", path, "Re-fit it with `fme bench au --save`."
            ) from err
        if float(data.get("intensity_unit_iod", INTENSITY_UNIT_IOD)) != INTENSITY_UNIT_IOD:
            raise DataError(
                "the AU model was fitted with another intensity unit",
                path,
                "Re-fit it with `fme bench au --save`.",
            )
        for au, w in weights.items():
            if au not in AU_REGIONS or list(data["regions"][au]) != list(AU_REGIONS[au]):
                raise DataError(
                    f"the AU model's region of {au} differs from this version's",
                    path,
                    "Re-fit it with `fme bench au --save`.",
                )
            if w.shape != (2 * len(AU_REGIONS[au]),):
                raise DataError(f"bad weights for {au}", path, "Re-fit it.")
        return cls(weights=weights, ridge=float(data.get("ridge", 0.0)), meta=data.get("meta", {}))


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> LandmarkAUModel:
    return LandmarkAUModel.load(path)


def load_model(path: str | Path | None = None) -> LandmarkAUModel:
    """The packaged model (default) or one saved by `fme bench au --save PATH`."""
    p = Path(path) if path is not None else MODEL_PATH
    if not p.is_file():
        raise DataError("AU model file not found", p, "Fit one with `fme bench au --save`.")
    return _load_cached(str(p), p.stat().st_mtime)


def estimate_from_landmarks(
    landmarks: np.ndarray,
    onset_index: int = 0,
    model: LandmarkAUModel | None = None,
    fps: float | None = None,
    reference: str = "onset",
) -> AUTrack:
    """AU intensities (T, 17) of a landmark track (T, 68, 2): the geometric estimator
    (`generation.au.geometry`) relative to the frame `onset_index` (`reference="onset"`) or
    to each cue's median over the clip ("median", for a video without a known neutral
    frame); with a fitted `model` (`LandmarkAUModel`), that model (onset reference only)."""
    if model is not None:
        if reference != "onset":
            raise ValueError("a fitted LandmarkAUModel measures from the onset frame only")
        disp = displacements(landmarks, onset_index)
        return AUTrack(
            values=model.predict(disp),
            source="landmarks",
            fps=fps,
            meta={
                "onset_index": int(onset_index),
                "reference": "onset",
                "estimator": "fitted",
                "not_estimated": list(model.not_estimated),
            },
        )
    return AUTrack(
        values=geometry.intensities(landmarks, onset_index, reference),
        source="landmarks",
        fps=fps,
        meta={
            "onset_index": int(onset_index),
            "reference": reference,
            "estimator": geometry.VERSION,
            "not_estimated": list(geometry.NOT_ESTIMATED),
            "combined": [list(g) for g in geometry.COMBINED],
        },
    )


def estimate_from_frames(
    frames: np.ndarray,
    onset_index: int = 0,
    face_box=None,
    model: LandmarkAUModel | None = None,
    fps: float | None = None,
    reference: str = "onset",
) -> AUTrack:
    """AU intensities of video frames (T, H, W[, 3]) uint8: the project's tracker (dlib on
    the onset frame, then Lucas-Kanade; `generation.face.tracking`) on the frames enlarged to
    about 256 px, then `estimate_from_landmarks`. `face_box` (left, top, right, bottom) in
    frame pixels; None: dlib's largest face on the onset frame (FaceNotFoundError if none).
    The estimate is of change from the onset: a single image, or a still video, gives 0."""
    frames = np.asarray(frames)
    if face_box is None:
        face_box = largest_face(frames[onset_index])
    scale = max(1, int(np.ceil(256 / max(frames.shape[1], 1))))
    landmarks = lk_track_video(frames, face_box, onset_index, scale)
    return estimate_from_landmarks(landmarks, onset_index, model, fps, reference)


def estimate_from_video(
    path: str | Path,
    onset_index: int = 0,
    model: LandmarkAUModel | None = None,
    fps: float | None = None,
    no_face: str = "hold",
    reference: str = "onset",
) -> AUTrack:
    """`estimate_from_frames` of a video file or frame folder read one frame at a time
    (memory flat in the clip's length): the face searched from `onset_index` on and
    checked on every frame (`generation.face.presence.follow_face`; `no_face`: hold, skip or
    refuse), the frames enlarged to about 256 px for the tracker as there. The track's
    `meta` names the onset used and the frames without a face."""
    from PIL import Image

    info = probe(path)
    scale = max(1, int(np.ceil(256 / max(info.height, 1))))

    def frames(start: int):
        for frame in iter_video(path, start):
            gray = to_gray(frame)
            if scale > 1:
                size = (gray.shape[1] * scale, gray.shape[0] * scale)
                gray = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BICUBIC))
            yield gray

    track = follow_face(frames, onset_index, no_face, source=path)
    landmarks = ((track.landmarks + 0.5) / scale - 0.5).astype(np.float32)
    onset = [int(k) for k in track.kept].index(track.start)
    result = estimate_from_landmarks(landmarks, onset, model, fps or info.fps or None, reference)
    result.meta["no_face_frames"] = track.missing
    return result


def prepared_record(folder: Path):
    """The manifest row of a prepared clip folder, found in the folders above it."""
    folder = folder.resolve()
    for root in list(folder.parents)[:4]:
        if (root / MANIFEST).is_file():
            for clip in load_prepared(root):
                if clip.dir.resolve() == folder:
                    return clip
    return None


def clip_au_track(
    clip,
    model: LandmarkAUModel | None = None,
    fps: float | None = None,
    reference: str = "onset",
) -> AUTrack:
    """The landmark AU track of a clip: a `PreparedClip` (from `load_prepared`), its folder
    (the one holding `landmarks.npz`), or any record with `landmarks` (T, 68, 2) (an array,
    or a method returning one) and `onset_index` (animation's `DrivingClip`). The onset is
    the clip's `onset_index` (a bare folder outside any manifest: frame 0)."""
    if isinstance(clip, PreparedClip):
        record, landmarks = clip, clip.landmarks()
    elif hasattr(clip, "landmarks") and hasattr(clip, "onset_index"):
        lms = clip.landmarks
        record, landmarks = clip, np.asarray(lms() if callable(lms) else lms, dtype=np.float32)
    else:
        folder = Path(clip)
        path = folder / "landmarks.npz"
        if not path.is_file():
            raise DataError(
                "not a prepared clip folder (no landmarks.npz)",
                folder,
                "Pass a folder written by `fme prepare` (<out>/<dataset>/<subject>/<clip>).",
            )
        with np.load(path) as data:
            landmarks = data["landmarks"].astype(np.float32)
        record = prepared_record(folder)
    onset = record.onset_index if record is not None else 0
    track = estimate_from_landmarks(landmarks, onset, model, fps, reference)
    name = getattr(record, "key", None) or getattr(record, "name", None)
    if name:
        track.meta["clip"] = name
    return track
