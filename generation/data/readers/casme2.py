"""CASME II (and the synthetic corpus, written in its layout)."""

from __future__ import annotations

from pathlib import Path

from generation.data.readers.common import DatasetReport, SheetLayout, read_sheet_dataset

CASME2_LAYOUT = SheetLayout(
    dataset="casme2",
    title="CASME II",
    sheet_patterns=("CASME2-coding-*.xlsx", "CASME2*coding*.xlsx", "CASME2*.csv"),
    frame_dirs=(
        "CASME2_RAW_selected",
        "CASME2-RAW-selected",
        "Cropped",
        "CASME2_RAW",
        "CASME2-RAW",
    ),
    subject_rx=r"sub0*(\d+)",
    subject_prefixes=("sub",),
    subject_format="sub{:02d}",
    example="CASME2_RAW_selected/sub01/EP02_01f/img46.jpg",
)


def read_casme2(root: str | Path, labels: str | None = None) -> DatasetReport:
    """CASME II (and the synthetic corpus): coding sheet plus RAW_selected, Cropped or RAW
    frames, found up to three levels below `root`.

    `labels`: "composite" (the published list), "emotion" (the emotion rule) or None (the
    list, except for the synthetic corpus)."""
    return read_sheet_dataset(CASME2_LAYOUT, root, labels)
