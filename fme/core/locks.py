"""One run per output at a time: a lock file beside the output.

`locked(out)` holds `.<name>.fme-lock` in the folder that holds `out` (beside it, not in it:
a set folder is swapped whole at the end, see `fme.core.outputs.output_set`). The lock file
is made with O_CREAT and held with an exclusive `flock`, which the kernel drops when the
process ends, however it ends: a lock left behind by a killed run (SIGKILL, a power cut)
is stale, and the next run takes it over without a word. The file records who holds it
(pid, host, command, start time), so a second run into the same output is one line naming
the first::

    error: run: --out is in use by another run (pid 4242 on host lab1, `fme train ...`,
    since 2026-12-07 05:12:03 UTC) Wait for it to finish, or give another --out.

A file system without `flock` (some network mounts) falls back to O_EXCL: the lock file
exists while held; one whose pid is dead on this host is taken over.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fme.core.errors import FMEError

LOCK_SUFFIX = ".fme-lock"


class LockHeld(FMEError):
    """Another process holds the lock of an output."""


def lock_path(out: str | Path) -> Path:
    out = Path(out)
    name = out.name or Path(os.path.abspath(out)).name
    return out.parent / f".{name}{LOCK_SUFFIX}"


def _command() -> str:
    args = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else []
    if args and args[0] in ("__main__.py", "-m"):
        args[0] = "fme"
    text = " ".join(args) or "python"
    return text if len(text) <= 120 else text[:117] + "..."


def _record() -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": _command(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def holder(path: Path) -> dict[str, object]:
    """What the lock file at `path` says about its holder ({} when unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive(pid: object, host: object) -> bool:
    if host != socket.gethostname() or not isinstance(pid, int):
        return True  # another machine's process: cannot tell, so assume it runs
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _held(out: Path, option: str, info: dict[str, object]) -> LockHeld:
    who = (
        f"pid {info.get('pid', '?')} on host {info.get('host', '?')}, "
        f"`{info.get('command', '?')}`, since {info.get('since', '?')}"
        if info
        else "a process that did not say who it is"
    )
    return LockHeld(
        f"{option} is in use by another run ({who})",
        out,
        f"Wait for it to finish, or give another {option}.",
    )


def _flock(fd: int) -> bool:
    """True when the exclusive lock was taken, False when another holds it; OSError
    (ENOLCK, EOPNOTSUPP...) when the file system has no flock."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _acquire_flock(path: Path, out: Path, option: str) -> int | None:
    """The fd holding the lock; None when flock is not supported here."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _flock(fd):
                info = holder(path)
                os.close(fd)
                raise _held(out, option, info)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                return None
            raise
        # the file may have been removed (and made anew) between open and flock
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            try:  # who holds it, for the message of a second run (best effort: a full disk)
                os.ftruncate(fd, 0)
                os.write(fd, (json.dumps(_record()) + "\n").encode())
            except OSError:
                pass
            return fd
        os.close(fd)


def _acquire_excl(path: Path, out: Path, option: str) -> None:
    for _ in range(5):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            info = holder(path)
            if info and not _alive(info.get("pid"), info.get("host")):
                stale = path.with_name(f"{path.name}.stale-{os.getpid()}")
                try:
                    os.rename(path, stale)
                    if holder(stale) == info:
                        os.unlink(stale)
                    else:  # someone else's fresh lock: put it back
                        os.link(stale, path)
                        os.unlink(stale)
                except OSError:
                    pass
                continue
            raise _held(out, option, info) from None
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(_record()) + "\n")
        except OSError:
            pass
        return
    raise _held(out, option, holder(path))


@contextmanager
def locked(out: str | Path, option: str = "--out") -> Iterator[Path]:
    """Hold the lock of output `out` (a file or folder, existing or not) for the block;
    LockHeld naming the holder when another live process has it."""
    out = Path(out)
    path = lock_path(out)
    if getattr(_local, "held", None) and path.resolve() in _local.held:
        yield path  # re-entered by the same process (a command calling a library that locks)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire_flock(path, out, option)
    if fd is None:
        _acquire_excl(path, out, option)
    _local.held.add(path.resolve())
    try:
        yield path
    finally:
        _local.held.discard(path.resolve())
        try:
            os.unlink(path)
        except OSError:
            pass
        if fd is not None:
            os.close(fd)


class _Local:
    held: set[Path]

    def __init__(self) -> None:
        self.held = set()


_local = _Local()
