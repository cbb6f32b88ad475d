"""Votes checked before the statistics: studies, repeated votes, catch trials, self-sets."""

from __future__ import annotations

import pandas as pd
import pytest
from stats_helpers import PAPER_SETS, simulate_votes

from fme.core.errors import DataError
from study import stats as st
from study.checks import screen_votes
from study.report import study_report

STRENGTHS = {"FOMM": 0.0, "FOMM+EWP": 0.1, "FOMM+AWP": 0.4, "MRAA": -0.2, "MRAA+AWP": 0.0}


@pytest.fixture(scope="module")
def votes() -> pd.DataFrame:
    return simulate_votes(
        STRENGTHS,
        PAPER_SETS,
        n_participants=8,
        n_pairs=6,
        catch_per_participant=2,
        failing=(1,),
        seed=3,
    )


def test_duplicates_and_second_votes_are_removed_counted_and_the_first_kept(votes):
    flipped = votes.iloc[10:13].assign(
        choice=lambda d: d["choice"].map({"A": "B", "B": "A"}),
        created_at=pd.Timestamp("2026-01-02"),  # later than the first vote
    )
    messy = pd.concat([votes, votes.iloc[:5], flipped], ignore_index=True)
    clean, screen = screen_votes(messy)
    assert (screen.exact_duplicates, screen.second_votes) == (5, 3)
    assert screen.kept == len(votes)
    pd.testing.assert_frame_equal(clean, votes.reset_index(drop=True))
    with pytest.raises(DataError, match="second vote"):
        screen_votes(messy, duplicates="refuse")
    with pytest.raises(DataError, match="more than once"):
        st.check_votes(messy)  # the statistics never count a repeated vote
    z = st.summarize_sets(clean.loc[~clean["is_catch"]])[0].z
    r = study_report(messy, n_boot=0, n_calibration=0, exclude_failed_catch=False)
    assert r.tables["sets"]["z"].iloc[0] == pytest.approx(z)
    assert "3 second vote(s)" in " ".join(r.notes)
    assert r.tables["vote_checks"].loc["rows kept", "count"] == len(votes)


def test_two_studies_in_one_csv_are_refused_unless_one_is_chosen(votes):
    both = pd.concat([votes, votes.assign(study="other")], ignore_index=True)
    with pytest.raises(DataError, match="2 studies"):
        study_report(both, n_boot=0, n_calibration=0)
    with pytest.raises(DataError, match="2 studies"):
        st.check_votes(both)
    one = study_report(both, study="other", n_boot=0, n_calibration=0)
    ref = study_report(votes, n_boot=0, n_calibration=0)
    assert one.tables["sets"]["z"].tolist() == pytest.approx(ref.tables["sets"]["z"].tolist())
    with pytest.raises(DataError, match="no votes of study 'third'"):
        screen_votes(both, study="third")


def _as_export(votes: pd.DataFrame) -> pd.DataFrame:
    """Catch trials as the export writes them: set "catch", method B "corrupted"."""
    out = votes.copy()
    out.loc[out["is_catch"], ["set_name", "method_b"]] = ["catch", "corrupted"]
    return out


def test_catch_trials_are_recognised_without_is_catch(votes):
    exported = _as_export(votes)
    catch = exported["is_catch"]
    exported.loc[catch, "choice"] = exported.loc[catch, "participant"].map(
        lambda p: "B" if p == "P001" else "A"  # P001 picks the corrupted video (B)
    )
    exported["catch_passed"] = (exported["choice"] == "A").where(catch, pd.NA)
    with_flag = study_report(exported, n_boot=0, n_calibration=0)
    bare = study_report(
        exported.drop(columns=["is_catch", "catch_passed"]), n_boot=0, n_calibration=0
    )
    assert bare.excluded == with_flag.excluded == ["P001"]
    assert "corrupted" not in bare.tables["bradley_terry"].index
    pd.testing.assert_frame_equal(bare.tables["sets"], with_flag.tables["sets"])
    assert "recognised" in " ".join(bare.notes)


def test_rows_that_half_look_like_catch_trials_are_refused_naming_the_column(votes):
    odd = votes.drop(columns=["is_catch"]).copy()
    odd.loc[odd["pair_id"].str.startswith("catch"), "method_b"] = "corrupted"
    with pytest.raises(DataError, match="no is_catch column") as err:
        study_report(odd, n_boot=0, n_calibration=0)
    assert "Add an is_catch column" in err.value.hint


def test_a_method_against_itself_is_refused(votes):
    same = votes.copy()
    same.loc[same["set_name"] == "set2", "method_b"] = "FOMM+EWP"
    with pytest.raises(DataError, match="set 'set2' compares method 'FOMM\\+EWP' with itself"):
        st.check_votes(same)
