"""SAMM."""

from __future__ import annotations

from pathlib import Path

from generation.data.readers.common import DatasetReport, SheetLayout, read_sheet_dataset

SAMM_LAYOUT = SheetLayout(
    dataset="samm",
    title="SAMM",
    sheet_patterns=("SAMM_Micro_FACS_Codes*.xlsx", "*FACS*Codes*.xlsx", "SAMM*.csv"),
    frame_dirs=("SAMM", "SAMM_CROPPED", "SAMM_CROP", "samm"),
    subject_rx=r"0*(\d+)",
    subject_prefixes=("samm_", "samm", "s"),
    subject_format="{:03d}",
    example="SAMM/006/006_1_2/006_05562.jpg",
)


def read_samm(root: str | Path, labels: str | None = None) -> DatasetReport:
    """SAMM: the FACS-code sheet (description rows above the table) and 006/006_1_2/ frames."""
    return read_sheet_dataset(SAMM_LAYOUT, root, labels)
