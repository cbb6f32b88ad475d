"""Your own videos as a dataset (`fme prepare videos ROOT OUT`).

Every video file (`generation.data.video.VIDEO_SUFFIXES`) and every folder of numbered image
frames under ROOT is a clip. Its subject is the folder it sits in, relative to ROOT
(`a/b` -> `a_b`; `-` for ROOT itself), its clip id the file's stem or the frame folder's
name. A video's frame numbers are 0, 1, 2, ...; a frame folder's the numbers in its file
names.

An optional `ROOT/clips.csv` codes the clips, one row each, columns `clip` (the clip id,
or its path under ROOT), and any of `subject`, `onset`, `apex`, `offset`, `emotion`,
`label` (negative, positive or surprise). What is not coded is found: the onset is the
first frame with a face, the apex the frame whose landmarks moved most from the onset's,
the offset the last frame. The labels are the given ones (no published composite list
holds your clips, so none is looked up).
"""

from __future__ import annotations

import csv
from pathlib import Path

from fme.core.errors import DataError
from generation.data.clip import LABELS, Clip
from generation.data.readers import DatasetReport, LeftOut
from generation.data.video import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    frame_number,
    frame_rate,
    list_frames,
    probe,
)

DATASET = "videos"
CODING = "clips.csv"
CODING_COLUMNS = ("clip", "subject", "onset", "apex", "offset", "emotion", "label")


def _sources(root: Path) -> list[Path]:
    """Video files and frame folders under `root`, sorted; a frame folder's own frames are
    not clips, and a folder holding videos is not a frame folder."""
    found: list[Path] = []
    for folder in sorted([root, *(p for p in root.rglob("*") if p.is_dir())]):
        if any(part.startswith(".") for part in folder.relative_to(root).parts):
            continue
        files = sorted(p for p in folder.iterdir() if p.is_file())
        videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
        images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        found += videos
        if images and not videos and folder != root:
            found.append(folder)
    return found


def _subject(root: Path, source: Path) -> str:
    parts = source.parent.relative_to(root).parts
    return "_".join(parts) if parts else "-"


def _clip_id(source: Path) -> str:
    return source.name if source.is_dir() else source.stem


def _number(row: dict[str, str], column: str, where: str, path: Path) -> int | None:
    text = (row.get(column) or "").strip()
    if not text:
        return None
    try:
        value = int(float(text))
    except ValueError:
        raise DataError(
            f"{where}: {column} {text!r} is not a frame number",
            path,
            "Give whole frame numbers (0 is a video's first frame), or leave the cell empty.",
        ) from None
    if value < 0:
        raise DataError(f"{where}: {column} {value} is negative", path)
    return value


def read_coding(path: Path) -> dict[str, dict[str, str]]:
    """The rows of a clips.csv by their `clip` cell; DataError naming the file and row for
    a missing `clip` column, an empty or repeated clip, or a label outside LABELS."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"cannot read the coding sheet ({err})", path) from err
    if "clip" not in header:
        raise DataError(
            f"no `clip` column (columns: {', '.join(header) or 'none'})",
            path,
            f"The first line names the columns: {', '.join(CODING_COLUMNS)}.",
        )
    out: dict[str, dict[str, str]] = {}
    for n, raw in enumerate(rows, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        clip = row.get("clip", "")
        if not clip:
            raise DataError(f"line {n}: the clip cell is empty", path)
        if clip in out:
            raise DataError(f"line {n}: clip {clip!r} is listed twice", path)
        label = row.get("label", "")
        if label and label not in LABELS:
            raise DataError(
                f"line {n}: label {label!r} is not one of {', '.join(LABELS)}",
                path,
                "Leave the label empty, or use the MEGC2019 classes.",
            )
        row["_line"] = str(n)
        out[clip] = row
    return out


def read_videos(root: str | Path, labels: str | None = None) -> DatasetReport:
    """The clips of a folder of one's own videos (module docstring). `labels` is accepted
    for the readers' signature and must be None: the labels are clips.csv's."""
    root = Path(root)
    if not root.is_dir():
        raise DataError("videos root not found", root, "Give the folder holding your videos.")
    if labels is not None:
        raise DataError(
            f"--labels {labels}: your videos' labels are clips.csv's `label` column",
            root / CODING,
            "Leave --labels out.",
        )
    coding_path = root / CODING
    coding = read_coding(coding_path) if coding_path.is_file() else {}
    report = DatasetReport(DATASET, root, label_source="clips.csv")
    report.notes.append(
        f"coding from {coding_path}"
        if coding
        else "no clips.csv: onsets are the first frame "
        "with a face, apexes the frame that moved most from it"
    )
    used: set[str] = set()
    seen: dict[tuple[str, str], Path] = {}
    for source in _sources(root):
        rel = source.relative_to(root).as_posix()
        clip_id = _clip_id(source)
        key = rel if rel in coding else clip_id
        row = coding.get(key, {})
        if row:
            used.add(key)
        where = f"line {row.get('_line', '?')}" if row else ""
        subject = row.get("subject") or _subject(root, source)
        if (subject, clip_id) in seen:
            report.left_out.append(
                LeftOut(
                    DATASET,
                    subject,
                    clip_id,
                    f"a second clip named {clip_id!r} in {subject!r} (the first is "
                    f"{seen[(subject, clip_id)]}); rename one",
                    str(source),
                )
            )
            continue
        try:
            if source.is_dir():
                files = list_frames(source)
                numbers = tuple(frame_number(f) for f in files)
                frames = tuple(files)
                video = None
            else:
                n = probe(source).n_frames
                numbers = tuple(range(n))
                frames = (source,) * n
                video = source
        except DataError as err:
            report.left_out.append(LeftOut(DATASET, subject, clip_id, str(err), str(source)))
            continue
        except Exception as err:  # noqa: BLE001 - a video PyAV cannot read is left out
            report.left_out.append(
                LeftOut(DATASET, subject, clip_id, f"cannot read ({err})", str(source))
            )
            continue
        if len(numbers) < 2:
            report.left_out.append(
                LeftOut(
                    DATASET,
                    subject,
                    clip_id,
                    f"{len(numbers)} frame(s); a clip needs two",
                    str(source),
                )
            )
            continue
        onset = _number(row, "onset", where, coding_path)
        apex = _number(row, "apex", where, coding_path)
        offset = _number(row, "offset", where, coding_path)
        for name, value in (("onset", onset), ("apex", apex), ("offset", offset)):
            if value is not None and not numbers[0] <= value <= numbers[-1]:
                raise DataError(
                    f"{where}: {name} {value} is outside the clip's frames "
                    f"{numbers[0]}-{numbers[-1]} ({rel})",
                    coding_path,
                )
        seen[(subject, clip_id)] = source
        label = row.get("label") or None
        report.clips.append(
            Clip(
                dataset=DATASET,
                subject=subject,
                clip_id=clip_id,
                frames=frames,
                frame_numbers=numbers,
                onset=numbers[0] if onset is None else onset,
                apex=-1 if apex is None else apex,
                offset=numbers[-1] if offset is None else offset,
                emotion=row.get("emotion", ""),
                label=label,
                emotion_label=label,
                video=video,
                face_search=onset is None,
                fps=frame_rate(video) if video is not None else None,
            )
        )
    for key in sorted(set(coding) - used):
        report.left_out.append(
            LeftOut(
                DATASET,
                coding[key].get("subject", ""),
                key,
                f"clips.csv line {coding[key]['_line']} names a clip not found under the root",
                str(coding_path),
            )
        )
    return report
