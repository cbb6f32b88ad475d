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

Writing (the second half of this module): every output is written whole or not at all.

- One file: `atomic_path` / `atomic_open` / `write_text_atomic` / `write_csv_atomic` write
  to `NAME.part` beside it, flush it to disk and rename it over `NAME` in one step, so a
  killed or failing run leaves the earlier file (or none), never a cut one; the `.part` is
  removed on any error (a SIGKILL can leave one, which the next run writes over).
- A set of files (an export, a report, evaluation tables, a MEGC set): `output_set` builds
  it in a hidden folder beside `--out` and swaps it in when complete; the earlier set stays
  until then, and a user's own files in `--out` are kept.
- A full disk, a quota, an I/O error or a read-only file system: `storage_error` makes the
  one-line StorageError naming the file; `fme`'s main turns any stray one into it too.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any

from fme.core.errors import ConfigError, StorageError

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


# --- written whole or not at all -----------------------------------------------------------

#: errno values that mean the storage, not the program, failed
STORAGE_ERRNOS = {
    errno.ENOSPC: (
        "cannot write: no space left on the device",
        "Free some space (or give a path on another disk)",
    ),
    errno.EDQUOT: (
        "cannot write: the disk quota is exceeded",
        "Free some of your files (or ask for more quota)",
    ),
    errno.EIO: (
        "the device failed to read or write (an I/O error)",
        "Check the disk (dmesg) and try again",
    ),
    errno.EROFS: (
        "cannot write: the file system is read-only",
        "Give a path on a file system you can write to",
    ),
    errno.EFBIG: (
        "cannot write: the file is too large for the file system",
        "Give a path on another disk",
    ),
}


def storage_error(err: BaseException, path: str | Path | None = None) -> StorageError | None:
    """The StorageError for an OSError of a full, read-only or failing disk (None for any
    other error). `path` names the file when the OSError does not."""
    if isinstance(err, StorageError):
        return err
    seen = 0
    # torch.save's RuntimeError ("unexpected pos") carries the OSError as its context
    while err is not None and not (isinstance(err, OSError) and err.errno in STORAGE_ERRNOS):
        err = err.__cause__ or err.__context__
        seen += 1
        if seen > 8:
            return None
    if err is None:
        return None
    code = err.errno
    what, fix = STORAGE_ERRNOS[code]
    name = path if path is not None else (getattr(err, "filename", None) or None)
    if isinstance(name, (str, Path)) and str(name).endswith(PART):
        name = str(name)[: -len(PART)]
    return StorageError(
        f"{what} ({errno.errorcode.get(code, code)})",
        name,
        f"{fix}, then run the command again; the partial files were removed and earlier "
        "outputs kept.",
    )


#: the suffix of a file being written (renamed to its final name when complete)
PART = ".part"


def part_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + PART)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path, *, sync: bool = True) -> Iterator[Path]:
    """A temporary path (`NAME.part` beside `path`) for a writer that takes a path (torch,
    PyAV, plotly, numpy, PIL); when the block ends without an error the file is flushed to
    disk and renamed over `path` in one step, so `path` is either the old file or the
    complete new one. On an error the partial file is removed; a full or failing disk
    becomes a StorageError naming `path`."""
    path = Path(path)
    tmp = part_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        if sync:
            _fsync_file(tmp)
        os.replace(tmp, path)
        if sync:
            _fsync_dir(path.parent)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        problem = storage_error(err, path)
        if problem is not None and problem is not err:
            raise problem from None
        raise


@contextmanager
def atomic_open(
    path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8", newline: str | None = None
) -> Iterator[IO[Any]]:
    """`open(path, mode)` through `atomic_path`: the file appears whole or not at all."""
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding, newline=newline) as fh:
        yield fh
        fh.flush()


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (see `atomic_path`); returns `path`."""
    with atomic_open(path, "w", encoding=encoding) as fh:
        fh.write(text)
    return Path(path)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_csv_atomic(frame: Any, path: str | Path, **kwargs: Any) -> Path:
    """`frame.to_csv(path, **kwargs)` (pandas) atomically."""
    with atomic_open(path, "w", newline="") as fh:
        frame.to_csv(fh, **kwargs)
    return Path(path)


def copy_atomic(src: str | Path, dst: str | Path) -> Path:
    import shutil

    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)


# --- sets of files: built aside, swapped in at the end -------------------------------------

#: the record of a set folder: which command wrote it and which entries are its own
MARK = ".fme-output.json"
STAGE = ".fme-new-"
OLD = ".fme-old-"


def _rename_exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False when this
    system or file system cannot."""
    if sys.platform != "linux":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def read_mark(folder: str | Path) -> dict[str, Any]:
    """The record `output_set` left in `folder` ({} when there is none)."""
    try:
        data = json.loads((Path(folder) / MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _link_tree(src: Path, dst: Path) -> None:
    """`dst` made to hold what `src` holds, by hard links (copies where links fail)."""
    import shutil

    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
    elif src.is_dir():
        dst.mkdir()
        shutil.copystat(src, dst)
        for child in src.iterdir():
            _link_tree(child, dst / child.name)
    else:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def _leftovers(out: Path, kind: str) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}{kind}*"))


def recover(out: str | Path) -> None:
    """Tidy what a killed `output_set` left beside `out` (call it holding the lock): a set
    moved aside whose replacement never arrived is put back; unfinished new sets and old
    sets already replaced are removed."""
    import shutil

    out = Path(out)
    for old in _leftovers(out, OLD):
        if not out.exists():
            os.rename(old, out)
            log.warning("%s: put back the earlier output a killed run had moved aside", out)
        else:
            shutil.rmtree(old, ignore_errors=True)
    inside = sorted(out.glob(f"{STAGE}*")) if out.is_dir() else []
    for stage in [*_leftovers(out, STAGE), *inside]:
        shutil.rmtree(stage, ignore_errors=True)


class OutputSet:
    """A set of files built in a hidden folder beside `out` (`.<name>.fme-new-<pid>`) and
    swapped in when complete; see `output_set`."""

    def __init__(self, out: Path, command: str, owns: Callable[[Path], list[str]] | None):
        self.out = out
        self.command = command
        self.owns = owns
        #: a mount point cannot be renamed: its set is built inside it and moved in place
        self.in_place = out.is_dir() and (
            os.path.ismount(out) or out.resolve() == Path.cwd().resolve()
        )
        where = out / STAGE if self.in_place else out.parent / f".{out.name}{STAGE}"
        self.path = Path(f"{where}{os.getpid()}")

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def old_own(self) -> set[str]:
        """The top-level entries of the current `out` that belong to its set."""
        if not self.out.is_dir():
            return set()
        own = {p.name for p in self.out.glob(f"{STAGE}*")}
        own |= set(read_mark(self.out).get("entries") or [])
        if self.owns is not None:
            own |= set(self.owns(self.out))
        return own | {MARK}

    def commit(self) -> None:
        import shutil

        out, stage = self.out, self.path
        new = sorted(p.name for p in stage.iterdir())
        mark = {"command": self.command, "entries": new}
        (stage / MARK).write_text(json.dumps(mark, indent=1) + "\n", encoding="utf-8")
        if not out.exists():
            _fsync_dir(stage)
            os.rename(stage, out)
            _fsync_dir(out.parent)
            return
        own = self.old_own() | set(new) | {MARK}
        if self.in_place:
            self._commit_in_place(own)
            return
        # keep what is not the set's own (a user's files in the folder), by hard links
        for child in out.iterdir():
            if child.name not in own:
                _link_tree(child, stage / child.name)
        try:
            os.chmod(stage, stat.S_IMODE(os.stat(out).st_mode))
        except OSError:
            pass
        _fsync_dir(stage)
        old = out.parent / f".{out.name}{OLD}{os.getpid()}"
        if _rename_exchange(stage, out):
            os.rename(stage, old)
        else:
            os.rename(out, old)
            os.rename(stage, out)  # killed between the two: `recover` puts `old` back
        _fsync_dir(out.parent)
        shutil.rmtree(old, ignore_errors=True)

    def _commit_in_place(self, own: set[str]) -> None:
        """The fallback when `out` itself cannot be renamed (a mount point, the current
        folder): each entry is replaced in one step and the set's record comes last, so
        each file is whole, though the set is not swapped at once."""
        import shutil

        out, stage = self.out, self.path
        new = {p.name for p in stage.iterdir()}
        (out / MARK).unlink(missing_ok=True)
        for child in sorted(stage.iterdir(), key=lambda p: p.name == MARK):
            target = out / child.name
            if target.is_dir() and not target.is_symlink():
                aside = out / f".{child.name}{OLD}{os.getpid()}"
                os.rename(target, aside)
                os.rename(child, target)
                shutil.rmtree(aside, ignore_errors=True)
            else:
                os.replace(child, target)
        for name in sorted(own - new):  # the earlier set's entries this set has not
            gone = out / name
            if gone.is_dir() and not gone.is_symlink():
                shutil.rmtree(gone, ignore_errors=True)
            else:
                gone.unlink(missing_ok=True)
        _fsync_dir(out)
        shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def output_set(
    out: str | Path,
    command: str,
    *,
    option: str = "--out",
    owns: Callable[[Path], list[str]] | None = None,
    lock: bool = True,
) -> Iterator[OutputSet]:
    """Build a set of output files aside and swap it in whole.

    The block writes into `stage.path` (a hidden folder beside `out`, on the same disk);
    when it ends without an error the set replaces the set in `out` in one step (a rename
    exchange where the system has one, else two renames that `recover` completes if the
    run is killed between them). So a run killed or failing at any moment leaves `out` as
    it was, never a half set. Entries of `out` that are not the set's own (not written by
    the block, not in the earlier set's record, not named by `owns(out)`) are kept.
    The lock of `out` is held throughout (see `fme.core.locks`)."""
    import shutil

    from fme.core.locks import locked

    out = Path(out)
    if out.is_symlink():
        out = out.resolve()
    holder = locked(out, option) if lock else nullcontext()
    with holder:
        recover(out)
        made_by = read_mark(out).get("command") if out.is_dir() else None
        if made_by and made_by != command:
            raise ConfigError(
                f"{option} holds the output of `{made_by}`",
                out,
                f"Give `{command}` a folder of its own (another {option}).",
            )
        stage = OutputSet(out, command, owns)
        try:
            stage.path.mkdir(parents=True)
            yield stage
            stage.commit()
        except BaseException as err:
            shutil.rmtree(stage.path, ignore_errors=True)
            problem = storage_error(err)
            if problem is None:
                raise
            where = problem.path
            if where is None:
                where = out
            elif stage.path == where or stage.path in where.parents:
                where = out / where.relative_to(stage.path)  # name the file as the user will
            if where != problem.path or problem is not err:
                raise StorageError(problem.message, where, problem.hint) from None
            raise


def not_an_input(out: str | Path, option: str = "--out", **inputs: str | Path | None) -> None:
    """ConfigError when the output folder `out` is one of the folders the run reads:
    `inputs` maps each input's option name (`templates`, `data`) to its path."""
    here = Path(out).resolve()
    for name, path in inputs.items():
        if path is None or not Path(path).exists():
            continue
        there = Path(path).resolve()
        if there == here:
            shown = "--" + name.replace("_", "-")
            raise ConfigError(
                f"{option} is the {shown} folder the run reads",
                out,
                f"Give {option} a folder of its own (the output would mix with {shown}).",
            )
