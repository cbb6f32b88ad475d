"""CAS(ME)³ part A micro-expressions -> `Clip` records.

As the distribution and MEB's `Casme3` loader (tvaranka/meb, `meb/datasets/datasets.py`)
have it::

    cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx   Subject, Filename, Onset, Apex, Offset, AU,
                                                Objective class, emotion (one row per ME)
    part_A/spNO.1/a/color/1.jpg ...             the task video's colour frames (depth/ beside)

Onset, apex and offset are indices of the jpg frames of the task video (`JpgIndex`); a clip
is its frames from onset to offset. A task video holds several MEs: rows with the same
Subject and Filename become clips `a`, `a2`, `a3`, ... in sheet order (MEB's naming), each
read from `a2/` when a copy has split the clips into their own folders, else from `a/`.
The folder holding the frames may be `color/` inside the task folder (the distribution) or
the task folder itself (cropped copies).

Labels: CAS(ME)³ is not in the MEGC2019 composite; its seven emotions map to the composite's
three as MEGC2019 maps CASME II's and SAMM's: happy -> positive; disgust, fear, anger, sad ->
negative; surprise -> surprise; others -> left out (`label` None).
"""

from __future__ import annotations

import re
from pathlib import Path

from fme.core.errors import DataError
from generation.data.layout import find_frame_tree, find_sheet, has_frames
from generation.data.readers.common import (
    DatasetReport,
    LeftOut,
    check_root,
    has_columns,
    make_clip,
    match_folder,
    read_sheet,
)

SHEET_PATTERNS = (
    "cas(me)3_part_A_ME_label*.xlsx",
    "*part_A*ME*label*.xlsx",
    "cas(me)3*.xlsx",
    "casme3*.xlsx",
)
SUBJECT_RX = re.compile(r"spNO\.?0*(\d+)", re.IGNORECASE)
FRAME_DIRS = ("part_A", "ME_A", "ME_A_cropped", "data")


def _frames_of(task: Path) -> Path | None:
    """The folder of a task's frames: color/ inside it, or the folder itself."""
    color = match_folder(task, "color")
    if color is not None and has_frames(color):
        return color
    return task if has_frames(task) else None


def _tree_size(folder: Path) -> int:
    try:
        subjects = [p for p in folder.iterdir() if p.is_dir() and SUBJECT_RX.fullmatch(p.name)]
    except OSError:
        return 0
    return sum(1 for s in subjects for t in s.iterdir() if t.is_dir() and _frames_of(t))


def read_casme3(root: str | Path, labels: str | None = None) -> DatasetReport:
    """CAS(ME)³ part A (micro-expressions): the label sheet and the spNO.* frame folders,
    found up to three levels below `root`. `labels` is accepted for symmetry with the other
    readers; CAS(ME)³ has no published list, so the emotion rule labels it."""
    root = check_root(root, "CAS(ME)³")

    try:
        sheet = find_sheet(root, SHEET_PATTERNS, has_columns("casme3"))
        tree = find_frame_tree(
            root,
            _tree_size,
            _tree_size,
            FRAME_DIRS,
            "frame folder (spNO.<n> subject folders holding task folders of frames, e.g. "
            "part_A/spNO.1/a/color/1.jpg)",
        )
    except LookupError as err:
        raise DataError(f"CAS(ME)³: {err}", root, "Unpack part A into this folder.") from None
    rows = read_sheet(sheet.path, "casme3")
    report = DatasetReport("casme3", root, label_source="emotion")
    report.notes += [n for n in (sheet.note, tree.note) if n]
    subjects: dict[int, Path] = {}
    for p in sorted(tree.path.iterdir()):
        m = SUBJECT_RX.fullmatch(p.name)
        if p.is_dir() and m:
            subjects.setdefault(int(m.group(1)), p)
    repeats: dict[tuple[str, str], int] = {}
    for row in rows:
        where = f"{sheet.path} row {row.line}"
        m = SUBJECT_RX.fullmatch(row.subject.strip()) or re.fullmatch(r"0*(\d+)", row.subject)
        if m is None:
            report.left_out.append(
                LeftOut(
                    "casme3",
                    row.subject,
                    row.filename,
                    f"unreadable Subject {row.subject!r}",
                    where,
                )
            )
            continue
        number = int(m.group(1))
        subject = f"spNO.{number}"
        task = row.filename.strip()
        k = repeats.get((subject, task.lower()), 0) + 1
        repeats[(subject, task.lower())] = k
        clip_id = task if k == 1 else f"{task}{k}"
        bad = [(c, t) for c, t in row.not_numbers if "apex" not in c.lower()]
        if bad:
            cells = ", ".join(f"{c} {t!r}" for c, t in bad)
            report.left_out.append(
                LeftOut(
                    "casme3",
                    subject,
                    clip_id,
                    f"sheet row {row.line}: {cells} is not a frame number; correct the cell",
                    str(sheet.path),
                )
            )
            continue
        sdir = subjects.get(number)
        if sdir is None:
            report.left_out.append(
                LeftOut("casme3", subject, clip_id, "subject folder not found", str(tree.path))
            )
            continue
        tdir = (match_folder(sdir, clip_id) if k > 1 else None) or match_folder(sdir, task)
        frames = _frames_of(tdir) if tdir is not None else None
        if frames is None:
            report.left_out.append(
                LeftOut("casme3", subject, clip_id, "task folder not found", str(sdir / task))
            )
            continue
        result = make_clip(
            "casme3",
            subject,
            clip_id,
            frames,
            row.onset,
            row.apex,
            row.offset,
            row.emotion,
            row.au_cell,
            "emotion",
            sheet_apex=row.apex_raw,
            span=True,
            where=where,
        )
        (report.left_out if isinstance(result, LeftOut) else report.clips).append(result)
    return report
