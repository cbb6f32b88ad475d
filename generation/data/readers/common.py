"""The helpers the dataset readers share: names and labels, sheets, frame folders, the
clip records and the reports (`generation.data.readers` has the readers and the
registry)."""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fme.core.errors import ConfigError, DataError
from generation.data.clip import LABELS, Clip
from generation.data.composite import (
    COMPOSITE_DATASETS,
    CompositeEntry,
    composite_label,
    not_found,
)
from generation.data.facs import EMPTY_CELLS, AUCell, cell_text, parse_au_cell
from generation.data.layout import IMAGE_SUFFIXES, find_frame_tree, find_sheet, has_frames

log = logging.getLogger(__name__)


DATASETS: tuple[str, ...] = ("casme2", "samm", "smic", "casme_sq", "casme3")


# MEGC2019 composite: the dataset's own emotion (lower case) -> 3-class label.
_COMPOSITE: dict[str, dict[str, str]] = {
    "casme2": {
        "happiness": "positive",
        "disgust": "negative",
        "repression": "negative",
        "surprise": "surprise",
    },
    "samm": {
        "happiness": "positive",
        "anger": "negative",
        "contempt": "negative",
        "disgust": "negative",
        "fear": "negative",
        "sadness": "negative",
        "surprise": "surprise",
    },
    "smic": {
        "positive": "positive",
        "po": "positive",
        "negative": "negative",
        "ne": "negative",
        "surprise": "surprise",
        "sur": "surprise",
    },
    # CAS(ME)² codes each expression's emotion type as positive, negative, surprise or
    # others: the three map to themselves, as SMIC's do; others is left out
    "casme_sq": {
        "positive": "positive",
        "negative": "negative",
        "surprise": "surprise",
    },
    # CAS(ME)³ part A's seven emotions, mapped as MEGC2019 maps CASME II's and SAMM's:
    # happy positive; disgust, fear, anger, sad negative; surprise; others left out
    "casme3": {
        "happy": "positive",
        "happiness": "positive",
        "disgust": "negative",
        "fear": "negative",
        "anger": "negative",
        "sad": "negative",
        "sadness": "negative",
        "surprise": "surprise",
    },
}


_ALIASES = {
    "casme2": "casme2",
    "casmeii": "casme2",
    "casme": "casme2",
    "synthetic": "casme2",  # the synthetic corpus is written in the CASME II layout
    "samm": "samm",
    "smic": "smic",
    "smichs": "smic",
    "hs": "smic",
    "casmesq": "casme_sq",
    "casme3": "casme3",
    "casmeiii": "casme3",
}


_NUMBER = re.compile(r"\d+")


def dataset_name(name: str) -> str:
    """Canonical dataset name (casme2, samm, smic, casme_sq, casme3) of a user's spelling,
    or ConfigError. `CAS(ME)^2`, `CAS(ME)²` and `casme_sq` are CAS(ME)², not CASME II."""
    low = str(name).lower().replace("²", "^2").replace("³", "^3")
    if "(me)" in low or "^" in low:
        low = low.replace("^2", "sq").replace("^3", "3")
    key = re.sub(r"[^a-z0-9]", "", low)
    if key not in _ALIASES:
        raise ConfigError(f"unknown dataset {name!r}", hint=f"Choose one of {', '.join(DATASETS)}.")
    return _ALIASES[key]


def megc2019_label(dataset: str, emotion: str) -> str | None:
    """The MEGC2019 composite class (negative/positive/surprise) of a dataset's emotion.

    None for the emotions the composite leaves out (CASME II fear, sadness, others;
    SAMM other).
    """
    table = _COMPOSITE[dataset_name(dataset)]
    return table.get(str(emotion).strip().lower())


def parse_aus(value: object) -> tuple[str, ...]:
    """The AUs a sheet cell codes as present: 'R12+L14' -> ('R12', 'L14'); 'AU4+AU7' or 4 ->
    ('4', ...). Alternatives, `ref(...)` and notes are left out here; `parse_au_cell`
    (generation.data.facs) keeps them. Empty cells, '/' and '-' give ()."""
    return parse_au_cell(value).aus


def au_number(token: str) -> int | None:
    """The AU number of a token ('R12' -> 12, '4' -> 4, '12B' -> 12), None if it has none."""
    m = _NUMBER.search(token)
    return int(m.group()) if m else None


def aus_text(aus: Iterable[str]) -> str:
    """AU tokens joined as in the sheets: ('4', '7') -> '4+7'."""
    return "+".join(aus)


def parse_frame(value: object) -> int | None:
    """A sheet's frame number (46, 46.0, '046', ' 46 ') or None when unknown ('/', -1, 0) or
    not a number (`read_frame` tells the two apart)."""
    return read_frame(value)[0]


def read_frame(value: object) -> tuple[int | None, str | None]:
    """(frame number or None, None) for a number or an unknown mark ('', '/', -1, 0);
    (None, the text) for a cell that is not a number ('12a', 'see notes')."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None, None
        if not value.is_integer():
            return None, str(value)
        return (int(value) if value > 0 else None), None
    if isinstance(value, int):
        return (value if value > 0 else None), None
    text = str(value).strip()
    if text.lower() in EMPTY_CELLS:
        return None, None
    try:
        number = float(text)
    except ValueError:
        return None, text
    if not number.is_integer():
        return None, text
    return (int(number) if number > 0 else None), None


def _numbers(name: str) -> tuple[int, ...]:
    return tuple(int(n) for n in _NUMBER.findall(name))


def frame_number(path: Path) -> int | None:
    nums = _NUMBER.findall(path.stem)
    return int(nums[-1]) if nums else None


def list_frame_files(folder: Path) -> list[tuple[int, Path]]:
    """(frame number, path) of a folder's images, sorted by number (leading zeros or not)."""
    out = []
    for p in folder.iterdir():
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            n = frame_number(p)
            if n is not None:
                out.append((n, p))
    out.sort(key=lambda t: (t[0], t[1].name))
    return out


def _norm_col(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclass(frozen=True)
class LeftOut:
    """A clip a reader could not use, and why."""

    dataset: str
    subject: str
    clip_id: str
    reason: str
    path: str = ""

    @property
    def message(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}{self.dataset} {self.subject}/{self.clip_id}: {self.reason}"


@dataclass
class DatasetReport:
    """What a reader found: the clips, the clips left out, and the composite's counts.

    `label_source` is "composite" (labels from the published list) or "emotion" (the
    emotion rule; the synthetic corpus, or a user's choice). `composite_missing` are the
    listed clips of this dataset that were not read (folder missing, row left out). `notes`
    say which sheet and frame folder were taken, and why.
    """

    dataset: str
    root: Path
    clips: list[Clip] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    label_source: str = "composite"
    notes: list[str] = field(default_factory=list)

    @property
    def label_counts(self) -> dict[str, int]:
        """Clips per MEGC2019 class, every class listed."""
        counts = Counter(c.label for c in self.clips if c.label)
        return {label: counts.get(label, 0) for label in LABELS}

    @property
    def composite_left_out(self) -> dict[str, int]:
        """Readable clips the composite leaves out, counted by the dataset's emotion."""
        return dict(sorted(Counter(c.emotion for c in self.clips if c.label is None).items()))

    @property
    def corrected(self) -> list[Clip]:
        """Clips whose sheet row the reader corrected (kept, with `clip.corrections`)."""
        return [c for c in self.clips if c.corrections]

    @property
    def composite_missing(self) -> list[CompositeEntry]:
        if self.label_source != "composite":
            return []
        return not_found(self.dataset, [(c.subject, c.clip_id) for c in self.clips])

    def summary(self) -> str:
        """A short Markdown table of the counts."""
        rows: list[tuple[str, object]] = [("clips read", len(self.clips))]
        source = "published list" if self.label_source == "composite" else "emotion rule"
        if self.label_source in LABEL_SOURCES:
            rows += [(f"composite {k} ({source})", v) for k, v in self.label_counts.items()]
            rows += [
                (f"left out of the composite: {k}", v) for k, v in self.composite_left_out.items()
            ]
        else:  # labels given with the clips (one's own videos): no composite to compare
            rows += [(f"{k} ({self.label_source})", v) for k, v in self.label_counts.items()]
        if self.label_source == "composite":
            missing = self.composite_missing
            shown = ", ".join(e.name for e in missing[:3]) + (" ..." if len(missing) > 3 else "")
            rows.append(("listed in the composite but not read", f"{len(missing)} {shown}".strip()))
        rows.append(("rows corrected (kept)", len(self.corrected)))
        rows.append(("left out: unreadable", len(self.left_out)))
        lines = [f"| {self.dataset} | clips |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in rows]
        return "\n".join(lines)


LABEL_SOURCES: tuple[str, ...] = ("composite", "emotion")


def clip_labels(
    dataset: str, subject: str, clip_id: str, emotion: str, source: str
) -> tuple[str | None, str | None]:
    """(label, emotion_label) of a clip: the composite label from the published list (or from
    the emotion rule when `source` is "emotion"), and the emotion rule's label."""
    by_emotion = megc2019_label(dataset, emotion) if dataset in _COMPOSITE else None
    if source == "emotion" or dataset not in COMPOSITE_DATASETS:
        return by_emotion, by_emotion  # no published list: the emotion rule
    return composite_label(dataset, subject, clip_id), by_emotion


def label_source(root: Path, labels: str | None) -> str:
    """The label source asked for, or the default: the published list, except for the
    synthetic corpus (a folder with synth.json), which no list holds."""
    synthetic = (root / "synth.json").is_file()
    if labels is None:
        return "emotion" if synthetic else "composite"
    if labels not in LABEL_SOURCES:
        raise ConfigError(
            f"unknown label source {labels!r}", hint=f"Choose one of {', '.join(LABEL_SOURCES)}."
        )
    if labels == "composite" and synthetic:
        raise ConfigError(
            "--labels composite: this is the synthetic corpus (synth.json), whose clips no "
            "published list holds (a name that matches one would be a coincidence)",
            root,
            "Leave --labels out (the synthetic corpus is labelled by its emotions), or give "
            "--labels emotion.",
        )
    return labels


def check_root(root: str | Path, dataset: str) -> Path:
    root = Path(root)
    if not root.exists():
        raise DataError(f"{dataset} root not found", root, "Check the path.")
    if not root.is_dir():
        raise DataError(f"{dataset} root is not a folder", root, "Give the dataset's folder.")
    if not any(root.iterdir()):
        raise DataError(f"{dataset} root is empty", root, "Unpack the dataset into this folder.")
    return root


# Column key -> accepted spellings (compared lower case without spaces/underscores).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "subject": ("subject", "sub", "subjectid"),
    "filename": ("filename", "file", "clip", "video"),
    "onset": ("onsetframe", "onset"),
    "apex": ("apexframe", "apex", "apexframe1"),
    "offset": ("offsetframe", "offset"),
    "aus": ("actionunits", "actionunit", "aus", "au"),
    "emotion": ("estimatedemotion", "emotion", "objectiveclass"),  # first listed wins
}


_SHOWN = {
    "casme2": {
        "subject": "Subject",
        "filename": "Filename",
        "onset": "OnsetFrame",
        "apex": "ApexFrame",
        "offset": "OffsetFrame",
        "aus": "Action Units",
        "emotion": "Estimated Emotion",
    },
    "samm": {
        "subject": "Subject",
        "filename": "Filename",
        "onset": "Onset Frame",
        "apex": "Apex Frame",
        "offset": "Offset Frame",
        "aus": "Action Units",
        "emotion": "Estimated Emotion",
    },
    "casme3": {
        "subject": "Subject",
        "filename": "Filename",
        "onset": "Onset",
        "apex": "Apex",
        "offset": "Offset",
        "aus": "AU",
        "emotion": "emotion",
    },
}


@dataclass(frozen=True)
class SheetRow:
    line: int  # the row's number in the spreadsheet (1-based, as Excel shows it)
    subject: str
    filename: str
    onset: int | None
    apex: int | None
    offset: int | None
    emotion: str
    au_cell: AUCell = field(default_factory=AUCell)
    # cells that should hold a frame number and hold text: column name -> the text
    not_numbers: tuple[tuple[str, str], ...] = ()
    apex_raw: str = ""  # the apex cell as written
    sheet: str = ""  # the sheet's name in a workbook of several sheets

    @property
    def aus(self) -> tuple[str, ...]:
        """The AUs the row codes as present (from its parsed cell)."""
        return self.au_cell.aus


def read_tables(path: Path) -> list[tuple[str, list[list[object]]]]:
    """(sheet name, rows) of every sheet of a workbook (one, unnamed, for a .csv)."""
    import pandas as pd

    try:
        if path.suffix.lower() == ".csv":
            frames = {"": pd.read_csv(path, header=None, dtype=object)}
        else:
            frames = pd.read_excel(path, header=None, dtype=object, sheet_name=None)
    except Exception as err:  # openpyxl and pandas raise many kinds
        raise DataError(
            f"cannot read the coding sheet ({err.__class__.__name__}: {err})",
            path,
            "Open it in a spreadsheet program and save it again as .xlsx.",
        ) from err
    return [
        (str(name), [list(row) for row in frame.itertuples(index=False)])
        for name, frame in frames.items()
    ]


def _header(rows: list[list[object]]) -> tuple[int, dict[str, int]]:
    """The header row's index and column of each key (the row that names the most)."""
    best, best_found = -1, {}
    for i, row in enumerate(rows[:60]):
        # each key's column: the cell of its first-listed spelling (CAS(ME)³ has both
        # "Objective class" and "emotion"; the emotion is wanted)
        found: dict[str, int] = {}
        rank: dict[str, int] = {}
        for j, cell in enumerate(row):
            name = _norm_col(cell)
            for key, names in _COLUMNS.items():
                if name in names and names.index(name) < rank.get(key, len(names)):
                    found[key], rank[key] = j, names.index(name)
        if len(found) > len(best_found):
            best, best_found = i, found
        if len(found) == len(_COLUMNS):
            break
    return best, best_found


def read_sheet(path: str | Path, dataset: str) -> list[SheetRow]:
    """The rows of a coding sheet, whatever rows stand above its header. In a workbook of
    several sheets (SAMM's has MICRO_ONLY beside others) the first sheet whose header
    has every column is read."""
    path = Path(path)
    tables = read_tables(path)
    headers = [(name, rows, *_header(rows)) for name, rows in tables]
    complete = [h for h in headers if len(h[3]) == len(_COLUMNS)]
    sheet_name, rows, best, best_found = (
        complete[0] if complete else max(headers, key=lambda h: len(h[3]))
    )
    missing = [k for k in _COLUMNS if k not in best_found]
    if missing:
        shown = _SHOWN.get(dataset, _SHOWN["casme2"])
        header = [cell_text(c) for c in rows[best]] if best >= 0 else []
        sheets = f" in any of its sheets {[n for n, _ in tables]}" if len(tables) > 1 else ""
        raise DataError(
            f"coding sheet has no column {', '.join(repr(shown[k]) for k in missing)}{sheets}"
            f" (header row found: {[h for h in header if h]})",
            path,
            f"The sheet needs the columns {', '.join(shown.values())}.",
        )
    sheet_label = sheet_name if len(tables) > 1 else ""
    out = []
    for i, row in enumerate(rows[best + 1 :], start=best + 2):

        def get(key: str, row=row) -> object:
            j = best_found[key]
            return row[j] if j < len(row) else None

        subject, filename = cell_text(get("subject")), cell_text(get("filename"))
        if not subject and not filename:
            continue  # blank line or a note below the table
        frames, bad = {}, []
        for key in ("onset", "apex", "offset"):
            frames[key], text = read_frame(get(key))
            if text is not None:
                header = rows[best][best_found[key]]
                bad.append((cell_text(header) or key, text))
        cell = parse_au_cell(get("aus"))
        out.append(
            SheetRow(
                line=i,
                subject=subject,
                filename=filename,
                onset=frames["onset"],
                apex=frames["apex"],
                offset=frames["offset"],
                emotion=cell_text(get("emotion")).lower(),
                au_cell=cell,
                not_numbers=tuple(bad),
                apex_raw=cell_text(get("apex")),
                sheet=sheet_label,
            )
        )
    if not out:
        raise DataError("coding sheet has a header but no rows", path, "Use the full sheet.")
    return out


def has_columns(dataset: str) -> Callable[[Path], bool]:
    """For `find_sheet`: whether a spreadsheet reads as `dataset`'s coding sheet."""

    def accepts(path: Path) -> bool:
        try:
            read_sheet(path, dataset)
        except DataError:
            return False
        return True

    return accepts


def match_folder(parent: Path, name: str, folders: list[Path] | None = None) -> Path | None:
    """The sub-folder of `parent` called `name`, by exact name, case, or the same numbers.

    'sub1' finds 'sub01', 'EP02_01f' finds 'EP02_01F' or 'EP02_01', '006_1_2' finds '6_1_2'.
    None when there is none, or several with the same numbers and none by name.
    """
    if folders is None:
        folders = [p for p in parent.iterdir() if p.is_dir()] if parent.is_dir() else []
    for p in folders:
        if p.name == name:
            return p
    lower = [p for p in folders if p.name.lower() == name.lower()]
    if len(lower) == 1:
        return lower[0]
    nums = _numbers(name)
    if not nums:
        return None
    same = [p for p in folders if _numbers(p.name) == nums]
    return same[0] if len(same) == 1 else None


def tree_size(folder: Path, subject_rx: re.Pattern, need: str = "frames") -> int:
    """How much of a frame tree `folder` is: its subject folders' clip folders with frames
    (`need` "frames"), any clip folders ("clips"), or its subject folders ("subjects");
    0: not a frame tree."""
    try:
        subjects = [p for p in folder.iterdir() if p.is_dir() and subject_rx.fullmatch(p.name)]
    except OSError:
        return 0
    if need == "subjects":
        return len(subjects)
    n = 0
    for sub in subjects:
        n += sum(1 for c in sub.iterdir() if c.is_dir() and (need == "clips" or has_frames(c)))
    return n


def make_clip(
    dataset: str,
    subject: str,
    clip_id: str,
    folder: Path,
    onset: int | None,
    apex: int | None,
    offset: int | None,
    emotion: str,
    au_cell: AUCell = AUCell(),
    label_source: str = "composite",
    sheet_apex: object = None,
    span: bool = False,
    where: str = "",
) -> Clip | LeftOut:
    """A Clip from a frame folder and its annotations, or why it cannot be one. With
    `span` the folder is a long video (CAS(ME)², CAS(ME)³) and the clip is its frames from
    onset to offset.

    Rules for quirky rows, recorded in `clip.corrections` (the clip is kept):
    - a missing onset (or offset) is the first (last) frame present;
    - an apex that is missing (empty, `/`, -1) or outside onset..offset is the middle
      frame, onset + (offset - onset) // 2 (MEB sets SMIC's missing apexes the same way;
      for SAMM 028_4_1 and 032_3_1 it substitutes optical-flow estimates instead).
    `sheet_apex` is what the sheet said, for the correction's wording (None: no sheet);
    `where` (the sheet and row) starts each correction.
    """

    def left(reason: str) -> LeftOut:
        return LeftOut(dataset, subject, clip_id, reason, str(folder))

    files = list_frame_files(folder)
    if not files:
        return left(
            f"no image frames ({'/'.join(IMAGE_SUFFIXES)}) in the clip folder; copy the clip's "
            "frames from the dataset again, or remove its sheet row"
        )
    numbers = [n for n, _ in files]
    if len(set(numbers)) != len(numbers):
        dup = sorted(n for n, k in Counter(numbers).items() if k > 1)[:5]
        return left(f"several files for frame number(s) {dup}; keep one image per frame")
    first, last = numbers[0], numbers[-1]
    corrections = []
    has_sheet = sheet_apex is not None
    if onset is None:
        onset = first
        if has_sheet:
            corrections.append(f"onset missing: set to the first frame {first}")
    if offset is None:
        offset = last
        if has_sheet:
            corrections.append(f"offset missing: set to the last frame {last}")
    if offset < onset:
        return left(
            f"offset frame {offset} is before onset frame {onset}; fix the clip's row in the "
            "coding sheet"
        )
    outside = [
        f"{k} {v}" for k, v in (("onset", onset), ("offset", offset)) if not first <= v <= last
    ]
    if outside:
        return left(
            f"frames missing: {', '.join(outside)} outside the frames present ({first}-{last})"
        )
    if span:
        files = [(n, p) for n, p in files if onset <= n <= offset]
        numbers = [n for n, _ in files]
        first, last = numbers[0], numbers[-1]
    have = set(numbers)
    gaps = [n for n in range(first, last + 1) if n not in have]
    if gaps:
        shown = ", ".join(map(str, gaps[:5])) + (" ..." if len(gaps) > 5 else "")
        return left(f"{len(gaps)} frame(s) missing ({shown}); restore them or remove the clip")
    middle = onset + (offset - onset) // 2
    if apex is None:
        if has_sheet:
            said = repr(cell_text(sheet_apex)) if cell_text(sheet_apex) else "empty"
            corrections.append(f"apex {said} missing: set to the middle frame {middle}")
        apex = middle
    elif not onset <= apex <= offset:
        corrections.append(
            f"apex {apex} outside onset..offset ({onset}-{offset}): set to the middle frame {middle}"
        )
        apex = middle
    label, emotion_label = clip_labels(dataset, subject, clip_id, emotion, label_source)
    return Clip(
        dataset=dataset,
        subject=subject,
        clip_id=clip_id,
        frames=tuple(p for _, p in files),
        frame_numbers=tuple(numbers),
        onset=onset,
        apex=apex,
        offset=offset,
        emotion=emotion,
        label=label,
        aus=au_cell.aus,
        emotion_label=emotion_label,
        au_cell=au_cell,
        corrections=tuple(f"{where}: {c}" if where else c for c in corrections),
    )


def _subject_dirs(frames_root: Path, rx: re.Pattern) -> dict[int, list[Path]]:
    out: dict[int, list[Path]] = {}
    for p in sorted(frames_root.iterdir()):
        m = rx.fullmatch(p.name)
        if p.is_dir() and m:
            out.setdefault(int(m.group(1)), []).append(p)
    return out


def _coverage(frames_root: Path, rows: list[SheetRow], layout: SheetLayout) -> int:
    """How many sheet rows have a clip folder under `frames_root`."""
    dirs = _subject_dirs(frames_root, re.compile(layout.subject_rx, re.IGNORECASE))
    n = 0
    for row in rows:
        number = _subject_number(row.subject, layout.subject_prefixes)
        found = dirs.get(number, []) if number is not None else []
        if len(found) == 1 and row.filename and match_folder(found[0], row.filename):
            n += 1
    return n


def _from_sheet(
    dataset: str,
    root: Path,
    sheet: Path,
    rows: list[SheetRow],
    frames_root: Path,
    subject_name: Callable[[str], str | None],
    subject_folder_rx: str,
    label_source: str = "composite",
) -> DatasetReport:
    report = DatasetReport(dataset, root, label_source=label_source)
    subject_dirs = _subject_dirs(frames_root, re.compile(subject_folder_rx, re.IGNORECASE))
    seen: set[tuple[str, str]] = set()
    for row in rows:
        subject = subject_name(row.subject)
        where = f"{sheet} [{row.sheet}] row {row.line}" if row.sheet else f"{sheet} row {row.line}"
        if subject is None:
            report.left_out.append(
                LeftOut(
                    dataset, row.subject, row.filename, f"unreadable Subject {row.subject!r}", where
                )
            )
            continue
        clip_id = row.filename
        if not clip_id:
            report.left_out.append(LeftOut(dataset, subject, "", "empty Filename", where))
            continue
        bad = [(col, text) for col, text in row.not_numbers if col.lower().find("apex") < 0]
        if bad:
            cells = ", ".join(f"{col} {text!r}" for col, text in bad)
            report.left_out.append(
                LeftOut(
                    dataset,
                    subject,
                    clip_id,
                    f"sheet row {row.line}{f' of {row.sheet}' if row.sheet else ''}: {cells} "
                    "is not a frame number; correct the cell",
                    str(sheet),
                )
            )
            continue
        if (subject, clip_id.lower()) in seen:
            report.left_out.append(LeftOut(dataset, subject, clip_id, "duplicate sheet row", where))
            continue
        seen.add((subject, clip_id.lower()))
        number = int(_NUMBER.findall(subject)[-1])
        dirs = subject_dirs.get(number, [])
        if len(dirs) != 1:
            reason = "subject folder not found" if not dirs else f"several subject folders {dirs}"
            report.left_out.append(
                LeftOut(dataset, subject, clip_id, reason, str(frames_root / subject))
            )
            continue
        folder = match_folder(dirs[0], clip_id)
        if folder is None:
            report.left_out.append(
                LeftOut(dataset, subject, clip_id, "clip folder not found", str(dirs[0] / clip_id))
            )
            continue
        result = make_clip(
            dataset,
            subject,
            clip_id,
            folder,
            row.onset,
            row.apex,
            row.offset,
            row.emotion,
            row.au_cell,
            label_source,
            sheet_apex=row.apex_raw,
            where=where,
        )
        (report.left_out if isinstance(result, LeftOut) else report.clips).append(result)
    return report


def _subject_number(text: str, prefixes: tuple[str, ...]) -> int | None:
    t = text.strip().lower()
    for prefix in prefixes:
        t = t.removeprefix(prefix)
    t = t.removesuffix(".0")
    return int(t) if t.isdigit() else None


@dataclass(frozen=True)
class SheetLayout:
    """How a sheet-coded dataset names things: its sheet, frame folders and subjects."""

    dataset: str
    title: str
    sheet_patterns: tuple[str, ...]
    frame_dirs: tuple[str, ...]  # the distributions' names, in order of preference
    subject_rx: str  # a subject folder's name; group 1 is the subject's number
    subject_prefixes: tuple[str, ...]  # stripped from the sheet's Subject cell
    subject_format: str  # the subject's name in Clip records
    example: str  # a frame path, for messages


def read_sheet_dataset(
    layout: SheetLayout, root: str | Path, labels: str | None = None
) -> DatasetReport:
    """A sheet-coded dataset: its sheet and frame tree found by content (generation.data.
    layout), then every sheet row matched to its clip folder."""
    root = check_root(root, layout.title)

    try:
        sheet = find_sheet(root, layout.sheet_patterns, has_columns(layout.dataset))
    except LookupError as err:
        raise DataError(
            f"{layout.title}: {err}", root, f"Put the dataset's coding sheet in {root}."
        ) from None
    # the synthetic corpus keeps synth.json beside its sheet
    source = label_source(sheet.path.parent, labels)
    rows = read_sheet(sheet.path, layout.dataset)
    rx = re.compile(layout.subject_rx, re.IGNORECASE)
    what = (
        f"frame folder (a folder of subject folders holding clip folders of frames, "
        f"e.g. {layout.example}; distributed as {' or '.join(layout.frame_dirs)})"
    )
    tree, first = None, None
    # a tree with frames; else clip folders without frames, or subject folders alone (read,
    # and each clip reported)
    for need in ("frames", "clips", "subjects"):
        try:
            tree = find_frame_tree(
                root,
                lambda f, need=need: tree_size(f, rx, need),
                lambda f: _coverage(f, rows, layout),
                layout.frame_dirs,
                what,
            )
            break
        except LookupError as err:
            if need == "frames":
                first = err
    if tree is None:
        raise DataError(
            f"{layout.title}: {first}", root, "Unpack the frames into the dataset root."
        ) from None

    def subject_name(text: str) -> str | None:
        n = _subject_number(text, layout.subject_prefixes)
        return layout.subject_format.format(n) if n is not None else None

    report = _from_sheet(
        layout.dataset, root, sheet.path, rows, tree.path, subject_name, layout.subject_rx, source
    )
    report.notes += [n for n in (sheet.note, tree.note) if n]
    for note in report.notes:
        log.info("%s: %s", layout.title, note)
    return report
