"""Dataset readers: CASME II, SAMM and SMIC-HS folders -> `Clip` records.

Each reader takes a dataset root as the dataset ships it and returns a `DatasetReport`:
the readable clips (in sheet or folder order) and the clips it had to leave out, each with
the reason (folder missing, frames missing, unreadable sheet row). `read_dataset(name, root)`
returns only the clips. Clips that the MEGC2019 composite leaves out (CASME II's fear,
sadness and others; SAMM's other) are kept with `label=None` and counted by the report.

Layouts::

    CASME II  ROOT/CASME2-coding-*.xlsx       Subject, Filename, OnsetFrame, ApexFrame,
                                              OffsetFrame, Action Units, Estimated Emotion
              ROOT/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg   (or Cropped/.../reg_img46.jpg)
    SAMM      ROOT/SAMM_Micro_FACS_Codes_v2.xlsx (description rows above the table)
              ROOT/SAMM/006/006_1_2/006_05562.jpg   (or ROOT/006/...)
    SMIC-HS   ROOT/HS/s1/micro/positive/s1_po_01/image069374.bmp   (or ROOT = the HS folder)

Copies of the datasets differ; the readers accept `sub1` and `sub01`, `6` and `006`,
.jpg/.jpeg/.bmp/.png frames, frame numbers with or without leading zeros, AU strings such
as `R12+L14`, `AU4+AU7` or `4+7`, and header rows above the table. Anything else raises a
`DataError` that names the missing file, folder or column.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from generation.data.clip import LABELS, Clip
from fme.errors import ConfigError, DataError

log = logging.getLogger(__name__)

DATASETS: tuple[str, ...] = ("casme2", "samm", "smic")

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
}

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_NUMBER = re.compile(r"\d+")
_UNKNOWN = {"", "/", "-", "nan", "none", "n/a", "na", "?", "unknown"}


def dataset_name(name: str) -> str:
    """Canonical dataset name (casme2, samm, smic) of a user's spelling, or ConfigError."""
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
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


# --- small parsers -----------------------------------------------------------------------


def parse_aus(value: object) -> tuple[str, ...]:
    """AU tokens of a sheet cell: 'R12+L14' -> ('R12', 'L14'); 'AU4+AU7' or 4 -> ('4', ...).

    Side prefixes (L, R, T, B) and intensity suffixes (A-E) are kept; an 'AU' prefix, spaces
    and brackets are dropped. Empty cells, '/' and '-' give ().
    """
    if value is None:
        return ()
    if isinstance(value, float):
        if math.isnan(value):
            return ()
        if value.is_integer():
            value = int(value)
    text = str(value).strip()
    if text.lower() in _UNKNOWN:
        return ()
    tokens = []
    for raw in re.split(r"[+,;/&]|\s+", text):
        tok = re.sub(r"[()\[\]\s]", "", raw).upper()
        tok = re.sub(r"^AU", "", tok)
        tok = tok.removesuffix(".0")
        if tok:
            tokens.append(tok)
    return tuple(tokens)


def au_number(token: str) -> int | None:
    """The AU number of a token ('R12' -> 12, '4' -> 4, '12B' -> 12), None if it has none."""
    m = _NUMBER.search(token)
    return int(m.group()) if m else None


def aus_text(aus: Iterable[str]) -> str:
    """AU tokens joined as in the sheets: ('4', '7') -> '4+7'."""
    return "+".join(aus)


def parse_frame(value: object) -> int | None:
    """A sheet's frame number (46, 46.0, '046', ' 46 ') or None when unknown ('/', -1, 0)."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() and value > 0 else None
    if isinstance(value, int):
        return value if value > 0 else None
    text = str(value).strip()
    if text.lower() in _UNKNOWN:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() and number > 0 else None


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


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value).strip()


# --- the report --------------------------------------------------------------------------


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
    """What a reader found: the clips, the clips left out, and the composite's counts."""

    dataset: str
    root: Path
    clips: list[Clip] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)

    @property
    def label_counts(self) -> dict[str, int]:
        """Clips per MEGC2019 class, every class listed."""
        counts = Counter(c.label for c in self.clips if c.label)
        return {label: counts.get(label, 0) for label in LABELS}

    @property
    def composite_left_out(self) -> dict[str, int]:
        """Readable clips the composite leaves out, counted by the dataset's emotion."""
        return dict(sorted(Counter(c.emotion for c in self.clips if c.label is None).items()))

    def summary(self) -> str:
        """A short Markdown table of the counts."""
        rows = [("clips read", len(self.clips))]
        rows += [(f"composite {k}", v) for k, v in self.label_counts.items()]
        rows += [(f"left out of the composite: {k}", v) for k, v in self.composite_left_out.items()]
        rows.append(("left out: unreadable", len(self.left_out)))
        lines = [f"| {self.dataset} | clips |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in rows]
        return "\n".join(lines)


# --- shared pieces -----------------------------------------------------------------------


def _check_root(root: str | Path, dataset: str) -> Path:
    root = Path(root)
    if not root.exists():
        raise DataError(f"{dataset} root not found", root, "Check the path.")
    if not root.is_dir():
        raise DataError(f"{dataset} root is not a folder", root, "Give the dataset's folder.")
    if not any(root.iterdir()):
        raise DataError(f"{dataset} root is empty", root, "Unpack the dataset into this folder.")
    return root


def _find_sheet(root: Path, patterns: tuple[str, ...], what: str) -> Path:
    for depth in ("", "*/"):
        for pattern in patterns:
            found = sorted(
                p for p in root.glob(depth + pattern) if p.is_file() and not p.name.startswith("~$")
            )
            if found:
                return found[0]
    raise DataError(
        f"no {what} ({' or '.join(patterns)}) in this folder or one below",
        root,
        f"Put the dataset's {what} in the dataset root.",
    )


# Column key -> accepted spellings (compared lower case without spaces/underscores).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "subject": ("subject", "sub", "subjectid"),
    "filename": ("filename", "file", "clip", "video"),
    "onset": ("onsetframe", "onset"),
    "apex": ("apexframe", "apex", "apexframe1"),
    "offset": ("offsetframe", "offset"),
    "aus": ("actionunits", "actionunit", "aus", "au"),
    "emotion": ("estimatedemotion", "emotion", "objectiveclass"),
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
}


@dataclass(frozen=True)
class SheetRow:
    line: int  # the row's number in the spreadsheet (1-based, as Excel shows it)
    subject: str
    filename: str
    onset: int | None
    apex: int | None
    offset: int | None
    aus: tuple[str, ...]
    emotion: str
    #: frame cells that are neither a number nor a "not known" mark ("OnsetFrame 'abc'")
    bad_frames: tuple[str, ...] = ()


def _not_a_frame(value: object) -> bool:
    """A cell that is text other than a number or an "unknown" mark (`abc`, not `/` or 46)."""
    text = _cell(value).strip()
    if parse_frame(value) is not None or text.lower() in _UNKNOWN:
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


def _read_table(path: Path) -> list[list[object]]:
    import pandas as pd

    try:
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(path, header=None, dtype=object)
        else:
            frame = pd.read_excel(path, header=None, dtype=object)
    except Exception as err:  # openpyxl and pandas raise many kinds
        raise DataError(
            f"cannot read the coding sheet ({err.__class__.__name__}: {err})",
            path,
            "Open it in a spreadsheet program and save it again as .xlsx.",
        ) from err
    return [list(row) for row in frame.itertuples(index=False)]


def read_sheet(path: str | Path, dataset: str) -> list[SheetRow]:
    """The rows of a coding sheet, whatever rows stand above its header."""
    path = Path(path)
    rows = _read_table(path)
    wanted = {key: set(names) for key, names in _COLUMNS.items()}
    best, best_found = -1, {}
    for i, row in enumerate(rows[:60]):
        found: dict[str, int] = {}
        for j, cell in enumerate(row):
            name = _norm_col(cell)
            for key, names in wanted.items():
                if key not in found and name in names:
                    found[key] = j
        if len(found) > len(best_found):
            best, best_found = i, found
        if len(found) == len(wanted):
            break
    missing = [k for k in _COLUMNS if k not in best_found]
    if missing:
        shown = _SHOWN.get(dataset, _SHOWN["casme2"])
        header = [_cell(c) for c in rows[best]] if best >= 0 else []
        raise DataError(
            f"coding sheet has no column {', '.join(repr(shown[k]) for k in missing)}"
            f" (header row found: {[h for h in header if h]})",
            path,
            f"The sheet needs the columns {', '.join(shown.values())}.",
        )
    out = []
    for i, row in enumerate(rows[best + 1 :], start=best + 2):

        def get(key: str, row=row) -> object:
            j = best_found[key]
            return row[j] if j < len(row) else None

        subject, filename = _cell(get("subject")), _cell(get("filename"))
        if not subject and not filename:
            continue  # blank line or a note below the table
        shown = _SHOWN.get(dataset, _SHOWN["casme2"])
        bad = tuple(
            f"{shown[k]} {_cell(get(k))!r}"
            for k in ("onset", "apex", "offset")
            if _not_a_frame(get(k))
        )
        out.append(
            SheetRow(
                line=i,
                subject=subject,
                filename=filename,
                onset=parse_frame(get("onset")),
                apex=parse_frame(get("apex")),
                offset=parse_frame(get("offset")),
                aus=parse_aus(get("aus")),
                emotion=_cell(get("emotion")).lower(),
                bad_frames=bad,
            )
        )
    if not out:
        raise DataError("coding sheet has a header but no rows", path, "Use the full sheet.")
    return out


def _match_folder(parent: Path, name: str, folders: list[Path] | None = None) -> Path | None:
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


def _frames_root(root: Path, names: tuple[str, ...], looks_right: Callable[[Path], bool]) -> Path:
    candidates = []
    for name in names:
        candidates += [root / name, root / name / name]
    candidates.append(root)
    candidates += sorted(p for p in root.iterdir() if p.is_dir())
    for c in candidates:
        if c.is_dir() and looks_right(c):
            return c
    raise DataError(
        f"no frame folder ({' or '.join(names)}) with subject folders",
        root,
        "Unpack the frames into the dataset root.",
    )


def _has_subfolder(pattern: str) -> Callable[[Path], bool]:
    rx = re.compile(pattern, re.IGNORECASE)
    return lambda folder: any(p.is_dir() and rx.fullmatch(p.name) for p in folder.iterdir())


def _make_clip(
    dataset: str,
    subject: str,
    clip_id: str,
    folder: Path,
    onset: int | None,
    apex: int | None,
    offset: int | None,
    emotion: str,
    aus: tuple[str, ...],
) -> Clip | LeftOut:
    """A Clip from a frame folder and its annotations, or why it cannot be one."""

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
    onset = first if onset is None else onset
    offset = last if offset is None else offset
    if offset < onset:
        return left(
            f"offset frame {offset} is before onset frame {onset}; fix the clip's row in the "
            "coding sheet"
        )
    wanted = {"onset": onset, "offset": offset}
    if apex is not None:
        wanted["apex"] = apex
    outside = [f"{k} {v}" for k, v in wanted.items() if not first <= v <= last]
    if outside:
        return left(
            f"frames missing: {', '.join(outside)} outside the frames present ({first}-{last})"
        )
    have = set(numbers)
    gaps = [n for n in range(first, last + 1) if n not in have]
    if gaps:
        shown = ", ".join(map(str, gaps[:5])) + (" ..." if len(gaps) > 5 else "")
        return left(f"{len(gaps)} frame(s) missing ({shown}); restore them or remove the clip")
    if apex is None:  # unknown apex: the middle frame between onset and offset
        apex = onset + (offset - onset) // 2
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
        label=megc2019_label(dataset, emotion),
        aus=aus,
    )


def _from_sheet(
    dataset: str,
    root: Path,
    sheet: Path,
    frames_root: Path,
    subject_name: Callable[[str], str | None],
    subject_folder_rx: str,
) -> DatasetReport:
    report = DatasetReport(dataset, root)
    rows = read_sheet(sheet, dataset)
    rx = re.compile(subject_folder_rx, re.IGNORECASE)
    subject_dirs: dict[int, list[Path]] = {}
    for p in sorted(frames_root.iterdir()):
        m = rx.fullmatch(p.name)
        if p.is_dir() and m:
            subject_dirs.setdefault(int(m.group(1)), []).append(p)
    seen: set[tuple[str, str]] = set()
    for row in rows:
        subject = subject_name(row.subject)
        where = f"{sheet} row {row.line}"
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
        if (subject, clip_id.lower()) in seen:
            report.left_out.append(LeftOut(dataset, subject, clip_id, "duplicate sheet row", where))
            continue
        seen.add((subject, clip_id.lower()))
        if row.bad_frames:
            reason = f"{', '.join(row.bad_frames)} is not a frame number; fix the sheet row"
            report.left_out.append(LeftOut(dataset, subject, clip_id, reason, where))
            continue
        number = int(_NUMBER.findall(subject)[-1])
        dirs = subject_dirs.get(number, [])
        if len(dirs) != 1:
            reason = "subject folder not found" if not dirs else f"several subject folders {dirs}"
            report.left_out.append(
                LeftOut(dataset, subject, clip_id, reason, str(frames_root / subject))
            )
            continue
        folder = _match_folder(dirs[0], clip_id)
        if folder is None:
            report.left_out.append(
                LeftOut(dataset, subject, clip_id, "clip folder not found", str(dirs[0] / clip_id))
            )
            continue
        result = _make_clip(
            dataset, subject, clip_id, folder, row.onset, row.apex, row.offset, row.emotion, row.aus
        )
        (report.left_out if isinstance(result, LeftOut) else report.clips).append(result)
    return report


def _subject_number(text: str, prefixes: tuple[str, ...]) -> int | None:
    t = text.strip().lower()
    for prefix in prefixes:
        t = t.removeprefix(prefix)
    t = t.removesuffix(".0")
    return int(t) if t.isdigit() else None


# --- the readers -------------------------------------------------------------------------


def read_casme2(root: str | Path) -> DatasetReport:
    """CASME II (and the synthetic corpus): coding sheet plus RAW_selected or Cropped frames."""
    root = _check_root(root, "CASME II")
    sheet = _find_sheet(
        root, ("CASME2-coding-*.xlsx", "CASME2*coding*.xlsx", "CASME2*.csv"), "coding sheet"
    )
    frames_root = _frames_root(
        root,
        ("CASME2_RAW_selected", "CASME2-RAW-selected", "Cropped", "CASME2_RAW", "CASME2-RAW"),
        _has_subfolder(r"sub0*\d+"),
    )

    def subject_name(text: str) -> str | None:
        n = _subject_number(text, ("sub",))
        return f"sub{n:02d}" if n is not None else None

    return _from_sheet("casme2", root, sheet, frames_root, subject_name, r"sub0*(\d+)")


def read_samm(root: str | Path) -> DatasetReport:
    """SAMM: the FACS-code sheet (description rows above the table) and 006/006_1_2/ frames."""
    root = _check_root(root, "SAMM")
    sheet = _find_sheet(
        root, ("SAMM_Micro_FACS_Codes*.xlsx", "*FACS*Codes*.xlsx", "SAMM*.csv"), "FACS code sheet"
    )
    frames_root = _frames_root(root, ("SAMM", "SAMM_CROPPED", "samm"), _has_subfolder(r"0*\d+"))

    def subject_name(text: str) -> str | None:
        n = _subject_number(text, ("samm_", "samm", "s"))
        return f"{n:03d}" if n is not None else None

    return _from_sheet("samm", root, sheet, frames_root, subject_name, r"0*(\d+)")


_SMIC_CLASS = {"positive": "positive", "negative": "negative", "surprise": "surprise"}


def read_smic(root: str | Path) -> DatasetReport:
    """SMIC-HS: HS/s1/micro/{positive,negative,surprise}/s1_po_01/image*.bmp.

    There is no sheet: the emotion is the class folder, onset and offset are the first and
    last frames, the apex the middle one, and there are no AUs.
    """
    root = _check_root(root, "SMIC-HS")
    subject_rx = re.compile(r"s0*(\d+)", re.IGNORECASE)
    is_hs = _has_subfolder(r"s0*\d+")
    hs = None
    for c in (root / "HS", root / "SMIC" / "HS", root / "SMIC_all_raw" / "HS", root):
        if c.is_dir() and is_hs(c):
            hs = c
            break
    if hs is None:
        found = sorted(p for p in root.glob("*/HS") if p.is_dir() and is_hs(p))
        if not found:
            raise DataError(
                "no HS folder with subject folders (HS/s1/micro/positive/...)",
                root,
                "Give the SMIC root that holds HS/ (or the HS folder itself).",
            )
        hs = found[0]
    report = DatasetReport("smic", root)
    subjects = sorted(
        (int(m.group(1)), p)
        for p in hs.iterdir()
        if p.is_dir() and (m := subject_rx.fullmatch(p.name))
    )
    for number, sdir in subjects:
        subject = f"s{number}"
        micro = _match_folder(sdir, "micro")
        if micro is None:
            report.left_out.append(LeftOut("smic", subject, "", "no micro/ folder", str(sdir)))
            continue
        for cdir in sorted(p for p in micro.iterdir() if p.is_dir()):
            emotion = _SMIC_CLASS.get(cdir.name.lower())
            if emotion is None:
                report.left_out.append(
                    LeftOut(
                        "smic",
                        subject,
                        cdir.name,
                        "class folder is not positive, negative or surprise",
                        str(cdir),
                    )
                )
                continue
            for clip_dir in sorted(p for p in cdir.iterdir() if p.is_dir()):
                result = _make_clip(
                    "smic", subject, clip_dir.name, clip_dir, None, None, None, emotion, ()
                )
                (report.left_out if isinstance(result, LeftOut) else report.clips).append(result)
    if not report.clips and not report.left_out:
        raise DataError("no clip folders under HS/s*/micro/<class>/", hs, "Check the layout.")
    return report


READERS: dict[str, Callable[[str | Path], DatasetReport]] = {
    "casme2": read_casme2,
    "samm": read_samm,
    "smic": read_smic,
}


def read_dataset_report(name: str, root: str | Path) -> DatasetReport:
    """Clips and left-out clips of a dataset root; DataError when nothing can be read."""
    dataset = dataset_name(name)
    report = READERS[dataset](root)
    if not report.clips:
        first = "; ".join(x.message for x in report.left_out[:3])
        raise DataError(
            f"no readable {dataset} clips ({len(report.left_out)} left out: {first})",
            root,
            "Check the layout against the dataset's documentation.",
        )
    return report


def read_dataset(name: str, root: str | Path) -> list[Clip]:
    """The readable clips of a dataset (casme2, samm, smic); left-out clips are logged."""
    report = read_dataset_report(name, root)
    for x in report.left_out:
        log.warning("left out: %s", x.message)
    return report.clips
