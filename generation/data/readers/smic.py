"""SMIC-HS: no sheet; the class folders give the emotion."""

from __future__ import annotations

import re
from pathlib import Path

from fme.core.errors import DataError
from generation.data.layout import find_frame_tree, has_frames
from generation.data.readers.common import (
    DatasetReport,
    LeftOut,
    check_root,
    label_source,
    make_clip,
    match_folder,
)

_SMIC_CLASS = {"positive": "positive", "negative": "negative", "surprise": "surprise"}


def _smic_size(folder: Path, subject_rx: re.Pattern) -> int:
    """Clip folders with frames under `folder`/s*/micro/<class>/ (0: not an HS folder)."""
    n = 0
    for sub in (p for p in folder.iterdir() if p.is_dir() and subject_rx.fullmatch(p.name)):
        micro = match_folder(sub, "micro")
        if micro is not None:
            for cls in (p for p in micro.iterdir() if p.is_dir()):
                n += sum(1 for c in cls.iterdir() if c.is_dir() and has_frames(c))
    return n


def read_smic(root: str | Path, labels: str | None = None) -> DatasetReport:
    """SMIC-HS: HS/s1/micro/{positive,negative,surprise}/s1_po_01/image*.bmp.

    There is no sheet: the emotion is the class folder, onset and offset are the first and
    last frames, the apex the middle one, and there are no AUs.
    """
    root = check_root(root, "SMIC-HS")
    source = label_source(root, labels)
    subject_rx = re.compile(r"s0*(\d+)", re.IGNORECASE)
    try:
        found = find_frame_tree(
            root,
            lambda f: _smic_size(f, subject_rx),
            lambda f: _smic_size(f, subject_rx),
            ("HS",),
            "HS folder (subject folders holding micro/<class>/<clip>/ frames, e.g. "
            "HS/s1/micro/positive/s1_po_01/image069374.bmp)",
        )
    except LookupError as err:
        raise DataError(
            f"SMIC-HS: {err}", root, "Give the SMIC root that holds HS/ (or the HS folder itself)."
        ) from None
    hs = found.path
    report = DatasetReport("smic", root, label_source=source)
    if found.note:
        report.notes.append(found.note)
    subjects = sorted(
        (int(m.group(1)), p)
        for p in hs.iterdir()
        if p.is_dir() and (m := subject_rx.fullmatch(p.name))
    )
    for number, sdir in subjects:
        subject = f"s{number}"
        micro = match_folder(sdir, "micro")
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
                result = make_clip(
                    "smic",
                    subject,
                    clip_dir.name,
                    clip_dir,
                    None,
                    None,
                    None,
                    emotion,
                    label_source=source,
                )
                (report.left_out if isinstance(result, LeftOut) else report.clips).append(result)
    if not report.clips and not report.left_out:
        raise DataError("no clip folders under HS/s*/micro/<class>/", hs, "Check the layout.")
    return report
