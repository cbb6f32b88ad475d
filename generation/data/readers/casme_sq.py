"""CAS(ME)² part A micro-expressions -> `Clip` records.

As the distribution has it (and as MEAN's loader, genbing99/MEAN_Spot-then-recognize
`load_excel.py` / `load_images.py`, reads it)::

    CAS(ME)^2code_final.xlsx      sheet 1, no header: subject number, expression name
                                  (`disgust1_1`: the first expression of video `disgust1`),
                                  onset, apex, offset, AUs, emotion type (positive,
                                  negative, surprise, others), expression type
                                  (micro-expression, macro-expression), self-reported emotion
                                  sheet 2: the subjects' folder codes (column 2: the folder
                                  code, e.g. 15; column 3: the subject number of sheet 1)
                                  sheet 3: the videos' codes (column 1: code `0101`;
                                  column 2: the video name, `disgust1`)
    rawpic/s15/15_0101disgustingteeth/img1.jpg ...   every frame of each long video
                                  (or rawpic_crop/, cropped copies)

Only micro-expressions are read (part A's macro-expressions are counted in a note). A clip
is its video's frames from onset to offset; its id is the expression name (`disgust1_1`),
its subject the folder (`s15`).

Labels: CAS(ME)² is not in the MEGC2019 composite; its emotion types positive, negative and
surprise are the composite's three classes (as SMIC's are), others is left out.
"""

from __future__ import annotations

import re
from pathlib import Path

from fme.core.errors import DataError
from generation.data.facs import cell_text, parse_au_cell
from generation.data.layout import find_frame_tree, find_sheet
from generation.data.readers.common import (
    DatasetReport,
    LeftOut,
    check_root,
    make_clip,
    read_frame,
    read_tables,
    tree_size,
)

SHEET_PATTERNS = ("CAS(ME)^2code_final*.xlsx", "*code_final*.xlsx", "CAS(ME)*code*.xlsx")
SUBJECT_RX = r"s0*(\d+)"
FRAME_DIRS = ("rawpic", "rawpic_crop", "rawpic_aligned", "selectedpic")
MICRO = "micro"


def _int(value: object) -> int | None:
    text = cell_text(value)
    return int(text) if text.isdigit() else None


def _naming(tables, index: int, key_col: int, value_col: int, what: str, path: Path):
    if len(tables) <= index:
        raise DataError(
            f"CAS(ME)² sheet has no sheet {index + 1} ({what})",
            path,
            "Use the code_final workbook as distributed, with its naming sheets.",
        )
    out = {}
    for row in tables[index][1]:
        if len(row) > max(key_col, value_col):
            key, value = cell_text(row[key_col]), cell_text(row[value_col])
            if key and value:
                out[key.lower()] = value
    return out


def read_casme_sq(root: str | Path, labels: str | None = None) -> DatasetReport:
    """CAS(ME)² part A (micro-expressions): code_final sheet and rawpic frames, found up to
    three levels below `root`. `labels` is accepted for symmetry; the emotion type labels."""
    root = check_root(root, "CAS(ME)²")
    rx = re.compile(SUBJECT_RX, re.IGNORECASE)
    try:
        sheet = find_sheet(root, SHEET_PATTERNS, lambda p: False)
        tree = find_frame_tree(
            root,
            lambda f: tree_size(f, rx),
            lambda f: tree_size(f, rx),
            FRAME_DIRS,
            "frame folder (s<code> subject folders holding video folders of frames, e.g. "
            "rawpic/s15/15_0101disgustingteeth/img1.jpg)",
        )
    except LookupError as err:
        raise DataError(f"CAS(ME)²: {err}", root, "Unpack CAS(ME)² into this folder.") from None
    tables = read_tables(sheet.path)
    # sheet 2: subject number -> folder code; sheet 3: video name -> video code
    subject_codes = _naming(tables, 1, 2, 1, "subject codes", sheet.path)
    video_codes = _naming(tables, 2, 1, 0, "video codes", sheet.path)
    report = DatasetReport("casme_sq", root, label_source="emotion")
    report.notes += [n for n in (sheet.note, tree.note) if n]
    subjects = {}
    for p in sorted(tree.path.iterdir()):
        m = rx.fullmatch(p.name)
        if p.is_dir() and m:
            subjects[int(m.group(1))] = p
    macro, seen = 0, set()
    for i, row in enumerate(tables[0][1], start=1):
        cells = [cell_text(c) for c in row] + [""] * 9
        if _int(row[0]) is None:  # a header or a note line
            continue
        where = f"{sheet.path} row {i}"
        if MICRO not in cells[7].lower():
            macro += 1
            continue
        number, name = _int(row[0]), cells[1]
        code = subject_codes.get(str(number))
        subject = f"s{code}" if code else f"subject {number}"
        frames = {}
        bad = []
        for col, key in ((2, "onset"), (3, "apex"), (4, "offset")):
            frames[key], text = read_frame(row[col] if col < len(row) else None)
            if text is not None and key != "apex":
                bad.append(f"{key} {text!r}")
        if bad:
            report.left_out.append(
                LeftOut(
                    "casme_sq",
                    subject,
                    name,
                    f"sheet row {i}: {', '.join(bad)} is not a frame number; correct the cell",
                    str(sheet.path),
                )
            )
            continue
        if code is None or not code.isdigit():
            report.left_out.append(
                LeftOut("casme_sq", subject, name, "subject number not in sheet 2", where)
            )
            continue
        video = video_codes.get(name.split("_")[0].lower())
        sdir = subjects.get(int(code))
        folder = None
        if sdir is not None and video is not None:
            prefix = f"{int(code)}_{video}".lower()
            hits = [
                p
                for p in sorted(sdir.iterdir())
                if p.is_dir() and p.name.lower().startswith(prefix)
            ]
            folder = hits[0] if len(hits) == 1 else None
        if folder is None:
            why = "video name not in sheet 3" if video is None else "video folder not found"
            report.left_out.append(LeftOut("casme_sq", subject, name, why, str(sdir or tree.path)))
            continue
        clip_id = name if (subject, name) not in seen else f"{name}_{i}"
        seen.add((subject, name))
        au = row[5] if len(row) > 5 else None  # NaN and None parse as an empty cell
        result = make_clip(
            "casme_sq",
            subject,
            clip_id,
            folder,
            frames["onset"],
            frames["apex"],
            frames["offset"],
            cells[6].lower(),
            parse_au_cell(au),
            "emotion",
            sheet_apex=cells[3],
            span=True,
            where=where,
        )
        (report.left_out if isinstance(result, LeftOut) else report.clips).append(result)
    if macro:
        report.notes.append(f"{macro} macro-expression rows skipped (micro-expressions only)")
    return report
