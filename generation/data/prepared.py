"""The prepared-data format written by `fme prepare`, and its loader.

    OUT/manifest.csv                                   one row per prepared clip
    OUT/report.csv                                     clips left out, and why
    OUT/<dataset>/<subject>/<clip_id>/frames/000000.png ...   size x size RGB (gray x 3)
    OUT/<dataset>/<subject>/<clip_id>/landmarks.npz

`landmarks.npz` holds `landmarks` (T, 68, 2) float32 in crop pixel coordinates, `box` (4,)
the crop box (left, top, right, bottom) in original image pixels, `face_box` (4,) dlib's
onset-frame detection, `frame_numbers` (T,), `size`, `margin`, `image_shape` (H, W) of the
originals and `source_landmarks` (T, 68, 2) in original pixels; files written since the
face is checked on every frame add `no_face` (the policy), `face_present` (T,) bool (False:
the frame holds the last frame with a face), `face_start` (the frame the face was found
on), `tracking_fallbacks` (frames with a region fallen back to dlib) and
`region_fallbacks` (frames per region of `generation.face.tracking.REGIONS`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from fme.core.errors import DataError
from fme.core.outputs import atomic_open
from generation.data.clip import dataset_fps
from generation.data.video import read_image

MANIFEST = "manifest.csv"
REPORT = "report.csv"
# columns later versions added: a manifest without them still loads (empty values)
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "emotion_label",
    "au_cell",
    "au_alternatives",
    "au_refs",
    "au_notes",
    "fps",
)
MANIFEST_COLUMNS: tuple[str, ...] = (
    "dataset",
    "subject",
    "clip_id",
    "n_frames",
    "onset",
    "apex",
    "offset",
    "onset_index",
    "apex_index",
    "offset_index",
    "emotion",
    "label",
    "aus",
    "path",
    *OPTIONAL_COLUMNS,
)
REPORT_COLUMNS: tuple[str, ...] = ("dataset", "subject", "clip_id", "stage", "reason", "path")
_INTS = {"n_frames", "onset", "apex", "offset", "onset_index", "apex_index", "offset_index"}


def frame_name(index: int) -> str:
    """File name of the prepared frame at 0-based position `index`."""
    return f"{index:06d}.png"


@dataclass(frozen=True)
class PreparedClip:
    """One row of a manifest, bound to the folder it was read from.

    `onset`, `apex`, `offset` are dataset frame numbers; the `_index` fields are 0-based
    positions in `frame_paths()`. `label` is the MEGC2019 composite label (the published
    list's), None when the composite leaves the clip out; `emotion_label` the label the
    emotion alone gives. `aus` is the AUs coded as present ('4+7', '' when none);
    `au_cell` the sheet's cell as written, `au_alternatives` ('R6|R12'), `au_refs` (codes in
    `ref(...)`) and `au_notes` ('soft focus') the rest of it.
    """

    dataset: str
    subject: str
    clip_id: str
    n_frames: int
    onset: int
    apex: int
    offset: int
    onset_index: int
    apex_index: int
    offset_index: int
    emotion: str
    label: str | None
    aus: str
    path: str
    root: Path
    emotion_label: str | None = None
    au_cell: str = ""
    au_alternatives: str = ""
    au_refs: str = ""
    au_notes: str = ""
    fps: str = ""  # as written: the clip's frame rate, '' in manifests before it was kept

    @property
    def frame_rate(self) -> float | None:
        """The clip's frame rate: the manifest's, else its dataset's published rate."""
        try:
            return float(self.fps) if self.fps else dataset_fps(self.dataset)
        except ValueError:
            return dataset_fps(self.dataset)

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.subject}/{self.clip_id}"

    @property
    def dir(self) -> Path:
        return self.root / self.path

    def frame_path(self, index: int) -> Path:
        return self.dir / "frames" / frame_name(index)

    def frame_paths(self) -> list[Path]:
        return [self.frame_path(i) for i in range(self.n_frames)]

    def frames(self) -> np.ndarray:
        """All frames, (T, H, W, 3) uint8."""
        return np.stack([read_image(p) for p in self.frame_paths()])

    def _npz(self) -> dict[str, np.ndarray]:
        path = self.dir / "landmarks.npz"
        if not path.is_file():
            raise DataError("prepared clip has no landmarks.npz", path, "Run `fme prepare` again.")
        with np.load(path) as data:
            return {k: data[k] for k in data.files}

    def landmarks(self) -> np.ndarray:
        """(T, 68, 2) float32 landmarks in prepared-frame pixels."""
        return self._npz()["landmarks"].astype(np.float32)

    def box(self) -> tuple[int, int, int, int]:
        """The crop box (left, top, right, bottom) in the original frames."""
        return tuple(int(v) for v in self._npz()["box"])  # type: ignore[return-value]

    def row(self) -> dict[str, object]:
        """The manifest row (label '' when None)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name in MANIFEST_COLUMNS}
        out["label"] = self.label or ""
        out["emotion_label"] = self.emotion_label or ""
        return out


def manifest_path(root: str | Path) -> Path:
    return Path(root) / MANIFEST


def load_prepared(root: str | Path) -> list[PreparedClip]:
    """The clips of an `fme prepare` output folder, in manifest order."""
    root = Path(root)
    path = manifest_path(root)
    if not path.is_file():
        raise DataError(
            "no manifest.csv: not an `fme prepare` output", root, "Run `fme prepare` first."
        )
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        have = reader.fieldnames or []
        missing = [c for c in MANIFEST_COLUMNS if c not in have and c not in OPTIONAL_COLUMNS]
        if missing:
            raise DataError(
                f"manifest has no column {', '.join(missing)}", path, "Run `fme prepare` again."
            )
        clips = []
        for line, row in enumerate(reader, start=2):
            try:
                values = {
                    c: (int(row[c]) if c in _INTS else (row.get(c) or "")) for c in MANIFEST_COLUMNS
                }
            except ValueError as err:
                raise DataError(
                    f"bad manifest row {line} ({err})", path, "Run `fme prepare` again."
                ) from err
            values["label"] = values["label"] or None
            values["emotion_label"] = values["emotion_label"] or None
            clips.append(PreparedClip(**values, root=root))  # type: ignore[arg-type]
    return clips


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, object]]) -> Path:
    """Write rows atomically (a temporary file renamed over the old one)."""
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: ("" if row.get(c) is None else row.get(c)) for c in columns})
    return path


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))
