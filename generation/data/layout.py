"""Where a dataset's coding sheet and frame tree lie below the folder a user gives.

Copies of the datasets nest their folders differently (`CASME2/Cropped-updated/Cropped/`,
`CASME2_preprocessed_Li Xiaobai/Cropped/` with the sheet beside it,
`CASME2_RAW/CASME2-RAW/`), so both are found by what they hold, up to `MAX_DEPTH` levels
below the root:

- the frame tree is a folder of subject folders (`sub01`, `006`, `s1`, by the dataset's
  pattern) holding clip folders holding image frames;
- the sheet is a spreadsheet whose name fits the dataset's patterns (or, when none does,
  any spreadsheet whose header has the dataset's columns).

When several candidates qualify, the choice is made by a stated rule and returned as a note
(`Found.note`) that says which was taken and why; errors name the root, the depth and the
patterns searched.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_DEPTH = 3
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
SHEET_SUFFIXES = (".xlsx", ".xlsm", ".csv")


@dataclass(frozen=True)
class Found:
    """A folder or file found below the root, and a note when there was a choice."""

    path: Path
    note: str = ""


def folders(root: Path, max_depth: int = MAX_DEPTH) -> list[tuple[Path, int]]:
    """`root` and its folders down to `max_depth` levels below, breadth first, sorted by
    name at each level (hidden folders skipped)."""
    out = [(root, 0)]
    level = [root]
    for depth in range(1, max_depth + 1):
        nxt = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            nxt += [Path(e.path) for e in entries if e.is_dir() and not e.name.startswith(".")]
        out += [(p, depth) for p in nxt]
        level = nxt
    return out


def has_frames(folder: Path) -> bool:
    """True when `folder` holds at least one image file."""
    try:
        with os.scandir(folder) as it:
            return any(e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES) for e in it)
    except OSError:
        return False


def _rel(root: Path, path: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return "." if rel == "." else rel


def find_frame_tree(
    root: Path,
    is_tree: Callable[[Path], int],
    score: Callable[[Path], int],
    preferred: Sequence[str] = (),
    what: str = "frame folder",
    max_depth: int = MAX_DEPTH,
) -> Found:
    """The frame tree below `root`.

    `is_tree(folder)` counts the folder's clip folders with frames (0: not a tree);
    `score(folder)` counts the clips the dataset's sheet names that it holds. The
    candidate with the highest score wins; ties go to the first name in `preferred`,
    then the shallowest, then the first by path. Returns None-free: raises LookupError
    with what was searched when no folder qualifies.
    """
    searched = folders(root, max_depth)
    candidates = []
    for folder, depth in searched:
        n = is_tree(folder)
        if n:
            candidates.append((folder, depth, n))
    if not candidates:
        raise LookupError(
            f"no {what} found in this folder or up to {max_depth} levels below "
            f"({len(searched)} folders searched)"
        )
    if len(candidates) == 1:
        return Found(candidates[0][0])
    order = {name.lower(): i for i, name in enumerate(preferred)}
    scored = [(score(f), f, d, n) for f, d, n in candidates]

    def rank(item):
        s, f, d, _ = item
        return (-s, order.get(f.name.lower(), len(order)), d, f.as_posix())

    scored.sort(key=rank)
    best = scored[0]
    others = ", ".join(f"{_rel(root, f)} ({s} clips)" for s, f, _, _ in scored[1:4])
    if len(scored) > 4:
        others += f" and {len(scored) - 4} more"
    if best[0] > scored[1][0]:
        why = "it holds the most clips of the sheet"
    elif order.get(best[1].name.lower(), len(order)) < order.get(
        scored[1][1].name.lower(), len(order)
    ):
        why = f"as many clips, and it comes first in the order {', '.join(preferred)}"
    else:
        why = "as many clips, and it is the shallowest (then first by name)"
    note = f"frames: took {_rel(root, best[1])} ({best[0]} clips); also found {others}: {why}"
    return Found(best[1], note)


def find_sheet(
    root: Path,
    patterns: Sequence[str],
    accepts: Callable[[Path], bool],
    max_depth: int = MAX_DEPTH,
) -> Found:
    """The coding sheet below `root`: files whose name fits `patterns` (case-insensitive),
    the shallowest and then the last by name (the newest version: `...-20190701` after
    `...-20140508`, `_v2` after `_v1`); without one, the first spreadsheet `accepts` (its
    header has the dataset's columns). Raises LookupError naming what was searched."""
    files: list[tuple[Path, int]] = []
    for folder, depth in folders(root, max_depth):
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        files += [
            (Path(e.path), depth)
            for e in entries
            if e.is_file()
            and e.name.lower().endswith(SHEET_SUFFIXES)
            and not e.name.startswith(("~$", "."))
        ]
    named = [
        (p, d)
        for p, d in files
        if any(fnmatch.fnmatch(p.name.lower(), q.lower()) for q in patterns)
    ]
    if named:
        named.sort(key=lambda t: (t[1], [-ord(ch) for ch in t[0].name.lower()]))
        best = named[0][0]
        note = ""
        if len(named) > 1:
            rest = ", ".join(_rel(root, p) for p, _ in named[1:4])
            note = (
                f"sheet: took {_rel(root, best)}; also found {rest}: the shallowest, then "
                "the last by name (the newest version)"
            )
        return Found(best, note)
    for path, _ in files:
        if accepts(path):
            return Found(path, f"sheet: took {_rel(root, path)}, whose header has the columns")
    raise LookupError(
        f"no coding sheet ({' or '.join(patterns)}, or any .xlsx/.csv with the dataset's "
        f"columns) in this folder or up to {max_depth} levels below ({len(files)} "
        "spreadsheets looked at)"
    )
