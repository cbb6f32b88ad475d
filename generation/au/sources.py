"""Where a clip's AU curves come from: the landmark estimator, or another tool's CSV.

One option chooses the source everywhere (FAMGAN training and animation, TPSMM-AU, AU
fidelity, `fme au`): `--au-source`, one of `SOURCES`:

- `landmarks` (default): the project's landmark estimator (`generation.au.geometry`) on the
  clip's landmarks;
- `openface`: OpenFace 2's FeatureExtraction CSV (`frame, timestamp, ..., AU01_r ... AU45_r`,
  0-5; `generation.au.openface`);
- `libreface`: LibreFace's CSV, intensities `au_<n>_intensity` (0-5; its 12 AUs 1, 2, 4, 5,
  6, 9, 12, 15, 17, 20, 25, 26);
- `pyfeat`: py-feat's `Fex` CSV (`AU01 ... AU43`, 0-1), read times 5 onto OpenFace's 0-5
  scale; its AU 43 (eyes closed) fills AU 45 (blink).

A CSV source reads one CSV per clip, one row per frame (a CSV of another length, or one
without the source's AU columns, is a DataError naming the file). It is matched by name
(`find_csv`): beside a video `x.mp4` (or a frame folder `x/`), `x.<source>.csv` then `x.csv`;
inside a prepared clip folder, `<source>.csv` then `au.csv`, then `<folder>.csv` beside it.
An explicit path (`--au-csv`) is the CSV of a single clip, or a folder holding
`<name>.<source>.csv` or `<name>.csv` for each clip (the name: the video's stem, the clip's id
or `<subject>_<clip_id>`). AUs a source does not give are 0 and listed in the track's
`meta["not_estimated"]`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fme.core.errors import ConfigError, DataError
from generation.au import AU_NAMES, AU_SOURCES, AUTrack
from generation.au.estimator import (
    clip_au_track,
    estimate_from_frames,
    estimate_from_landmarks,
    prepared_record,
)
from generation.au.openface import read_openface_csv, read_openface_landmarks
from generation.data.video import frame_rate, probe, read_video

SOURCES: tuple[str, ...] = AU_SOURCES
CSV_SOURCES: tuple[str, ...] = SOURCES[1:]
#: py-feat's AU outputs are 0-1; OpenFace's 0-5.
PYFEAT_SCALE = 5.0
_LIBREFACE = re.compile(r"^au_?(\d+)_intensity$", re.IGNORECASE)
_PYFEAT = re.compile(r"^AU(\d+)$", re.IGNORECASE)


def check_source(name: str) -> str:
    name = str(name).strip().lower().replace("-", "")
    if name not in SOURCES:
        raise ConfigError(
            f"--au-source {name!r} is not a known AU source",
            hint=f"Choose one of {', '.join(SOURCES)}.",
        )
    return name


def _read_table(path: Path, what: str):
    import pandas as pd

    if not path.is_file():
        raise DataError(f"{what} CSV not found", path)
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataError(f"cannot read the {what} CSV ({err})", path) from err
    table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise DataError(f"the {what} CSV has no rows", path)
    return table


def _numeric(table, column: str, path: Path) -> np.ndarray:
    import pandas as pd

    col = pd.to_numeric(table[column], errors="coerce")
    if col.isna().any():
        raise DataError(f"non-numeric values in column {column}", path)
    return col.to_numpy(np.float32)


def _columns_track(path: Path, table, columns: dict[str, str], source: str, gain: float) -> AUTrack:
    values = np.zeros((len(table), len(AU_NAMES)), dtype=np.float32)
    for au, column in columns.items():
        values[:, AU_NAMES.index(au)] = np.clip(_numeric(table, column, path) * gain, 0.0, 5.0)
    meta = {
        "path": str(path),
        "not_estimated": [a for a in AU_NAMES if a not in columns],
    }
    frame_col = next((c for c in table.columns if c.lower() in ("frame", "frame_idx")), None)
    if frame_col is not None:
        meta["frames"] = [int(v) for v in _numeric(table, frame_col, path)]
    return AUTrack(values=values, source=source, meta=meta)


def read_libreface_csv(path: str | Path) -> AUTrack:
    """LibreFace's AU intensities (`au_<n>_intensity`, 0-5) as an `AUTrack`."""
    path = Path(path)
    table = _read_table(path, "LibreFace")
    columns = {}
    for c in table.columns:
        m = _LIBREFACE.match(c)
        if m and f"AU{int(m[1]):02d}" in AU_NAMES:
            columns[f"AU{int(m[1]):02d}"] = c
    if not columns:
        raise DataError(
            "no AU intensity columns (au_1_intensity ... au_26_intensity) in the LibreFace CSV",
            path,
            "Write LibreFace's AU intensities to the CSV.",
        )
    return _columns_track(path, table, columns, "libreface", 1.0)


def read_pyfeat_csv(path: str | Path) -> AUTrack:
    """py-feat's AU outputs (`AU01` ... `AU43`, 0-1) times 5 as an `AUTrack`; AU 43 (eyes
    closed) fills AU 45."""
    path = Path(path)
    table = _read_table(path, "py-feat")
    columns = {}
    for c in table.columns:
        m = _PYFEAT.match(c)
        if not m:
            continue
        au = "AU45" if int(m[1]) == 43 else f"AU{int(m[1]):02d}"
        if au in AU_NAMES:
            columns.setdefault(au, c)
    if not columns:
        raise DataError(
            "no AU columns (AU01 ... AU43) in the py-feat CSV",
            path,
            "Save py-feat's detection results (Fex.to_csv) with their AU columns.",
        )
    return _columns_track(path, table, columns, "pyfeat", PYFEAT_SCALE)


def read_au_csv(path: str | Path, source: str) -> AUTrack:
    """The AU track of one CSV of a CSV `source` (see the module docstring)."""
    source = check_source(source)
    if source == "openface":
        track = read_openface_csv(path)
        track.values = np.clip(track.values, 0.0, 5.0)
        return track
    if source == "libreface":
        return read_libreface_csv(path)
    if source == "pyfeat":
        return read_pyfeat_csv(path)
    raise ConfigError(f"--au-source {source} reads no CSV", hint="Give a CSV source.")


def clip_names(path: Path, record=None) -> list[str]:
    """The names a clip's CSV may carry: the record's `<subject>_<clip_id>` and `clip_id`,
    then the path's stem."""
    names = []
    if record is not None:
        subject, clip_id = getattr(record, "subject", ""), getattr(record, "clip_id", "")
        if clip_id:
            names += [f"{subject}_{clip_id}", clip_id] if subject else [clip_id]
    names.append(path.name if path.is_dir() else path.stem)
    return list(dict.fromkeys(n for n in names if n))


def find_csv(
    path: str | Path,
    source: str,
    csv_path: str | Path | None = None,
    record=None,
    name: str | None = None,
):
    """The CSV of the clip at `path` (a video, a frame folder or a prepared clip folder) for a
    CSV `source`, by the rules of the module docstring (`name`: one more name to try in an
    `--au-csv` folder, first); DataError naming where it looked."""
    source = check_source(source)
    path = Path(path)
    names = list(dict.fromkeys([*([name] if name else []), *clip_names(path, record)]))
    looked: list[Path] = []
    if csv_path is not None:
        explicit = Path(csv_path)
        if explicit.is_file():
            return explicit
        if not explicit.is_dir():
            raise DataError("--au-csv: no such file or folder", explicit)
        looked = [explicit / f"{n}.{source}.csv" for n in names]
        looked += [explicit / f"{n}.csv" for n in names]
    else:
        if path.is_dir():
            looked += [path / f"{source}.csv", path / "au.csv"]
        looked += [path.parent / f"{path.name if path.is_dir() else path.stem}.{source}.csv"]
        looked += [path.parent / f"{path.name if path.is_dir() else path.stem}.csv"]
    for candidate in looked:
        if candidate.is_file():
            return candidate
    shown = ", ".join(str(p.name) for p in looked[:4])
    raise DataError(
        f"no {source} CSV for this clip (looked for {shown})",
        path,
        f"Run {source} on it and save the CSV beside it, or give the file with --au-csv.",
    )


def check_length(track: AUTrack, n_frames: int, path) -> AUTrack:
    if track.n_frames != n_frames:
        raise DataError(
            f"the AU CSV has {track.n_frames} rows but the clip has {n_frames} frames",
            path,
            "Give the CSV made from this clip (one row per frame).",
        )
    return track


@dataclass(frozen=True)
class AUSource:
    """The AU source of a run: `name` (one of `SOURCES`) and, for a CSV source, an explicit
    CSV file or folder (`csv`; None: matched beside each clip)."""

    name: str = "landmarks"
    csv: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_source(self.name))
        if self.csv is not None and self.name == "landmarks":
            raise ConfigError(
                "--au-csv needs a CSV source",
                hint=f"Add --au-source {'|'.join(CSV_SOURCES)}.",
            )

    @property
    def from_csv(self) -> bool:
        return self.name != "landmarks"

    def csv_track(self, path: str | Path, n_frames: int, record=None, name=None) -> AUTrack:
        """The CSV track of the clip at `path` with `n_frames` frames (`record`, `name`: the
        names its CSV may carry in an `--au-csv` folder, see `find_csv`)."""
        found = find_csv(path, self.name, self.csv, record, name)
        track = check_length(read_au_csv(found, self.name), n_frames, found)
        track.meta["csv"] = str(found)
        return track


def as_source(source) -> AUSource:
    """An `AUSource` of a name, an `AUSource` or None (the landmark estimator)."""
    if source is None:
        return AUSource()
    if isinstance(source, AUSource):
        return source
    return AUSource(str(source))


def clip_track(clip, source=None, reference: str = "onset") -> AUTrack:
    """The AU track of a clip from `source` (an `AUSource`, a name, or None: landmarks):
    a `PreparedClip`, a prepared clip folder, or a record with `landmarks`, `onset_index`
    and, for a CSV source, `path` (where its CSV is matched) or `au_track` (already read)."""
    src = as_source(source)
    existing = getattr(clip, "au_track", None)
    if existing is not None and existing.source == src.name:
        return existing
    if not src.from_csv:
        return clip_au_track(clip, reference=reference)
    path = getattr(clip, "dir", None) or getattr(clip, "path", None)
    if path is None and isinstance(clip, (str, Path)):
        path = Path(clip)
    if path is None:
        raise ConfigError(
            f"--au-source {src.name}: this clip has no file to match a CSV to",
            hint="Drive with a video or prepared clip that has its CSV beside it.",
        )
    n_frames = getattr(clip, "n_frames", None)
    if n_frames is None:
        lms = getattr(clip, "landmarks", None)
        if lms is not None:
            n_frames = len(lms() if callable(lms) else lms)
        else:
            with np.load(Path(path) / "landmarks.npz") as data:
                n_frames = len(data["landmarks"])
    return src.csv_track(path, int(n_frames), record=clip if hasattr(clip, "clip_id") else None)


# ---- writing ------------------------------------------------------------------------------


def write_track_csv(path: str | Path, track: AUTrack, fps: float | None = None) -> Path:
    """The track in OpenFace's column names: `frame` (1-based, as OpenFace writes it),
    `timestamp` (seconds: (frame - 1) / fps; empty when the rate is unknown), `AU01_r` ...
    `AU45_r` (3 decimals). Written to a temporary file and renamed: whole or not at all."""
    import os

    path = Path(path)
    rate = fps if fps is not None else track.fps
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["frame", "timestamp", *[f"{a}_r" for a in track.names]])
        for i, row in enumerate(track.values):
            stamp = f"{i / rate:.4f}" if rate else ""
            writer.writerow([i + 1, stamp, *[f"{float(v):.3f}" for v in row]])
    os.replace(tmp, path)
    return path


def agreement(track: AUTrack, reference: AUTrack, moving: float = 0.05) -> list[dict]:
    """Per AU, Pearson's r and the mean absolute difference of `track` against `reference`
    (tracks of one length): rows of au, reference_sd, r (None when either curve is flat:
    the reference's standard deviation under `moving`, or the track's 0), mae, and what the
    track says of the AU (estimated, combined with another, not estimated)."""
    if track.n_frames != reference.n_frames:
        raise DataError(
            f"the tracks differ in length ({track.n_frames} and {reference.n_frames} frames)"
        )
    not_est = set(track.meta.get("not_estimated", ()))
    combined = {a: g for g in track.meta.get("combined", ()) for a in g}
    ref_missing = set(reference.meta.get("not_estimated", ()))
    rows = []
    for au in AU_NAMES:
        if au in ref_missing:
            continue
        a = track.column(au).astype(np.float64)
        b = reference.column(au).astype(np.float64)
        r = None
        if b.std() >= moving and a.std() > 1e-9:
            r = float(np.corrcoef(a, b)[0, 1])
        status = (
            "not estimated"
            if au in not_est
            else ("combined " + "+".join(combined[au]) if au in combined else "estimated")
        )
        rows.append(
            {
                "au": au,
                "reference_sd": float(b.std()),
                "reference_max": float(b.max()),
                "r": r,
                "mae": float(np.abs(a - b).mean()),
                "max": float(a.max()),
                "status": status,
            }
        )
    return rows


def train_source(train) -> AUSource:
    """The AU source of a training config (`TrainConfig.au_source`, `au_csv`)."""
    return AUSource(
        getattr(train, "au_source", "landmarks") or "landmarks", getattr(train, "au_csv", None)
    )


def detect_csv_source(path: str | Path) -> str:
    """The CSV source whose columns a CSV has: `AU01_r` openface, `au_1_intensity`
    libreface, `AU01` pyfeat; DataError naming the file when none."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            header = [c.strip() for c in next(csv.reader(handle), [])]
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read the CSV ({err})", path) from err
    if any(re.match(r"^AU\d+_r$", c, re.IGNORECASE) for c in header):
        return "openface"
    if any(_LIBREFACE.match(c) for c in header):
        return "libreface"
    if any(_PYFEAT.match(c) for c in header):
        return "pyfeat"
    raise DataError(
        "no AU columns of OpenFace (AU01_r), LibreFace (au_1_intensity) or py-feat (AU01)",
        path,
    )


@dataclass
class InputTrack:
    """`input_track`'s answer: the track, the input's frame rate, and how it was made."""

    track: AUTrack
    fps: float | None
    how: str


def input_track(
    path: str | Path,
    source=None,
    onset: int | None = None,
    reference: str | None = None,
) -> InputTrack:
    """The AU track of what `fme au` takes: a prepared clip folder, a video or frame folder,
    or an OpenFace CSV (whose landmarks the landmark source reads). The landmark source
    measures from `onset` (default: a prepared clip's onset, else frame 0) with `reference`
    "onset", or from each cue's median ("median"; the default for a video or CSV without a
    known onset)."""
    src = as_source(source)
    path = Path(path)
    if not path.exists():
        raise DataError("no such video, clip folder or CSV", path)
    prepared = path.is_dir() and (path / "landmarks.npz").is_file()
    is_csv = path.is_file() and path.suffix.lower() == ".csv"
    fps = None
    if prepared:
        record = prepared_record(path)
        fps = record.frame_rate if record is not None else None
        known_onset = record.onset_index if record is not None else None
    else:
        record = None
        known_onset = None
    if onset is None and known_onset is not None:
        onset = known_onset
    if reference is None:
        reference = "onset" if onset is not None else "median"
    onset = onset or 0
    if is_csv:
        if src.from_csv:
            track = read_au_csv(path, src.name)
            return InputTrack(track, track.fps, f"{src.name} CSV {path.name}")
        landmarks = read_openface_landmarks(path)
        fps = read_openface_csv(path).fps
        track = estimate_from_landmarks(landmarks, onset, fps=fps, reference=reference)
        how = f"landmark estimator on the CSV's landmarks, reference {_ref_text(reference, onset)}"
        return InputTrack(track, fps, how)
    if not prepared:
        fps = frame_rate(path)
    if src.from_csv:
        if prepared:
            with np.load(path / "landmarks.npz") as data:
                n_frames = len(data["landmarks"])
        else:
            n_frames = probe(path).n_frames
        track = src.csv_track(path, n_frames, record)
        track.fps = track.fps or fps
        return InputTrack(track, fps, f"{src.name} CSV {Path(track.meta['csv']).name}")
    if prepared:
        with np.load(path / "landmarks.npz") as data:
            landmarks = data["landmarks"].astype(np.float32)
        _check_onset(onset, len(landmarks), path)
        track = estimate_from_landmarks(landmarks, onset, fps=fps, reference=reference)
    else:
        frames = read_video(path)
        _check_onset(onset, len(frames), path)
        track = estimate_from_frames(frames, onset, fps=fps, reference=reference)
    how = f"landmark estimator, reference {_ref_text(reference, onset)}"
    return InputTrack(track, fps, how)


def _check_onset(onset: int, n_frames: int, path: Path) -> None:
    if not 0 <= onset < n_frames:
        raise ConfigError(f"--onset {onset} is outside the clip's {n_frames} frames", path)


def _ref_text(reference: str, onset: int) -> str:
    return f"frame {onset}" if reference == "onset" else "each cue's median over the clip"


def add_au_source_options(parser, what: str) -> None:
    """`--au-source` and `--au-csv`, the same in every command that uses AU curves."""
    parser.add_argument(
        "--au-source",
        default=None,
        choices=SOURCES,
        help=f"where {what} AU curves come from: the landmark estimator (default) or the "
        "clip's OpenFace 2 / LibreFace / py-feat CSV, matched by name beside each video "
        "(<name>.<source>.csv or <name>.csv) or inside a prepared clip folder "
        "(<source>.csv or au.csv)",
    )
    parser.add_argument(
        "--au-csv",
        default=None,
        metavar="PATH",
        help="with a CSV --au-source: the CSV itself (one clip) or a folder of "
        "<name>.csv files, instead of the CSVs beside the clips",
    )
