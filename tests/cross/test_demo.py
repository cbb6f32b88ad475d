"""`fme demo --fast --no-serve`: the whole pipeline on the synthetic corpus, a rerun that
redoes nothing, and a rerun with `--tpsmm` that trains only the TPSMM variants and adds their
sets, Table VI rows and study sets. The option handling is tested without running anything."""

from __future__ import annotations

import csv
import sqlite3

import pytest

from fme.cli import build_parser, main
from fme.commands.demo import FAST, GROUPS, METHODS, settings_of
from generation.data.video import probe

TPSMM = ["TPSMM", "TPSMM+EWP", "TPSMM+AWP"]
PAPER = ["FOMM vs FOMM+EWP", "FOMM+EWP vs FOMM+AWP", "MRAA vs MRAA+AWP", "MRAA+AWP vs FOMM+AWP"]
TPSMM_SETS = ["TPSMM vs TPSMM+EWP", "TPSMM+EWP vs TPSMM+AWP", "TPSMM+AWP vs FOMM+AWP"]
# synthetic corpus, preparation, 5 trainings, MEGC inputs, 5 sets, recognizers, Table VI, study
N_STAGES = 2 + 5 + 1 + 5 + 3


def _settings(*argv: str):
    return settings_of(build_parser().parse_args(["demo", *argv]))


def test_groups_add_methods_and_their_presets_sets():
    assert _settings("--fast") == FAST and FAST.methods == METHODS
    assert [f"{a} vs {b}" for a, b in FAST.sets] == PAPER
    s = _settings("--fast", "--tpsmm")
    assert s.groups == ("tpsmm",)
    assert s.methods == {**METHODS, "TPSMM": "tpsmm", "TPSMM+EWP": "tpsmm-ewp",
                         "TPSMM+AWP": "tpsmm-awp"}  # fmt: skip
    assert [f"{a} vs {b}" for a, b in s.sets] == PAPER + TPSMM_SETS
    # --famgan keeps working, and is the same as --with famgan; both groups in the order asked
    assert _settings("--famgan").methods == {**METHODS, "FAMGAN": "famgan"}
    assert _settings("--famgan") == _settings("--with", "famgan")
    both = _settings("--with", "tpsmm,famgan", "--famgan")
    assert both.groups == ("tpsmm", "famgan")
    assert list(both.methods)[5:] == [*TPSMM, "FAMGAN"]
    assert [f"{a} vs {b}" for a, b in both.sets] == PAPER + TPSMM_SETS + ["FAMGAN vs FOMM+EWP"]
    assert set(GROUPS) == {"famgan", "tpsmm", "megc2022"}
    # the MEGC2022 entry against the MEGC2021 winner
    s = _settings("--megc2022")
    assert s.methods == {**METHODS, "TPSMM-AU": "tpsmm-au"}
    assert [f"{a} vs {b}" for a, b in s.sets] == PAPER + ["TPSMM-AU vs FOMM+EWP"]


def test_groups_leave_the_training_stages_keys_alone():
    plain, more = FAST, _settings("--fast", "--tpsmm")
    assert plain.key(groups=False) == more.key(groups=False)
    assert plain.key(groups=True) != more.key(groups=True)


def test_an_unknown_group_is_refused_in_one_line(capsys):
    assert main(["demo", "--with", "tpsmm,gan", "--no-serve"]) == 2
    err = capsys.readouterr().err
    assert "--with" in err and "famgan, tpsmm" in err and "'tpsmm,gan'" in err


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--fast", "--no-serve", "--out", str(out)]) == 0
    return out


def _table_vi(demo_dir) -> dict[str, dict[str, str]]:
    with open(demo_dir / "reports" / "auto" / "table_vi.csv", newline="") as f:
        return {row["Method"]: row for row in csv.DictReader(f)}


def _study(demo_dir) -> tuple[list[str], int]:
    con = sqlite3.connect(demo_dir / "fme.db")
    try:
        (n_studies,) = con.execute("select count(*) from studies").fetchone()
        assert n_studies == 1
        names = [n for (n,) in con.execute("select name from comparison_sets order by position")]
        (n_pairs,) = con.execute("select count(*) from pairs").fetchone()
    finally:
        con.close()
    return names, n_pairs


def _sets_ok(demo_dir, labels) -> None:
    for label in labels:
        videos = sorted((demo_dir / "sets" / label).glob("*.mp4"))
        assert len(videos) == 6, label  # 2 held-out templates x 3 drivers (one per class)
        info = probe(videos[0])
        assert info.codec == "h264" and info.fps == pytest.approx(100)


@pytest.mark.slow
def test_demo_writes_sets_tables_and_a_study(demo_dir):
    _sets_ok(demo_dir, METHODS)
    assert list(_table_vi(demo_dir)) == ["Real", *METHODS]
    # the paper's 4 sets x 6 samples, plus the 2 catch trials (stored as pairs of their own)
    assert _study(demo_dir) == (PAPER, 4 * 6 + 2)


@pytest.mark.slow
def test_second_run_reuses_every_stage(demo_dir, capsys):
    checkpoint = demo_dir / "runs" / "fomm" / "checkpoint.pt"
    before = checkpoint.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["demo", "--fast", "--no-serve", "--out", str(demo_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count("done earlier, skipped") == N_STAGES
    assert checkpoint.stat().st_mtime_ns == before


@pytest.mark.slow
def test_tpsmm_added_later_trains_only_its_variants(demo_dir, capsys):
    checkpoint = demo_dir / "runs" / "fomm" / "checkpoint.pt"
    before = checkpoint.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["demo", "--fast", "--tpsmm", "--no-serve", "--out", str(demo_dir)]) == 0
    out = capsys.readouterr().out
    # all but the 3 trainings, the 3 sets, Table VI and the study are reused
    assert out.count("done earlier, skipped") == N_STAGES - 2
    for variant in ("tpsmm", "tpsmm-ewp", "tpsmm-awp"):
        assert (
            f"train {variant}: " in out
            and (demo_dir / "runs" / variant / "checkpoint.pt").is_file()
        )
    assert checkpoint.stat().st_mtime_ns == before
    _sets_ok(demo_dir, TPSMM)
    table = _table_vi(demo_dir)
    assert list(table) == ["Real", *METHODS, *TPSMM]
    assert all(0 <= float(table[m]["Average F1"]) <= 1 for m in TPSMM)
    # the paper's sets, then the `tpsmm` preset's, 6 samples each, plus the 2 catch trials
    assert _study(demo_dir) == (PAPER + TPSMM_SETS, 7 * 6 + 2)
