"""study.report, study.figures and fme.commands.report on simulated votes (no database)."""

from __future__ import annotations

import argparse
import shutil

import numpy as np
import pandas as pd
import pytest
from stats_helpers import PAPER_SETS, published_ratings, simulate_votes

from fme.commands import report as report_cli
from fme.core.errors import DataError
from study import stats as st
from study import tables as tex_tables
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
    return study_report(votes, published_ratings(), n_boot=10, n_calibration=0)


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
    r = study_report(votes, exclude_failed_catch=False, alpha=0.01, n_boot=0, n_calibration=0)
    assert r.excluded == []
    assert (r.tables["sets"]["n_participants"] == 9).all()
    assert r.tables["sets"]["critical_value"].iloc[0] == pytest.approx(2.3263, abs=1e-4)
    crossed = r.tables["crossed"]
    real = votes.loc[~votes["is_catch"]]
    rate_b = real.groupby("set_name")["choice"].apply(lambda c: (c == "B").mean())
    assert crossed["prob_b"].tolist() == pytest.approx(rate_b.tolist(), abs=0.03)
    assert (crossed["ci_low_b"] < crossed["prob_b"]).all()
    holm = sorted(zip(crossed["p_value"], crossed["p_holm_sets"]))
    assert holm[0][1] == pytest.approx(min(1.0, 4 * holm[0][0]))  # Holm: smallest p times 4
    assert all(h >= p for p, h in holm)
    # The set with the largest Z has the largest crossed t too (same data, same direction).
    assert crossed["t_b"].idxmax() == r.tables["sets"]["z_b"].idxmax()


def test_tables_and_figures_present(report):
    assert {
        "table_iv",
        "table_v",
        "voting_rates",
        "sets",
        "tests",
        "crossed",
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
    assert "| ID:3311 | 85 | 51 | 37 | 173 | 1.570620 |" in md
    tex = (tmp_path / "tables" / "voting_rates.tex").read_text()
    assert r"\begin{tabular}" in tex and r"VotingRate($M_a$)" in tex
    assert r"\label{tab:voting-rates}" in tex and r"\caption{Voting rates" in tex
    assert (tmp_path / "report.md") in written


def test_markdown_and_latex_format():
    df = pd.DataFrame({"a_b": [1.23456789, np.nan], "ok": [True, False]}, index=["x|y", "z"])
    df.index.name = "name"
    md = markdown_table(df)
    assert md.splitlines()[0] == "| name | a_b | ok |"
    assert "| x\\|y | 1.2346 | yes |" in md and "| z | \u2014 | no |" in md
    tex = latex_table(df, caption="t_1")
    assert r"a\_b" in tex and r"\caption{t\_1}" in tex and r"\bottomrule" in tex
    neg = markdown_table(pd.DataFrame({"v": [-0.5, 2.0]}), digits=2)
    assert "| \u22120.50 |" in neg and "| 2.00 |" in neg  # real minus, fixed decimals
    assert "$-$0.50" in latex_table(pd.DataFrame({"v": [-0.5]}), digits=2)


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
            "--calibration",
            "0",
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
    assert "| ID:3311 | 85 | 51 | 37 | 173 | 1.570620 |" in capsys.readouterr().out
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
        args = _parser().parse_args([*argv, "--calibration", "0", "--boot", "0", "--no-png"])
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
    assert f"| 0.60 | 0.00 | 18 | {n} |" in out


def test_cli_power_refuses_an_impossible_pair_sd(capsys):
    from fme.cli import main

    assert main(["study", "power", "--effect", "0.9", "--pair-sd", "0.32", "--simulate", "9"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "pair SD 0.32" in err and "Traceback" not in err


# --- a report for every study ----------------------------------------------------------------


def _edge_votes() -> pd.DataFrame:
    """No catch trials; set1 normal, set2 one pair, set3 two pairs at 16/31 (s = 0), set4
    with unequal N per pair (some voters skipped pairs)."""
    base = simulate_votes(STRENGTHS, PAPER_SETS, n_participants=31, n_pairs=6, seed=2)
    one = base.loc[base["set_name"] == "set2"]
    one = one.loc[one["pair_id"] == "set2-p00"]
    flat = base.loc[(base["set_name"] == "set3") & base["pair_id"].isin(["set3-p00", "set3-p01"])]
    flat = flat.copy()
    people = flat["participant"].str[1:].astype(int)
    flat["choice"] = np.where(people < 16, "A", "B")  # 16 of 31 for A on both pairs
    uneven = base.loc[base["set_name"] == "set4"]
    drop = uneven.index[(uneven["participant"] > "P025") & (uneven["pair_id"] < "set4-p03")]
    uneven = uneven.drop(index=drop)
    return pd.concat([base.loc[base["set_name"] == "set1"], one, flat, uneven], ignore_index=True)


@pytest.fixture(scope="module")
def edge_report():
    return study_report(_edge_votes(), n_boot=5, n_calibration=200)


def test_report_without_catch_trials_and_with_edge_sets(edge_report):
    r = edge_report
    assert r.excluded == [] and "Catch trials: none" in r.notes[0]
    sets = r.tables["sets"]
    assert sets.loc["set2", "n_pairs"] == 1 and not sets.loc["set2", "z_defined"]
    assert sets.loc["set3", "sd_votes"] == 0 and not sets.loc["set3", "z_defined"]
    assert sets["z_defined"].tolist() == [True, False, False, True]
    md = r.layout("table_iv").markdown()
    assert md.count("| undefined |") == 2 and "Note: Z is undefined" in md
    # The exact tests decide the s = 0 set: 2 of 2 pairs won, two-sided sign p = 1/2.
    assert r.tables["tests"].loc["set3", "sign_p"] == pytest.approx(0.5)
    # Unequal N: Z over the margins VC_i - N_i/2; H0 printed as a mean margin.
    counts = st.vote_counts(_edge_votes())
    g = counts.loc[counts["set_name"] == "set4"]
    d = g["votes_b"] - g["n"] / 2
    assert sorted(g["n"].unique()) == [26, 31]
    assert sets.loc["set4", "z_b"] == pytest.approx(d.mean() / (d.std(ddof=1) / np.sqrt(len(d))))
    assert np.isnan(sets.loc["set4", "h0_mean"]) and sets.loc["set1", "h0_mean"] == 15.5
    assert "| set1 | FOMM | FOMM+EWP | μ ≤ 15.5 |" in md
    # One pair or one sample: no crossed analysis, said in the table.
    crossed = r.tables["crossed"]
    assert np.isnan(crossed.loc["set2", "t_b"]) and np.isfinite(crossed.loc["set1", "t_b"])
    assert "Note: A set with one pair" in r.layout("crossed").markdown()


def test_paper_tables_print_as_the_paper(report):
    iv = report.layout("table_iv").markdown().splitlines()
    assert iv[0] == "| Set | M_a | M_b | H0 | Z |"
    sets = report.tables["sets"]
    z = sets.loc["set1", "z_b"]
    sign = "\u2212" if z < 0 else ""
    assert f"| set1 | FOMM | FOMM+EWP | μ ≤ 4 | {sign}{abs(z):.2f} |" in iv
    v = report.layout("table_v").markdown()
    k = int(sets.loc["set2", "wins_b"])
    assert f"| {k}/6 |" in v.splitlines()[3]
    tex = report.layout("table_iv").latex()
    assert r"\toprule" in tex and r"$H_0$" in tex and r"\label{tab:table-iv}" in tex
    assert "-" not in tex.split(r"\midrule")[1].replace("$-$", "").split(r"\bottomrule")[0]
    # CSVs keep full precision and machine names.
    assert "z_b" in report.tables["table_iv"].columns
    assert report.tables["table_iv"]["z_b"].tolist() == sets["z_b"].tolist()


def test_long_and_wide_tables_fit_a_page(report):
    pairs = report.layout("pairs")
    assert len(report.tables["pairs"]) == 24 and r"\begin{table}" in pairs.latex()
    big = study_report(
        simulate_votes(STRENGTHS, PAPER_SETS, n_participants=4, n_pairs=18, seed=1),
        n_boot=0,
        n_calibration=0,
    )
    long = big.layout("pairs").latex()
    assert r"\begin{longtable}" in long and r"\endhead" in long
    assert r"\begin{adjustbox}{max width=\linewidth}" in report.layout("sets").latex()
    ids = big.tables["pairs"].reset_index()["pair_id"].tolist()[:12]
    assert ids == [f"set1-p{i:02d}" for i in range(12)]


def _pdflatex(tex_files, tmp_path) -> None:
    doc = tmp_path / "doc.tex"
    body = "\n".join(rf"\input{{{f}}}\clearpage" for f in tex_files)
    doc.write_text(
        "\\documentclass{article}\n"
        f"{tex_tables.PREAMBLE}\n\\begin{{document}}\n{body}\n\\end{{document}}\n"
    )
    import subprocess

    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = run.stdout
    assert run.returncode == 0, log[-3000:]
    assert "Overfull \\hbox" not in log, [ln for ln in log.splitlines() if "Overfull" in ln]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_every_tex_table_compiles(report, edge_report, tmp_path):
    big = study_report(
        simulate_votes(STRENGTHS, PAPER_SETS, n_participants=4, n_pairs=18, seed=1),
        n_boot=0,
        n_calibration=50,
    )
    files = []
    for k, r in enumerate((report, edge_report, big)):
        r.write(tmp_path / f"r{k}", png=False)
        files += sorted((tmp_path / f"r{k}" / "tables").glob("*.tex"))
    assert len(files) >= 3 * 12
    for f in files:  # plain ASCII: no inputenc or font package needed
        assert f.read_text(encoding="utf-8").isascii(), f
    _pdflatex([f.relative_to(tmp_path).as_posix() for f in files], tmp_path)


def test_cli_report_without_catch_column_keeps_everyone(tmp_path, capsys):
    votes = simulate_votes(
        STRENGTHS, PAPER_SETS[:1], n_participants=15, n_pairs=4, catch_per_participant=1
    )
    path = tmp_path / "votes.csv"
    votes.drop(columns=["catch_passed"]).to_csv(path, index=False)
    out = tmp_path / "rep"
    argv = ["study", "report", "--votes", str(path), "--out", str(out), "--no-png"]
    args = _parser().parse_args([*argv, "--boot", "0", "--calibration", "0"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "excluded 0 of 15" in printed and "no pass/fail information" in printed
    assert "default of `fme study create`" in printed
    sets = pd.read_csv(out / "tables" / "sets.csv", index_col=0)
    assert sets["n_participants"].tolist() == [15]
    # --keep-failed-catch with real catch failures: everyone stays, no crash.
    failing = simulate_votes(
        STRENGTHS,
        PAPER_SETS[:1],
        n_participants=5,
        n_pairs=4,
        catch_per_participant=2,
        failing=(1,),
    )
    failing.to_csv(path, index=False)
    for extra, n_kept in (["--keep-failed-catch"], 5), (["--max-catch-failures", "1"], 4):
        args = _parser().parse_args([*argv, "--boot", "0", "--calibration", "0", *extra])
        assert args.func(args) == 0
        sets = pd.read_csv(out / "tables" / "sets.csv", index_col=0)
        assert sets["n_participants"].tolist() == [n_kept]


def test_cli_report_of_a_study_created_without_catch_trials(tmp_path, capsys):
    """`fme study create`'s default (no catch trials) from the database: a whole report."""
    helpers = pytest.importorskip("study_helpers")
    from sqlalchemy import select

    from db.models import Assignment, Vote
    from study import design

    samples = [f"d{i}-t{j}" for i in range(3) for j in range(2)]
    dirs = helpers.make_method_dirs(tmp_path / "m", ["FOMM", "FOMM+EWP"], samples)
    url, _engine, sessions = helpers.make_db(tmp_path / "fme.db")
    with sessions() as s:
        design.create_study(
            s,
            "nocatch",
            {k: str(v) for k, v in dirs.items()},
            [("FOMM", "FOMM+EWP")],
            seed=0,
            media_dir=tmp_path / "media",
        )
        for k in range(4):
            p = design.enroll(s, "nocatch")
            for a in s.scalars(select(Assignment).where(Assignment.participant_id == p.id)):
                choice = "B" if (a.pair_id + k) % 3 else "A"
                s.add(Vote(participant_id=p.id, pair_id=a.pair_id, choice=choice, response_ms=9))
            s.commit()
    out = tmp_path / "rep"
    for extra in ([], ["--keep-failed-catch"]):
        argv = ["study", "report", "nocatch", "--db", url, "--out", str(out), "--no-png"]
        args = _parser().parse_args([*argv, "--boot", "0", "--calibration", "0", *extra])
        assert args.func(args) == 0
        assert "Catch trials: none" in capsys.readouterr().out
        sets = pd.read_csv(out / "tables" / "sets.csv", index_col=0)
        assert sets["n_participants"].tolist() == [4] and sets["n_pairs"].tolist() == [6]
        assert (out / "tables" / "crossed.tex").is_file()


def test_simulate_study_csv_is_a_votes_csv(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "simulate_study.py"
    spec = importlib.util.spec_from_file_location("simulate_study", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    csv = tmp_path / "v.csv"
    argv = ["--csv", str(csv), "--participants", "6", "--pairs", "4", "--catch", "1"]
    assert module.main([*argv, "--careless", "1", "--strength", "FOMM+AWP=1"]) == 0
    votes = st.check_votes(pd.read_csv(csv))
    assert len(votes) == 4 * 4 * 6 + 6
    assert votes.groupby("set_name")["pair_id"].nunique().drop("catch").tolist() == [4] * 4
    rule = st.CatchRule()
    rule.apply(votes)
    assert len(rule.excluded) == 1  # the careless volunteer fails the catch trial


def test_power_table_from_the_data(report, votes):
    power = report.tables["power"].reset_index()
    kept = st.CatchRule().apply(votes)
    counts = st.vote_counts(kept.loc[~kept["is_catch"]])
    for name, g in counts.groupby("set_name"):
        rows = power.loc[power["set_name"] == name]
        sd = st.pair_sd(g["votes_b"], g["n"])
        assert rows["pair_sd"].tolist() == pytest.approx([sd] * 4)
        for _, row in rows.iterrows():
            assert row["power"] == pytest.approx(
                st.z_test_power(row["voting_rate_b"], 8, 6, pair_sd=sd), rel=1e-12
            )
            need = st.required_volunteers(row["voting_rate_b"], 6, pair_sd=sd).n_participants
            assert (pd.isna(row["n_needed"]) and need is None) or row["n_needed"] == need
        assert rows["power"].is_monotonic_increasing and rows["power"].nunique() > 1


def test_calibration_table_at_the_study_design(edge_report):
    cal = edge_report.tables["calibration"].reset_index()
    # One block per design with at least 2 pairs: (N, M) = (31, 2) and (31, 6); not M = 1.
    designs = list(zip(cal["n_participants"], cal["n_pairs"]))
    assert designs == [(31, 2)] * 4 + [(31, 6)] * 4
    assert cal["log_odds"].tolist() == [0.0, 0.0, 0.0, 0.3] * 2
    assert (cal["n_sim"] == 200).all()
    for col in ("paper_z", "t_pairs", "crossed", "crossed_greater"):
        # a share of the 200 simulated sets (a rate in [0, 1] would hold whatever the code did)
        assert np.allclose(cal[col] * 200, (cal[col] * 200).round())
    six = cal.iloc[4:]
    assert six["crossed"].iloc[3] > six["crossed"].iloc[:3].max()  # power above the level


def test_every_test_is_printed_with_its_effect_and_interval(report):
    eff = report.tables["effects"]
    crossed = report.tables["crossed"]
    assert eff["prob_b"].tolist() == pytest.approx(crossed["prob_b"].tolist())
    assert (eff["ci_low_b"] < eff["prob_b"]).all() and (eff["prob_b"] < eff["ci_high_b"]).all()
    rates = report.tables["voting_rates"]
    assert (rates["rate_low_b"] < rates["voting_rate_b"]).all()
    assert (rates["voting_rate_b"] < rates["rate_high_b"]).all()
    # Not significant: TOST within [0.45, 0.55] decides "equivalent" or "undecided".
    for _, row in eff.iterrows():
        if row["p_crossed"] >= 0.05:
            assert row["verdict"].startswith(("equivalent", "undecided"))
            assert (row["verdict"].startswith("equivalent")) == (row["tost_p"] < 0.05)
    md = report.layout("effects").markdown()
    assert "TOST p [0.45, 0.55]" in md
    assert "se_independent" in crossed and "SE indep." in report.layout("crossed").markdown()
    assert "μ ≤ N/2" in report.layout("table_iv").caption


def test_kappa_only_with_two_pairs_and_reliability_beside_it(edge_report, report):
    tests = edge_report.tables["tests"]
    assert np.isnan(tests.loc["set2", "fleiss_kappa"])  # one pair: kappa is -1/(N-1) always
    assert np.isfinite(tests.loc["set1", "fleiss_kappa"])
    assert {"spearman_brown", "icc", "icc_low", "icc_high"} <= set(report.tables["tests"])


def test_sensitivity_table_recomputes_the_main_numbers_under_each_rule(votes):
    r = study_report(votes, n_boot=0, n_calibration=0, fast_ms=2500)
    sens = r.tables["sensitivity"]
    rules = list(dict.fromkeys(sens.index.get_level_values("rule")))
    assert rules[:3] == ["no exclusion", "catch rule (main)", "+ responses under 2500 ms out"]
    main = sens.xs("catch rule (main)")
    assert main["z_b"].tolist() == pytest.approx(r.tables["sets"]["z_b"].tolist())
    everyone = sens.xs("no exclusion")
    assert (everyone["n_participants"] == 9).all() and (main["n_participants"] == 8).all()
    real = votes.loc[~votes["is_catch"] & (votes["participant"] != "P004")]
    fast = sens.xs("+ responses under 2500 ms out")
    expected = real.loc[real["response_ms"] >= 2500].groupby("set_name").size()
    assert fast["n_votes"].tolist() == expected.tolist()


def test_ranking_and_position_bias_tables(report):
    bt = report.tables["bradley_terry"]
    assert {"rank_low", "rank_high", "ci_low", "ci_high"} <= set(bt)
    assert (bt["rank_low"] <= bt["rank"]).all() and (bt["rank"] <= bt["rank_high"]).all()
    frag = report.tables["ranking_fragility"]
    assert len(frag) == len(bt) - 1
    bias = report.tables["position_bias"]
    assert {"p_value", "p_binomial"} <= set(bias) and "all" in bias.index


def test_sequential_plan_adds_its_calibration_row(votes):
    from study.sequential import SequentialPlan

    plan = SequentialPlan((0.5, 1.0), "obrien-fleming")
    r = study_report(votes, n_boot=0, n_calibration=200, sequential=plan)
    seq = r.tables["sequential"].iloc[0]
    assert seq["n_sim"] == 200 and 0 <= seq["planned"] <= seq["naive"]
    assert seq["planned_se"] == pytest.approx(np.sqrt(seq["planned"] * (1 - seq["planned"]) / 200))


def test_cli_report_takes_the_studys_own_sequential_plan(tmp_path):
    helpers = pytest.importorskip("study_helpers")
    from study.design import create_study

    dirs = helpers.make_method_dirs(tmp_path / "m", ["FOMM", "FOMM+EWP"])
    url, engine, sessions = helpers.make_db(tmp_path / "fme.db")
    with sessions() as s:
        create_study(
            s,
            "seq",
            {k: str(v) for k, v in dirs.items()},
            [("FOMM", "FOMM+EWP")],
            planned_n=30,
            looks="0.5,1",
            spending="pocock",
        )
        create_study(
            s, "fixed", {k: str(v) for k, v in dirs.items()}, [("FOMM", "FOMM+EWP")], planned_n=30
        )
    engine.dispose()
    plans = {}
    for name in ("seq", "fixed"):
        args = _parser().parse_args(["study", "report", name, "--db", url, "--out", "x"])
        plans[name] = report_cli._sequential_plan(args)
    assert plans["seq"].looks == (0.5, 1.0) and plans["seq"].rule == "pocock"
    assert plans["fixed"] is None
    args = _parser().parse_args(
        ["study", "report", "seq", "--db", url, "--out", "x", "--looks", "0.3,1"]
    )
    assert report_cli._sequential_plan(args).rule == "obrien-fleming"  # the options win
