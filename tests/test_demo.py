"""`fme demo --fast --no-serve`: the whole pipeline on the synthetic corpus, then a rerun
that redoes nothing."""

from __future__ import annotations

import sqlite3

import pytest

from fme.cli import main
from fme.demo import METHODS
from generation.video import probe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--fast", "--no-serve", "--out", str(out)]) == 0
    return out


def test_demo_writes_sets_tables_and_a_study(demo_dir):
    for label in METHODS:
        videos = sorted((demo_dir / "sets" / label).glob("*.mp4"))
        assert len(videos) == 6  # 2 held-out templates x 3 drivers (one per class)
        info = probe(videos[0])
        assert info.codec == "h264" and info.fps == pytest.approx(100)
    table = (demo_dir / "reports" / "auto" / "table_vi.csv").read_text()
    for label in ["Real", *METHODS]:
        assert label in table
    con = sqlite3.connect(demo_dir / "fme.db")
    try:
        (n_studies,) = con.execute("select count(*) from studies").fetchone()
        (n_sets,) = con.execute("select count(*) from comparison_sets").fetchone()
        (n_pairs,) = con.execute("select count(*) from pairs").fetchone()
    finally:
        con.close()
    # 4 sets x 6 samples, plus the 2 catch trials (stored as pairs of their own)
    assert (n_studies, n_sets, n_pairs) == (1, 4, 4 * 6 + 2)


def test_second_run_reuses_every_stage(demo_dir, capsys):
    checkpoint = demo_dir / "runs" / "fomm" / "checkpoint.pt"
    before = checkpoint.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["demo", "--fast", "--no-serve", "--out", str(demo_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count("done earlier, skipped") == 11
    assert checkpoint.stat().st_mtime_ns == before
