"""Nothing lost, nothing silent: what the commands leave when they are killed, run out of
disk, run twice into one output or meet a locked database.

Each test stands for a class of the third bad-input audit: a re-export or a MEGC rerun
killed at random moments keeps the earlier result whole; a full disk is one line and keeps
the earlier output; two runs into one `--out` are refused naming the other; a study
database held by another writer is one line after a bounded wait; `fme megc --replace`
removes only the files of the earlier set. The tests that run `fme train` or `fme megc`
in subprocesses are marked slow.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from engine_helpers import make_prepared, small_model_config, write_templates
from study_helpers import make_method_dirs, write_votes_csv

from fme.cli import main
from fme.core.digest import sha256_file

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **extra}
    env.pop("FME_DATABASE_URL", None)
    return env


def _fme(*argv: str, cwd: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fme", *argv],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _checkpoint(path: Path, seed: int = 0) -> Path:
    import torch

    from generation.checkpoints.checkpoint import save_checkpoint
    from generation.models import build_model

    torch.manual_seed(seed)
    return save_checkpoint(path, build_model("fomm", small_model_config("fomm")), step=0)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A checkpoint, prepared clips, templates, method folders and a study database."""
    w = tmp_path_factory.mktemp("whole")
    make_prepared(w / "prep", subjects=2, clips_per_subject=2, n_frames=4)
    write_templates(w / "tpl")
    _checkpoint(w / "fomm.pt")
    make_method_dirs(w / "sets", ["FOMM", "FOMM+EWP"])
    (w / "two.txt").write_text("casme2/sub01/EP01_01\ncasme2/sub02/EP01_01\n")
    (w / "four.txt").write_text(
        "casme2/sub01/EP01_01\ncasme2/sub02/EP01_01\ncasme2/sub01/EP02_01\ncasme2/sub02/EP02_01\n"
    )
    old = Path.cwd()
    os.chdir(w)
    try:
        assert (
            main(
                [
                    "study",
                    "create",
                    "ok",
                    "--method",
                    "FOMM=sets/fomm",
                    "--method",
                    "FOMM+EWP=sets/fomm_ewp",
                    "--set",
                    "FOMM:FOMM+EWP",
                    "--db",
                    "sqlite:///study.db",
                ]
            )
            == 0
        )
    finally:
        os.chdir(old)
    return w


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


# ---- killed at random moments -------------------------------------------------------------


def _kill_while_writing(proc: subprocess.Popen, root: Path, patterns, delay: float) -> bool:
    """SIGKILL `proc` `delay` seconds after it starts writing a file matching one of
    `patterns` under `root` (the final folder or the set being built beside it); whether
    the kill came before it ended."""
    start = time.time()
    while proc.poll() is None:
        if any(p.stat().st_mtime >= start for pattern in patterns for p in root.glob(pattern)):
            time.sleep(delay)
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    return proc.wait() == -signal.SIGKILL


BIG_EXPORT = textwrap.dedent(
    """
    import sys
    import pandas as pd
    import study.export as export
    rows = int(sys.argv[1])
    big = pd.DataFrame({"participant": [f"p{i % 997}" for i in range(rows)], "pair_id": range(rows),
                        "choice": ["A"] * rows, "note": ["x" * 40] * rows})
    export.votes_frame = lambda session, name: big
    from fme.cli import main
    sys.exit(main(["study", "export", "ok", "--out", "exp", "--db", "sqlite:///study.db"]))
    """
)


@pytest.mark.slow
def test_a_killed_re_export_keeps_the_earlier_export_whole(site):
    """Audit: a re-export killed while writing left votes.csv cut at a line end (pandas
    reads it as complete) and the earlier export gone."""
    rows = 300_000
    cmd = [sys.executable, "-c", BIG_EXPORT, str(rows)]
    first = subprocess.run(cmd, cwd=site, env=_env(), capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    good = _snapshot(site / "exp")
    assert sum(1 for _ in (site / "exp" / "votes.csv").open()) == rows + 1
    rng = random.Random(1)
    watch = ["exp/votes.csv*", ".exp.fme-new-*/votes.csv*"]
    kills = 0
    for _ in range(5):
        proc = subprocess.Popen(cmd, cwd=site, env=_env(), stderr=subprocess.DEVNULL)
        kills += _kill_while_writing(proc, site, watch, rng.uniform(0.0, 0.3))
        assert _snapshot(site / "exp") == good  # the whole earlier export, never a cut one
    assert kills >= 3  # most runs were killed while writing, not after they ended
    assert sorted(p.name for p in (site / "exp").iterdir()) == [
        ".fme-output.json",
        "participants.csv",
        "ratings.csv",
        "votes.csv",
    ]


def _manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_a_killed_megc_rerun_keeps_the_earlier_set(site):
    """Audit: `fme megc` deleted the set it would replace before rendering; a killed rerun
    left one video and no manifest, and the original command was then refused."""
    argv = [
        "megc",
        "--checkpoint",
        "fomm.pt",
        "--templates",
        "tpl",
        "--data",
        "prep",
        "--out",
        "set",
        "--quiet",
        "--device",
        "cpu",
    ]
    done = _fme(*argv, "--drivers", "two.txt", cwd=site)
    assert done.wait(300) == 0, done.stderr.read()
    good = _snapshot(site / "set")
    assert len(_manifest(site / "set")) == 4
    rng = random.Random(2)
    watch = ["set/*.mp4*", ".set.fme-new-*/*.mp4*", ".set.fme-new-*/*.png*"]
    kills = 0
    for _ in range(4):  # the eight videos render in about a second: kill within 0.2 s
        proc = _fme(*argv, "--drivers", "four.txt", cwd=site)
        kills += _kill_while_writing(proc, site, watch, rng.uniform(0.0, 0.2))
        now = _snapshot(site / "set")
        if now != good:  # killed after the swap (or it ended first): the new set, whole
            rows = _manifest(site / "set")
            assert len(rows) == 8 and all((site / "set" / r["path"]).is_file() for r in rows)
            good = now
    assert kills >= 2
    again = _fme(*argv, "--drivers", "two.txt", cwd=site)
    assert again.wait(300) == 0, again.stderr.read()  # the original command runs again
    assert len(_manifest(site / "set")) == 4


@pytest.mark.slow
def test_a_killed_re_report_keeps_the_earlier_report_whole(site):
    """Audit: a killed re-report left the old report.md beside new tables of other votes."""
    argv = ["study", "report", "--out", "rep", "--no-png", "--calibration", "0", "--boot", "20"]
    write_votes_csv(site / "v1.csv", pairs=6, participants=12)
    first = _fme(*argv, "--votes", "v1.csv", cwd=site)
    assert first.wait(300) == 0, first.stderr.read()
    good = _snapshot(site / "rep")
    names = set(good)
    assert "report.md" in names and len(names) > 5
    write_votes_csv(site / "v2.csv", pairs=6, participants=12, flip=1)
    rng = random.Random(3)
    watch = ["rep/*", ".rep.fme-new-*/*"]
    kills = 0
    for _ in range(4):
        proc = _fme(*argv, "--votes", "v2.csv", cwd=site)
        kills += _kill_while_writing(proc, site, watch, rng.uniform(0.0, 0.5))
        now = _snapshot(site / "rep")
        if now != good:  # killed after the swap (or it ended first): the new report, whole
            assert set(now) == names, sorted(set(now) ^ names)
            good = now
    assert kills >= 2
    again = _fme(*argv, "--votes", "v1.csv", cwd=site)
    assert again.wait(300) == 0, again.stderr.read()
    assert set(_snapshot(site / "rep")) == names


@pytest.mark.slow
def test_a_killed_recognizer_retraining_keeps_the_earlier_recognizers_whole(site):
    """`fme eval train-recognizers` killed at random moments of a rerun keeps the earlier
    recognizers, predictions and tables of one run (its backbones are swapped in together)."""
    argv = ["eval", "train-recognizers", "--data", "prep", "--out", "rec", "--size", "16",
            "--frames", "4", "--width", "0.125", "--iterations", "3", "--batch-size", "2",
            "--device", "cpu", "--quiet"]  # fmt: skip
    first = _fme(*argv, cwd=site)
    assert first.wait(300) == 0, first.stderr.read()
    good = _snapshot(site / "rec")
    names = set(good)
    assert any(n.endswith(".pt") for n in names) and "predictions.csv" in names
    rng = random.Random(4)
    watch = ["rec/*", ".rec.fme-new-*/*", ".rec.fme-new-*/**/*"]
    kills = 0
    for seed in range(1, 5):
        proc = _fme(*argv, "--seed", str(seed), cwd=site)
        kills += _kill_while_writing(proc, site, watch, rng.uniform(0.0, 0.3))
        now = _snapshot(site / "rec")
        if now != good:  # killed after the swap (or it ended first): the new run's, whole
            assert set(now) == names, sorted(set(now) ^ names)
            good = now
    assert kills >= 2


# ---- a full disk --------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 160 KiB tmpfs (root only; skipped where this machine does not allow a mount)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and "WARNING" not in line]
    assert len(lines) == 1, err
    return lines[0]


def test_a_full_disk_is_one_line_and_keeps_the_earlier_outputs(
    site, small_disk, monkeypatch, capsys
):
    """Audit: ENOSPC was a traceback in every command, and a re-export on a full disk
    overwrote the earlier export with a partial file."""
    monkeypatch.chdir(site)
    monkeypatch.delenv("FME_DATABASE_URL", raising=False)
    out = small_disk / "exp"
    export = ["study", "export", "ok", "--out", str(out), "--db", "sqlite:///study.db"]
    assert main(export) == 0
    good = _snapshot(out)
    free = os.statvfs(small_disk)
    with open(small_disk / "filler", "wb") as fh:  # the disk is now full
        try:
            fh.write(b"\0" * (free.f_bavail * free.f_frsize))
        except OSError:
            pass
    capsys.readouterr()
    assert main(export) == 2
    line = _one_line(capsys.readouterr().err)
    assert "no space left on the device (ENOSPC)" in line and str(out) in line
    assert _snapshot(out) == good  # the earlier export, whole
    up = ROOT / "tests" / "data" / "upstream" / "fomm"
    rc = main(
        [
            "import-checkpoint",
            str(up / "checkpoint.pth.tar"),
            "--config",
            str(up / "config.yaml"),
            "--out",
            str(small_disk / "x.pt"),
        ]
    )
    line = _one_line(capsys.readouterr().err)
    assert rc == 2 and line.startswith(f"error: {small_disk / 'x.pt'}: cannot write: no space")
    assert sorted(p.name for p in small_disk.iterdir()) == ["exp", "filler"]  # no .part
    # a new study database on the full disk: one line that says so, not "not a database"
    create = ["study", "create", "full", "--method", "FOMM=sets/fomm", "--method",
              "FOMM+EWP=sets/fomm_ewp", "--set", "FOMM:FOMM+EWP", "--db",
              f"sqlite:///{small_disk / 's.db'}"]  # fmt: skip
    assert main(create) == 2
    line = _one_line(capsys.readouterr().err)
    assert "full or failing" in line and "s.db" in line, line


# ---- two runs into one output -------------------------------------------------------------


@pytest.mark.slow
def test_a_second_train_into_one_out_is_refused_naming_the_first(site, monkeypatch, capsys):
    """Audit: two `fme train` into one --out both exited 0 and one run's work was gone."""
    argv = [
        "train",
        "--variant",
        "fomm",
        "--data",
        "prep",
        "--out",
        "run",
        "--size",
        "64",
        "--iterations",
        "400",
        "--batch-size",
        "2",
        "--sample-every",
        "0",
        "--checkpoint-every",
        "0",
        "--quiet",
        "--device",
        "cpu",
    ]
    first = _fme(*argv, cwd=site)
    try:
        lock = site / ".run.fme-lock"
        for _ in range(600):
            if lock.exists() and lock.read_text().strip():
                break
            time.sleep(0.1)
        monkeypatch.chdir(site)
        rc = main([*argv[:-5], "--iterations", "1", "--quiet", "--device", "cpu"])
        line = _one_line(capsys.readouterr().err)
        assert rc == 2, line
        assert f"--out is in use by another run (pid {first.pid} on host" in line
        assert "fme train" in line and "give another --out" in line
    finally:
        first.kill()
        first.wait()
    # the killed run's lock is stale: the next run takes it over
    assert lock.exists()
    rc = main([*argv[:-5], "--iterations", "1", "--quiet", "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err


@pytest.mark.slow
def test_two_megc_runs_into_one_out_leave_one_whole_set(site):
    """Audit: two `fme megc` of different checkpoints into one --out both exited 0."""
    _checkpoint(site / "other.pt", seed=3)
    base = [
        "megc",
        "--templates",
        "tpl",
        "--data",
        "prep",
        "--drivers",
        "two.txt",
        "--out",
        "race",
        "--quiet",
        "--device",
        "cpu",
        "--replace",
    ]
    runs = [_fme(*base, "--checkpoint", ck, cwd=site) for ck in ("fomm.pt", "other.pt")]
    results = [(p.wait(300), p.stderr.read()) for p in runs]
    codes = sorted(rc for rc, _ in results)
    if codes == [0, 2]:  # they overlapped: one refused, in one line naming the other
        err = next(e for rc, e in results if rc == 2)
        assert "is in use by another run" in _one_line(err)
    else:  # one ran after the other (--replace): the later set, whole
        assert codes == [0, 0], results
    rows = _manifest(site / "race")
    assert len(rows) == 4 and len({r["checkpoint_sha256"] for r in rows}) == 1
    assert sorted(p.name for p in (site / "race").glob("*.mp4")) == sorted(r["path"] for r in rows)


# ---- --replace and the user's own files ---------------------------------------------------


@pytest.mark.slow
def test_megc_replace_removes_only_the_files_of_the_earlier_set(site, monkeypatch, capsys):
    """Audit: `fme megc --replace` deleted every .mp4 in --out, the user's own videos and
    the driver being read among them."""
    monkeypatch.chdir(site)
    out = site / "vids"
    out.mkdir()
    (out / "my_clip.mp4").write_bytes(b"my own video")
    (out / "notes.txt").write_text("mine")
    argv = [
        "megc",
        "--checkpoint",
        "fomm.pt",
        "--templates",
        "tpl",
        "--data",
        "prep",
        "--drivers",
        "two.txt",
        "--out",
        "vids",
        "--quiet",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    _checkpoint(site / "other2.pt", seed=4)
    argv[2] = "other2.pt"
    assert main([*argv, "--replace"]) == 0
    assert (out / "my_clip.mp4").read_bytes() == b"my own video"
    assert (out / "notes.txt").read_text() == "mine"
    assert {r["checkpoint_sha256"] for r in _manifest(out)} == {sha256_file(site / "other2.pt")}
    # a file of the user's with a name the set would write: refused before rendering
    first = _manifest(out)[0]["path"]
    (site / "mine").mkdir()
    (site / "mine" / first).write_bytes(b"also mine")
    capsys.readouterr()
    assert main([*argv[:-5], "--out", "mine", "--quiet", "--device", "cpu"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert first in line and "no set's manifest lists" in line
    assert (site / "mine" / first).read_bytes() == b"also mine"


# ---- a study database held by another writer ----------------------------------------------

HOLD_DB = textwrap.dedent(
    """
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    """
)


def test_a_locked_study_database_is_one_line_after_a_bounded_wait(site, monkeypatch, capsys):
    """Audit: a SQLite file locked by another writer waited 30 s, then an 82-line
    traceback."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_DB, str(site / "study.db"), "30"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.chdir(site)
        monkeypatch.setenv("FME_DB_BUSY_TIMEOUT", "1")
        monkeypatch.delenv("FME_DATABASE_URL", raising=False)
        start = time.perf_counter()
        rc = main(["study", "configure", "ok", "--target", "5", "--db", "sqlite:///study.db"])
        took = time.perf_counter() - start
        line = _one_line(capsys.readouterr().err)
        assert rc == 2 and took < 20
        assert "sqlite:///study.db: the database is locked by another writer (waited 1 s" in line
        assert f"pid {holder.pid}" in line
    finally:
        holder.kill()
        holder.wait()
    with sqlite3.connect(site / "study.db") as db:  # nothing half-written
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_two_creates_of_one_study_name_give_one_study_and_one_line(site):
    """Audit: two `fme study create` of one name at once: an IntegrityError traceback."""
    argv = [
        "study",
        "create",
        "race",
        "--method",
        "FOMM=sets/fomm",
        "--method",
        "FOMM+EWP=sets/fomm_ewp",
        "--set",
        "FOMM:FOMM+EWP",
        "--db",
        "sqlite:///race.db",
    ]
    assert main(["study", "list", "--db", f"sqlite:///{site / 'race.db'}"]) == 0
    runs = [_fme(*argv, cwd=site) for _ in range(3)]
    results = [(p.wait(120), p.stderr.read()) for p in runs]
    assert sorted(rc for rc, _ in results) == [0, 2, 2], results
    for rc, err in results:
        if rc == 2:
            assert "already exists" in _one_line(err) and "Traceback" not in err
