"""study.report, study.figures and study.report_cli on simulated votes (no database)."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
from stats_helpers import PAPER_SETS, published_ratings, simulate_votes

from fme.errors import DataError
from study import report_cli
from study import stats as st
from study.report import latex_table, markdown_table, study_report

STRENGTHS = {"FOMM": 0.0, "FOMM+EWP": 0.05, "FOMM+AWP": 0.5, "MRAA": -0.4, "MRAA+AWP": 0.1}


@pytest.fixture(scope="module")
def votes() -> pd.DataFrame:
    return simulate_votes(
        STRENGTHS,
        PAPER_SETS,
        n_participants=9,
        n_pairs=6,
        catch_per_participant=2,
        failing=(4,),
        left_bias=0.3,
        seed=5,
    )


@pytest.fixture(scope="module")
def report(votes):
    return study_report(votes, published_ratings(), n_boot=10, mixed=False)


def test_sets_table_matches_hand_counts_without_failed_participant(votes, report):
    sets = report.tables["sets"]
    assert report.excluded == ["P004"]
    real = votes.loc[~votes["is_catch"] & (votes["participant"] != "P004")]
    for name, g in real.groupby("set_name"):
        vc = g.groupby("pair_id")["choice"].apply(lambda c: int((c == "A").sum())).to_numpy()
        n = 8
        z = (vc.mean() - n / 2) / (vc.std(ddof=1) / np.sqrt(len(vc)))
        assert sets.loc[name, "z"] == pytest.approx(z)
        assert sets.loc[name, "n_participants"] == n
        assert sets.loc[name, "voting_rate"] == pytest.approx((g["choice"] == "A").mean())
        assert sets.loc[name, "pref_rate"] == pytest.approx(np.mean(vc > n - vc))
    assert sets["critical_value"].tolist() == pytest.approx([1.644854] * 4, abs=1e-6)
    pairs = report.tables["pairs"]
    assert len(pairs) == 4 * 6 and (pairs["n"] == 8).all()  # catch trials not counted


def test_keeping_failed_participants_and_alpha(votes):
    r = study_report(votes, exclude_failed_catch=False, alpha=0.01, n_boot=0, mixed=True)
    assert r.excluded == []
    assert (r.tables["sets"]["n_participants"] == 9).all()
    assert r.tables["sets"]["critical_value"].iloc[0] == pytest.approx(2.3263, abs=1e-4)
    tests = r.tables["tests"]
    assert (tests["glmm_prob_a"].between(0, 1)).all()
    # The set with the largest Z has the largest mixed-model z too (same data, same direction).
    assert tests["glmm_z"].idxmax() == r.tables["sets"]["z"].idxmax()


def test_tables_and_figures_present(report):
    assert {
        "sets",
        "tests",
        "pairs",
        "bradley_terry",
        "position_bias",
        "power",
        "participants",
        "expert",
    } <= set(report.tables)
    assert report.tables["expert"]["normalized_overall"].round(6).tolist() == [
        1.57062,
        2.228101,
        2.736842,
        2.936782,
    ]
    assert report.tables["bradley_terry"].index[0] == "FOMM+AWP"
    fig = report.figures["voting_rate"]
    sets = report.tables["sets"]
    assert list(fig.data[0].y) == pytest.approx(sets["voting_rate"].tolist())
    assert list(fig.data[1].y) == pytest.approx(sets["voting_rate_b"].tolist())
    assert any(s.y0 == 0.5 and s.y1 == 0.5 for s in fig.layout.shapes)  # the 50% line
    bars = report.figures["pair_votes"]
    assert len(bars.data) == 2 * 4  # A and B per set
    first = report.tables["pairs"].loc["set1"]
    assert list(bars.data[0].y) == pytest.approx((first["votes_a"] / first["n"]).tolist())
    bt = report.figures["bradley_terry"]
    assert list(bt.data[0].x) == list(report.tables["bradley_terry"].index)


def test_write_outputs(report, tmp_path):
    written = report.write(tmp_path, png=False)
    for name in report.tables:
        for ext in ("csv", "md", "tex"):
            assert (tmp_path / "tables" / f"{name}.{ext}").is_file()
    for name in report.figures:
        html = (tmp_path / "figures" / f"{name}.html").read_text()
        assert "plotly" in html
    assert not list(tmp_path.glob("figures/*.png"))
    back = pd.read_csv(tmp_path / "tables" / "sets.csv", index_col=0)
    assert back["z"].tolist() == pytest.approx(report.tables["sets"]["z"].tolist())
    md = (tmp_path / "tables" / "expert.md").read_text()
    assert "| FOMM with EWP | 139 | 101 | 76 | 316 | 2.936782 |" in md
    tex = (tmp_path / "tables" / "sets.tex").read_text()
    assert r"\begin{tabular}" in tex and r"voting\_rate" in tex
    assert (tmp_path / "report.md") in written


def test_markdown_and_latex_format():
    df = pd.DataFrame({"a_b": [1.23456789, np.nan], "ok": [True, False]}, index=["x|y", "z"])
    df.index.name = "name"
    md = markdown_table(df)
    assert md.splitlines()[0] == "| name | a_b | ok |"
    assert "| x\\|y | 1.2346 | yes |" in md and "| z |  | no |" in md
    tex = latex_table(df, caption="t_1")
    assert r"a\_b" in tex and r"\caption{t\_1}" in tex and r"\bottomrule" in tex


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fme")
    report_cli.register(parser.add_subparsers(dest="command"))
    return parser


def test_cli_report_from_csv_and_expert_table(votes, tmp_path, capsys):
    path = tmp_path / "votes.csv"
    votes.to_csv(path, index=False)
    ratings = tmp_path / "ratings.csv"
    published_ratings().to_csv(ratings, index=False)
    out = tmp_path / "rep"
    args = _parser().parse_args(
        [
            "study",
            "report",
            "--votes",
            str(path),
            "--out",
            str(out),
            "--no-mixed",
            "--boot",
            "5",
            "--no-png",
            "--ratings",
            str(ratings),
        ]
    )
    assert args.func(args) == 0
    assert (out / "tables" / "sets.csv").is_file() and (out / "tables" / "expert.csv").is_file()
    sets = pd.read_csv(out / "tables" / "sets.csv", index_col=0)
    expected = st.summarize_sets(st.CatchRule().apply(votes))
    assert sets["z"].tolist() == pytest.approx([s.z for s in expected])
    assert "P004" in capsys.readouterr().out

    args = _parser().parse_args(
        ["expert-table", "--ratings", str(ratings), "--out", str(tmp_path / "ex"), "--no-png"]
    )
    assert args.func(args) == 0
    assert "| ID:3311 | 85 | 51 | 37 | 173 | 1.57062 |" in capsys.readouterr().out
    assert (tmp_path / "ex" / "tables" / "expert.tex").is_file()


def test_cli_bad_input(tmp_path):
    args = _parser().parse_args(
        ["study", "report", "--votes", str(tmp_path / "none.csv"), "--out", str(tmp_path)]
    )
    with pytest.raises(DataError, match="none.csv"):
        args.func(args)
    args = _parser().parse_args(
        ["study", "report", "x", "--db", f"sqlite:///{tmp_path}/no.db", "--out", str(tmp_path)]
    )
    with pytest.raises(DataError, match="no.db"):
        args.func(args)
    assert not (tmp_path / "no.db").exists()


def test_cli_report_from_database_matches_csv_export(tmp_path):
    """The database path through study.export gives the same tables as its CSV export."""
    helpers = pytest.importorskip("study_helpers")
    design = pytest.importorskip("study.design")
    export = pytest.importorskip("study.export")
    from sqlalchemy import select

    from db.models import Assignment, CatchTrial, Vote

    samples = [f"d{i}-t{j}" for i in range(2) for j in range(2)]
    dirs = helpers.make_method_dirs(tmp_path / "m", ["FOMM", "FOMM+EWP"], samples)
    url, _engine, sessions = helpers.make_db(tmp_path / "fme.db")
    rng = np.random.default_rng(0)
    with sessions() as s:
        design.create_study(
            s,
            "demo",
            {k: str(v) for k, v in dirs.items()},
            [("FOMM", "FOMM+EWP")],
            catch=1,
            seed=0,
            media_dir=tmp_path / "media",
        )
        for k in range(5):
            p = design.enroll(s, "demo")
            for a in s.scalars(select(Assignment).where(Assignment.participant_id == p.id)):
                ct = s.scalar(select(CatchTrial).where(CatchTrial.pair_id == a.pair_id))
                if ct is not None:  # participant 2 fails the catch trial
                    choice = ct.correct if k != 2 else {"A": "B", "B": "A"}[ct.correct]
                else:
                    choice = "A" if rng.random() < 0.3 else "B"
                s.add(Vote(participant_id=p.id, pair_id=a.pair_id, choice=choice, response_ms=9))
            s.commit()
        paths = export.export_csv(s, "demo", tmp_path / "csv")
    out_db, out_csv = tmp_path / "db", tmp_path / "csvrep"
    for argv in (
        ["study", "report", "demo", "--db", url, "--out", str(out_db)],
        ["study", "report", "--votes", str(paths["votes"]), "--out", str(out_csv)],
    ):
        args = _parser().parse_args([*argv, "--no-mixed", "--boot", "0", "--no-png"])
        assert args.func(args) == 0
    a = pd.read_csv(out_db / "tables" / "sets.csv", index_col=0)
    b = pd.read_csv(out_csv / "tables" / "sets.csv", index_col=0)
    pd.testing.assert_frame_equal(a, b)
    assert a["n_participants"].tolist() == [4] and a["n_pairs"].tolist() == [4]
    votes = pd.read_csv(paths["votes"])
    real = votes.loc[~votes["is_catch"].astype(bool)]
    kept = real.loc[real["participant"] != sorted(real["participant"].unique())[2]]
    assert a["voting_rate"].iloc[0] == pytest.approx((kept["choice"] == "A").mean())


def test_cli_power_table(capsys):
    args = _parser().parse_args(
        ["study", "power", "--effect", "0.6", "0.7", "--pair-sd", "0", "--simulate", "500"]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    n = st.required_volunteers(0.6, 18).n_participants
    assert f"| 0.6 | 0 | 18 | {n} |" in out
