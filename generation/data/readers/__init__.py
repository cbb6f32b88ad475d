"""Dataset readers: CASME II, SAMM and SMIC-HS folders -> `Clip` records.

Each reader takes a dataset root as the dataset ships it and returns a `DatasetReport`:
the readable clips (in sheet or folder order), the clips it had to leave out, each with
the reason (folder missing, frames missing, unreadable sheet row), and notes on the
choices it made. `read_dataset(name, root)` returns only the clips.

Labels: a clip's `label` is the published MEGC2019 composite list's
(`generation.data.composite`), None for clips the list leaves out; `emotion_label` is what
the dataset's emotion gives by the composite's rule (`megc2019_label`). The synthetic
corpus (a root with `synth.json`) is labelled by the emotion rule; `labels="emotion"` asks
for that rule on any dataset.

Layouts (the sheet and the frame tree are found by content up to three levels below the
root, `generation.data.layout`; the names below are the distributions')::

    CASME II  CASME2-coding-*.xlsx            Subject, Filename, OnsetFrame, ApexFrame,
                                              OffsetFrame, Action Units, Estimated Emotion
              CASME2_RAW_selected/sub01/EP02_01f/img46.jpg   (or Cropped/.../reg_img46.jpg,
              Cropped-updated/Cropped/..., CASME2_RAW/CASME2-RAW/sub01/EP02_01f/img1.jpg)
    SAMM      SAMM_Micro_FACS_Codes_v2.xlsx (description rows above the table; in a
              workbook of several sheets, the one with the columns, e.g. MICRO_ONLY)
              SAMM/006/006_1_2/006_05562.jpg   (or 006/... anywhere below the root)
    SMIC-HS   HS/s1/micro/positive/s1_po_01/image069374.bmp   (or ROOT = the HS folder)

Copies of the datasets differ; the readers accept `sub1` and `sub01`, `6` and `006`,
.jpg/.jpeg/.bmp/.png frames, frame numbers with or without leading zeros, header rows above
the table, and the FACS grammar of the sheets (`generation.data.facs`). Quirky rows are
kept and corrected by a stated rule (`generation.data.readers.common.make_clip`), listed in `clip.corrections`; an onset
or offset cell that is not a number leaves the clip out with the sheet row named. Anything
else raises a `DataError` that names the missing file, folder or column and what was
searched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from fme.core.errors import DataError
from generation.data.clip import Clip, dataset_fps
from generation.data.readers.casme2 import CASME2_LAYOUT, read_casme2
from generation.data.readers.casme3 import read_casme3
from generation.data.readers.casme_sq import read_casme_sq
from generation.data.readers.common import (
    DATASETS,
    LABEL_SOURCES,
    DatasetReport,
    LeftOut,
    SheetLayout,
    SheetRow,
    au_number,
    aus_text,
    check_root,
    clip_labels,
    dataset_name,
    frame_number,
    has_columns,
    label_source,
    list_frame_files,
    make_clip,
    match_folder,
    megc2019_label,
    parse_aus,
    parse_frame,
    read_frame,
    read_sheet,
    read_sheet_dataset,
    read_tables,
    tree_size,
)
from generation.data.readers.samm import SAMM_LAYOUT, read_samm
from generation.data.readers.smic import read_smic

__all__ = [
    "CASME2_LAYOUT",
    "DATASETS",
    "DatasetReport",
    "LABEL_SOURCES",
    "LeftOut",
    "READERS",
    "SAMM_LAYOUT",
    "SheetLayout",
    "SheetRow",
    "au_number",
    "aus_text",
    "check_root",
    "clip_labels",
    "dataset_name",
    "frame_number",
    "has_columns",
    "label_source",
    "list_frame_files",
    "make_clip",
    "match_folder",
    "megc2019_label",
    "parse_aus",
    "parse_frame",
    "read_casme2",
    "read_casme3",
    "read_casme_sq",
    "read_dataset",
    "read_dataset_report",
    "read_frame",
    "read_samm",
    "read_sheet",
    "read_sheet_dataset",
    "read_smic",
    "read_tables",
    "tree_size",
]

log = logging.getLogger(__name__)

READERS: dict[str, Callable[..., DatasetReport]] = {
    "casme2": read_casme2,
    "samm": read_samm,
    "smic": read_smic,
    "casme_sq": read_casme_sq,
    "casme3": read_casme3,
}


def read_dataset_report(name: str, root: str | Path, labels: str | None = None) -> DatasetReport:
    """Clips and left-out clips of a dataset root; DataError when nothing can be read.
    `labels` as in `read_casme2`."""
    dataset = dataset_name(name)
    report = READERS[dataset](root, labels)
    rate = dataset_fps(dataset, root)
    if rate is not None:
        report.clips = [c if c.fps else replace(c, fps=rate) for c in report.clips]
    if not report.clips:
        first = "; ".join(x.message for x in report.left_out[:3])
        raise DataError(
            f"no readable {dataset} clips ({len(report.left_out)} left out: {first})",
            root,
            "Check the layout against the dataset's documentation.",
        )
    return report


def read_dataset(name: str, root: str | Path, labels: str | None = None) -> list[Clip]:
    """The readable clips of a dataset (casme2, samm, smic); left-out clips are logged."""
    report = read_dataset_report(name, root, labels)
    for x in report.left_out:
        log.warning("left out: %s", x.message)
    return report.clips
