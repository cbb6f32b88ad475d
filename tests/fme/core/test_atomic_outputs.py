"""Outputs written whole or not at all: single files, sets of files swapped in whole, a run
killed at random moments, a full disk (a small tmpfs, where this machine lets a test mount one)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fme.core.errors import StorageError
from fme.core.outputs import (
    MARK,
    atomic_open,
    output_set,
    read_mark,
    recover,
    storage_error,
    write_csv_atomic,
    write_text_atomic,
)

ROOT = Path(__file__).resolve().parents[3]

WRITER = textwrap.dedent(
    """
    import sys, time
    from fme.core.outputs import output_set, write_text_atomic
    out, tag, n, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    with output_set(out, "test writer") as stage:
        for k in range(n):
            write_text_atomic(stage / f"f{k}.txt", f"{tag} {k}\\n" * 5000)
            print(k, flush=True)
            time.sleep(delay)
    """
)


def _run_writer(out: Path, tag: str, n: int = 4, delay: float = 0.0, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(out), tag, str(n), str(delay)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _tags(out: Path) -> set[str]:
    return {p.read_text().split()[0] for p in out.glob("f*.txt")}


def test_write_text_atomic_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "a.txt"
    write_text_atomic(path, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as fh:
            fh.write("new, half")
            raise RuntimeError("killed")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_write_csv_atomic(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    path = write_csv_atomic(frame, tmp_path / "t.csv", index=False)
    assert pd.read_csv(path).equals(frame)


def test_output_set_replaces_own_entries_and_keeps_the_users(tmp_path):
    out = tmp_path / "set"
    with output_set(out, "cmd") as stage:
        write_text_atomic(stage / "a.txt", "1")
        write_text_atomic(stage / "old_only.txt", "1")
    (out / "mine.txt").write_text("user")
    with output_set(out, "cmd") as stage:
        write_text_atomic(stage / "a.txt", "2")
    assert sorted(p.name for p in out.iterdir()) == sorted([MARK, "a.txt", "mine.txt"])
    assert (out / "a.txt").read_text() == "2"
    assert (out / "mine.txt").read_text() == "user"
    assert read_mark(out) == {"command": "cmd", "entries": ["a.txt"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]  # no stage, lock or old


def test_output_set_failure_keeps_previous_set(tmp_path):
    out = tmp_path / "set"
    with output_set(out, "cmd") as stage:
        write_text_atomic(stage / "a.txt", "1")
    with pytest.raises(ValueError):
        with output_set(out, "cmd") as stage:
            write_text_atomic(stage / "a.txt", "2")
            write_text_atomic(stage / "b.txt", "2")
            raise ValueError("bad input found late")
    assert sorted(p.name for p in out.iterdir()) == [MARK, "a.txt"]
    assert (out / "a.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def test_recover_puts_back_a_set_moved_aside(tmp_path):
    """A run killed between its two renames (no rename exchange here) left the earlier set
    aside and none in place: the next run puts it back before it starts."""
    out = tmp_path / "set"
    with output_set(out, "cmd") as stage:
        write_text_atomic(stage / "a.txt", "1")
    os.rename(out, tmp_path / ".set.fme-old-999999")
    (tmp_path / ".set.fme-new-999999").mkdir()
    recover(out)
    assert (out / "a.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def test_sigkill_at_random_moments_never_leaves_a_half_set(tmp_path):
    out = tmp_path / "set"
    first = _run_writer(out, "A")
    assert first.wait(60) == 0, first.stderr.read()
    (out / "mine.txt").write_text("user")
    rng = random.Random(0)
    kills = 0
    whole = "A"  # the tag of the last set that was swapped in whole
    for k in range(8):
        proc = _run_writer(out, f"K{k}", n=4, delay=0.05)
        # wait for the run to be writing, then kill it at a random moment of its work
        assert proc.stdout.readline().strip() == "0"
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        kills += proc.returncode == -signal.SIGKILL
        tags = _tags(out)
        assert tags in ({whole}, {f"K{k}"}), tags  # one whole set, never a mix
        whole = next(iter(tags))  # a run that ended before its kill is the set now
        assert len(list(out.glob("f*.txt"))) == 4
        assert (out / "mine.txt").read_text() == "user"
    assert kills >= 6  # the most were killed mid-run, not after they finished
    last = _run_writer(out, "Z")
    assert last.wait(60) == 0
    assert _tags(out) == {"Z"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]  # leftovers tidied


def test_second_run_into_one_out_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "set"
    first = _run_writer(out, "A", n=3, delay=0.5)
    assert first.stdout.readline().strip() == "0"
    second = _run_writer(out, "B", n=1)
    _, err = second.communicate(timeout=60)
    assert second.returncode != 0
    assert "is in use by another run" in err and f"pid {first.pid}" in err
    assert first.wait(60) == 0
    assert _tags(out) == {"A"}


def test_storage_error_names_the_file():
    import errno

    err = storage_error(OSError(errno.ENOSPC, "No space left on device", "x/o.mp4.part"))
    assert isinstance(err, StorageError)
    assert str(err).startswith("x/o.mp4: cannot write: no space left on the device (ENOSPC)")
    assert storage_error(OSError(errno.ENOENT, "missing")) is None


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs (root only; skipped where mounting is not allowed)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.decode().strip()})")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_full_disk_keeps_earlier_set_and_removes_partials(small_disk):
    out = small_disk / "set"
    with output_set(out, "cmd") as stage:
        write_text_atomic(stage / "a.txt", "A" * 100_000)
    with pytest.raises(StorageError) as caught:
        with output_set(out, "cmd") as stage:
            for k in range(4):
                write_text_atomic(stage / f"b{k}.txt", "B" * 100_000)
    assert "no space left" in str(caught.value)
    assert caught.value.path.parent == out  # named as the user will look for it
    assert sorted(p.name for p in small_disk.iterdir()) == ["set"]
    assert sorted(p.name for p in out.iterdir()) == [MARK, "a.txt"]
    assert (out / "a.txt").read_text() == "A" * 100_000
    with pytest.raises(StorageError):
        write_text_atomic(small_disk / "big.txt", "x" * 400_000)
    assert not (small_disk / "big.txt").exists() and not (small_disk / "big.txt.part").exists()


def test_set_into_a_mount_point_is_written_in_place(small_disk):
    """A mount point cannot be renamed: each file is still whole, the user's kept."""
    (small_disk / "mine.txt").write_text("user")
    with output_set(small_disk, "cmd") as stage:
        write_text_atomic(stage / "a.txt", "1")
        write_text_atomic(stage / "gone.txt", "1")
    with output_set(small_disk, "cmd") as stage:
        write_text_atomic(stage / "a.txt", "2")
    names = sorted(p.name for p in small_disk.iterdir())
    assert names == sorted([MARK, "a.txt", "mine.txt"]), names
    assert (small_disk / "a.txt").read_text() == "2"
    assert json.loads((small_disk / MARK).read_text())["entries"] == ["a.txt"]
