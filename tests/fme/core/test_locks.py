"""One run per output: the lock beside an output, taken over when its holder died."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fme.core.locks import LockHeld, lock_path, locked

ROOT = Path(__file__).resolve().parents[3]

HOLD = textwrap.dedent(
    """
    import sys, time
    from fme.core.locks import locked
    with locked(sys.argv[1]):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def _hold(out: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out), str(seconds)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_lock_names_the_holder(tmp_path):
    out = tmp_path / "run"
    proc = _hold(out, 30)
    try:
        with pytest.raises(LockHeld) as caught:
            with locked(out):
                pass
        text = str(caught.value)
        assert text.startswith(f"{out}: --out is in use by another run (pid {proc.pid} on host")
        assert "Wait for it to finish, or give another --out." in text
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
    out = tmp_path / "run"
    proc = _hold(out, 30)
    proc.kill()
    proc.wait()
    assert lock_path(out).exists()  # SIGKILL left the file behind
    with locked(out):
        info = json.loads(lock_path(out).read_text())
        assert info["pid"] == os.getpid()
    assert not lock_path(out).exists()


def test_lock_is_reentrant_in_one_process_and_beside_the_output(tmp_path):
    out = tmp_path / "x.pt"
    with locked(out) as path:
        assert path == tmp_path / ".x.pt.fme-lock"
        with locked(out):
            pass
        assert path.exists()
    assert not path.exists()
