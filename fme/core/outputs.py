"""Output paths checked before any work starts.

Every command calls `output_dir` or `output_file` on each path it will write, first thing,
so that a mistyped `--out` is answered in one line before a model is loaded or a frame
rendered: the path is a file where a folder is expected (or the other way round), it lies
under a file, or its nearest existing folder cannot be written. `existing` says what the
command does with an output that is already there, and the helper says it too:

- "reuse": keep it and add to it (`fme prepare`, `fme train --resume`);
- "replace": write over it (a video, a report folder the command owns);
- "refuse": stop with the fix (`--replace` or another path) unless `replace=True`.

Nothing is created here; the command makes the folder when it starts writing.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from fme.core.errors import ConfigError

log = logging.getLogger(__name__)

EXISTING = ("reuse", "replace", "refuse")


def blocking_file(path: Path) -> Path | None:
    """The first ancestor of `path` that exists and is not a folder."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def _nearest_existing(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            return parent
    return Path(".")


def writable(folder: Path) -> bool:
    """Whether a file can be made in `folder` (a real probe: os.access says yes for root)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        fd, probe = tempfile.mkstemp(prefix=".fme-write-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def _check_place(path: Path, option: str) -> None:
    blocker = blocking_file(path)
    if blocker is not None:
        raise ConfigError(
            f"{option} lies under the file {blocker}",
            path,
            f"A folder cannot be made inside a file; give {option} another path.",
        )
    folder = path if path.is_dir() else _nearest_existing(path.parent)
    if not writable(folder):
        raise ConfigError(
            f"{option}: cannot write here ({folder} is not writable)",
            path,
            f"Give {option} a path in a folder you can write to.",
        )


def _existing(path: Path, option: str, existing: str, replace: bool, what: str) -> None:
    if existing not in EXISTING:
        raise ValueError(f"existing must be one of {EXISTING}, got {existing!r}")
    if existing == "refuse" and not replace:
        raise ConfigError(
            f"{option}: {what} already exists",
            path,
            "Pass --replace to write over it, or choose another path.",
        )
    log.debug(
        "%s: existing %s will be %s", path, what, "reused" if existing == "reuse" else "replaced"
    )


def output_dir(
    path: str | Path,
    option: str = "--out",
    existing: str = "reuse",
    replace: bool = False,
) -> Path:
    """Check `path` as an output folder; ConfigError naming `option` when it cannot be one.

    `existing` applies to a folder that already holds files."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{option} is a file, expected a folder",
            path,
            f"Give {option} a folder path (it is made when missing).",
        )
    _check_place(path, option)
    if path.is_dir() and any(path.iterdir()):
        _existing(path, option, existing, replace, "an output folder")
    return path


def output_file(
    path: str | Path,
    option: str = "--out",
    existing: str = "replace",
    replace: bool = False,
    suffixes: tuple[str, ...] = (),
) -> Path:
    """Check `path` as an output file (with one of `suffixes`, when given)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            f"{option} is a folder, expected a file",
            path,
            f"Give {option} a file name{' ending in ' + '/'.join(suffixes) if suffixes else ''}.",
        )
    if suffixes and path.suffix.lower() not in suffixes:
        raise ConfigError(
            f"{option} must end in {' or '.join(suffixes)}",
            path,
            f"Name the file, e.g. {path.with_suffix(suffixes[0]).name}.",
        )
    _check_place(path, option)
    if path.exists():
        _existing(path, option, existing, replace, "a file")
    return path
