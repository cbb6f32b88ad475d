"""The published MEGC2019 composite list (CDE): which clips it holds and their 3-class labels.

`megc2019_composite.csv` (package data beside this module) is the list as the challenge's
participants distribute it: 442 lines `dataset,subject,clip,label`, no header, label 0
negative, 1 positive, 2 surprise; 145 CASME II, 133 SAMM and 164 SMIC-HS clips. A clip's
composite label is the list's, not a rule over the dataset's emotions: the emotion rule
(`generation.data.readers.megc2019_label`) labels five CASME II clips the list leaves out
(sub04/EP12_01f, sub05/EP09_05f, sub24/EP07_01, sub24/EP07_04f, sub24/EP10_03).

The list's names are normalised; the datasets' folders and sheets differ: SMIC subjects
and clips are zero-padded in the list (`s01`, `s01_ne_01`) and not in the dataset (`s1`,
`s1_ne_01`); SAMM subjects are bare numbers in the list (`6`) and padded in the dataset
(`006`); CASME II subjects are `sub01` in the list and `1`, `01` or `sub01` in copies of the
sheet. `composite_key` maps both spellings to one key: the subject's number and the clip name
in lower case with SMIC's subject number unpadded. A CASME II clip whose sheet name has or
lacks the trailing `f` of its listed name (EP02_01 vs EP02_01f) still matches when exactly
one listed name of that subject fits (sub17 lists both EP05_03 and EP05_03f).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from generation.data.clip import LABELS

COMPOSITE_CSV = Path(__file__).with_name("megc2019_composite.csv")
COMPOSITE_DATASETS: tuple[str, ...] = ("casme2", "samm", "smic")
# Clips per dataset in the published list.
COMPOSITE_COUNTS: dict[str, int] = {"casme2": 145, "samm": 133, "smic": 164}

Key = tuple[str, int, str]
_DIGITS = re.compile(r"\d+")
_SMIC_CLIP = re.compile(r"s0*(\d+)(_.*)", re.IGNORECASE)


@dataclass(frozen=True)
class CompositeEntry:
    """One line of the published list, names as the list writes them."""

    dataset: str
    subject: str
    clip_id: str
    label: str  # one of LABELS

    @property
    def key(self) -> Key:
        return composite_key(self.dataset, self.subject, self.clip_id)

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.subject}/{self.clip_id}"


def composite_key(dataset: str, subject: str, clip_id: str) -> Key:
    """One key for the list's spelling and the dataset's: (dataset, subject number, clip)."""
    numbers = _DIGITS.findall(str(subject))
    number = int(numbers[-1]) if numbers else -1
    clip = str(clip_id).strip().lower()
    if dataset == "smic":
        m = _SMIC_CLIP.fullmatch(clip)
        if m:
            clip = f"s{int(m.group(1))}{m.group(2)}"
    return (dataset, number, clip)


@lru_cache(maxsize=1)
def composite_entries() -> tuple[CompositeEntry, ...]:
    """Every line of the shipped list, in its order."""
    out = []
    with COMPOSITE_CSV.open(newline="") as fh:
        for row in csv.reader(fh):
            if not row:
                continue
            dataset, subject, clip_id, label = (cell.strip() for cell in row)
            out.append(CompositeEntry(dataset, subject, clip_id, LABELS[int(label)]))
    return tuple(out)


@lru_cache(maxsize=1)
def _by_key() -> dict[Key, CompositeEntry]:
    return {e.key: e for e in composite_entries()}


def composite_entry(dataset: str, subject: str, clip_id: str) -> CompositeEntry | None:
    """The list's line for a clip of a dataset (its own spelling), or None when not listed."""
    table = _by_key()
    key = composite_key(dataset, subject, clip_id)
    if key in table:
        return table[key]
    if dataset != "casme2":
        return None
    # sheet and list may differ by CASME II's trailing 'f'; accept only a unique fit
    stem = key[2].removesuffix("f")
    fits = [
        e
        for k, e in table.items()
        if k[0] == dataset and k[1] == key[1] and k[2].removesuffix("f") == stem
    ]
    return fits[0] if len(fits) == 1 else None


def composite_label(dataset: str, subject: str, clip_id: str) -> str | None:
    """The published composite label of a clip, None when the list leaves it out."""
    entry = composite_entry(dataset, subject, clip_id)
    return entry.label if entry else None


def listed(dataset: str) -> list[CompositeEntry]:
    """The list's clips of one dataset (empty for a dataset the list does not hold)."""
    return [e for e in composite_entries() if e.dataset == dataset]


def not_found(dataset: str, clips: Iterable[tuple[str, str]]) -> list[CompositeEntry]:
    """Listed clips of `dataset` that none of `clips` ((subject, clip_id) pairs read) is."""
    found = {composite_entry(dataset, s, c) for s, c in clips}
    return [e for e in listed(dataset) if e not in found]
