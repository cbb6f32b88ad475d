"""Small dataset trees for the reader and preparation tests.

Each writer makes a dataset root in the layout the real dataset ships, with tiny images
(8x8, their gray value = the frame number mod 256, so order can be checked) and a coding
sheet written with pandas/openpyxl. Options give the awkward variants copies differ in.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

CASME2_COLUMNS = [
    "Subject",
    "Filename",
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    "Action Units",
    "Estimated Emotion",
]
SAMM_COLUMNS = [
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset Frame",
    "Apex Frame",
    "Offset Frame",
    "Duration",
    "Type",
    "Action Units",
    "Notes",
    "Estimated Emotion",
]


@dataclass(frozen=True)
class Row:
    """One clip of a fixture: subject number, clip name, frame range, annotations."""

    subject: int
    clip: str
    first: int
    last: int
    onset: object
    apex: object
    offset: object
    aus: object
    emotion: str


def tiny_image(path: Path, value: int, size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value % 256, dtype=np.uint8)).save(path)
    return path


def write_frames(folder: Path, numbers, name, skip=()) -> list[Path]:
    """Frames `name(n)` for n in numbers (skipping `skip`); returns the paths written."""
    paths = []
    for n in numbers:
        if n not in skip:
            paths.append(tiny_image(folder / name(n), n))
    return paths


CASME2_ROWS = (
    Row(1, "EP02_01f", 46, 58, 46, 51, 58, "4+7", "disgust"),
    Row(1, "EP03_02", 8, 15, 8, "/", 15, "R12+L14", "happiness"),
    Row(2, "EP01_11f", 95, 103, 95, 99, 103, 12.0, "repression"),
    Row(2, "EP06_01", 1, 6, 1, 3, 6, "AU1+AU2", "surprise"),
    Row(3, "EP07_04", 20, 25, 20, 22, 25, "", "fear"),
    Row(3, "EP09_05", 30, 34, 30, 32, 34, "4", "others"),
)


def write_casme2(
    root: Path,
    rows: tuple[Row, ...] = CASME2_ROWS,
    subject_folder: str = "sub{:02d}",
    sheet_subject: str = "{:02d}",
    frames_dir: str = "CASME2_RAW_selected",
    frame_name: str = "img{}.jpg",
    columns: list[str] | None = None,
    sheet_name: str = "CASME2-coding-20140508.xlsx",
) -> Path:
    """A CASME II root: coding sheet and `frames_dir/subXX/<clip>/img<N>.jpg`."""
    root.mkdir(parents=True, exist_ok=True)
    for r in rows:
        folder = root / frames_dir / subject_folder.format(r.subject) / r.clip
        write_frames(folder, range(r.first, r.last + 1), frame_name.format)
    columns = columns or CASME2_COLUMNS
    table = [
        [sheet_subject.format(r.subject), r.clip, r.onset, r.apex, r.offset, r.aus, r.emotion]
        for r in rows
    ]
    pd.DataFrame(table, columns=columns).to_excel(root / sheet_name, index=False)
    return root


SAMM_ROWS = (
    Row(6, "006_1_2", 5562, 5570, 5563, 5566, 5569, "R12+R15", "Contempt"),
    Row(6, "006_5_1", 1023, 1030, 1024, 1027, 1030, "4+7", "Anger"),
    Row(7, "007_7_1", 880, 888, 881, 884, 887, "1+2+5", "Surprise"),
    Row(11, "011_2_3", 200, 205, 200, -1, 205, "12", "Happiness"),
    Row(11, "011_3_1", 300, 304, 300, 302, 304, "", "Other"),
)


def write_samm(
    root: Path,
    rows: tuple[Row, ...] = SAMM_ROWS,
    header_rows: int = 13,
    frames_dir: str = "SAMM",
    ext: str = ".jpg",
    pad: int = 5,
) -> Path:
    """A SAMM root: the FACS-code sheet with `header_rows` description rows above the table,
    and `SAMM/006/006_1_2/006_05562.jpg` frames."""
    root.mkdir(parents=True, exist_ok=True)
    for r in rows:
        sub = f"{r.subject:03d}"
        folder = root / frames_dir / sub / r.clip
        write_frames(folder, range(r.first, r.last + 1), lambda n, s=sub: f"{s}_{n:0{pad}d}{ext}")
    width = len(SAMM_COLUMNS)
    table: list[list[object]] = []
    for i in range(header_rows):
        table.append([f"SAMM description line {i}"] + [None] * (width - 1))
    table.append(list(SAMM_COLUMNS))
    for r in rows:
        table.append(
            [
                r.subject,
                r.clip,
                "1",
                r.onset,
                r.apex,
                r.offset,
                0,
                "Micro - 1/2",
                r.aus,
                "",
                r.emotion,
            ]
        )
    pd.DataFrame(table).to_excel(root / "SAMM_Micro_FACS_Codes_v2.xlsx", index=False, header=False)
    return root


SMIC_CLIPS = (
    (1, "positive", "s1_po_01", 69374, 69380),
    (1, "negative", "s1_ne_02", 70010, 70014),
    (3, "surprise", "s3_sur_01", 1200, 1209),
    (20, "surprise", "s20_sur_01", 5, 12),
)


def write_smic(
    root: Path, clips=SMIC_CLIPS, ext: str = ".bmp", pad: int = 6, hs_dir: str = "HS"
) -> Path:
    """An SMIC root: `HS/s1/micro/positive/s1_po_01/image069374.bmp`."""
    for subject, cls, clip, first, last in clips:
        folder = root / hs_dir / f"s{subject}" / "micro" / cls / clip
        write_frames(folder, range(first, last + 1), lambda n: f"image{n:0{pad}d}{ext}")
    return root


def synth_corpus(out: Path, subjects: int = 2, clips: int = 2, size: int = 128, seed: int = 0):
    """The synthetic corpus (CASME II layout) at a small size."""
    from generation.synth.corpus import SynthConfig, write_corpus

    return write_corpus(
        out,
        SynthConfig(subjects=subjects, clips_per_subject=clips, seed=seed, size=size),
        progress=False,
    )


def synth_prepared(
    root: Path, subjects: int, clips: int, size: int, prepared_size: int, seed: int = 0
) -> Path:
    """`synth_corpus` in root/corpus, prepared (`fme prepare`, CASME II) at `prepared_size`
    in root/prepared, which it returns."""
    from generation.face.prepare import PrepareConfig, prepare_dataset

    root = Path(root)
    synth_corpus(root / "corpus", subjects=subjects, clips=clips, size=size, seed=seed)
    out = root / "prepared"
    prepare_dataset(
        "casme2", root / "corpus", out, PrepareConfig(size=prepared_size), progress=False
    )
    return out


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
