"""Bradley-Terry with Firth's estimate, robust intervals, rank intervals and fragility."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import minimize
from stats_helpers import PAPER_SETS, simulate_votes

from study import stats as st
from study.ranking import (
    fit_scores,
    fragility_pair,
    interval_coverage,
    order_margin,
    penalised_loglik,
    rank_methods,
    separation,
)


def direct_firth(wins: np.ndarray) -> np.ndarray:
    """Firth's estimate by maximising the penalised log-likelihood with a generic optimiser."""
    k = wins.shape[0]
    res = minimize(
        lambda b: -penalised_loglik(b, wins),
        np.zeros(k - 1),
        method="BFGS",
        options={"gtol": 1e-10},
    )
    full = np.concatenate([[0.0], res.x])
    return full - full.mean()


@pytest.mark.parametrize("separated", [False, True])
def test_firth_scores_equal_a_direct_penalised_likelihood_optimisation(separated):
    rng = np.random.default_rng(1 + separated)
    for _ in range(3):
        wins = rng.integers(0, 12, (4, 4)).astype(float)
        np.fill_diagonal(wins, 0)
        if separated:
            wins[0] += 3
            wins[:, 0] = 0  # method 0 never loses
        wins[np.eye(4, dtype=bool)] = 0
        scores, _ = fit_scores(wins)
        assert scores == pytest.approx(direct_firth(wins), abs=1e-5)
        assert np.all(np.isfinite(scores))
        assert (separation(wins)[0] == 1) == separated


def test_two_methods_firth_is_the_half_added_log_odds_and_fragility_the_margin():
    # One binomial: Firth's estimate is logit((y + 1/2) / (n + 1)); the order flips once the
    # winner's extra wins are removed.
    wins = np.array([[0.0, 17.0], [6.0, 0.0]])
    scores, _ = fit_scores(wins)
    assert scores[0] - scores[1] == pytest.approx(math.log(17.5 / 6.5), abs=1e-8)
    assert fragility_pair(wins, 0, 1) == 17 - 6


def exhaustive_fragility(wins: np.ndarray, i: int, j: int, limit: int = 10) -> int | None:
    kinds = [(a, b) for a in range(3) for b in range(3) if a != b and wins[a, b] > 0]
    for total in range(limit + 1):
        for combo in itertools.combinations_with_replacement(range(len(kinds)), total):
            w = wins.copy()
            for c in combo:
                w[kinds[c]] -= 1
            if (w >= 0).all() and order_margin(w, i, j) <= 0:
                return total
    return None


def test_fragility_equals_exhaustive_search_over_removals():
    rng = np.random.default_rng(7)
    checked = 0
    while checked < 5:
        wins = rng.integers(2, 9, (3, 3)).astype(float)
        np.fill_diagonal(wins, 0)
        scores, _ = fit_scores(wins)
        top, second = np.argsort(-scores)[:2]
        expected = exhaustive_fragility(wins, top, second)
        if expected is None:
            continue
        assert fragility_pair(wins, top, second) == expected
        checked += 1


def test_a_perfect_winner_gets_a_finite_score_an_open_interval_and_a_note():
    votes = simulate_votes(
        {"FOMM": 0.0, "FOMM+EWP": 0.2, "MRAA": 0.0, "MRAA+AWP": 0.1},
        [("FOMM", "FOMM+EWP"), ("MRAA", "MRAA+AWP"), ("FOMM", "MRAA")],
        n_participants=10,
        n_pairs=6,
        seed=2,
    )
    checked = st.check_votes(votes)
    best = checked["set_name"] == "set1"
    checked.loc[best, "choice"] = "B"  # FOMM+EWP wins every vote
    r = rank_methods(checked, n_boot=20, seed=0)
    assert r.separated == {"FOMM+EWP": 1}
    assert r.frame.index[0] == "FOMM+EWP" and math.isfinite(r.frame.loc["FOMM+EWP", "score"])
    assert r.frame.loc["FOMM+EWP", "ci_high"] == math.inf
    md = r.tables()[0].markdown()
    assert "FOMM+EWP never loses" in md and "Firth" in md


def test_rank_intervals_are_tight_for_distinct_methods_and_wide_for_equal_ones():
    sets = [("A", "B"), ("B", "C"), ("C", "D")]
    clear = simulate_votes(
        {"A": 3.0, "B": 1.5, "C": 0.0, "D": -1.5}, sets, n_participants=15, n_pairs=8, seed=1
    )
    equal = simulate_votes(
        {"A": 0.0, "B": 0.0, "C": 0.0, "D": 0.0}, sets, n_participants=15, n_pairs=8, seed=1
    )
    r = rank_methods(st.check_votes(clear), n_boot=50, fragility=False).frame
    assert (r["rank_low"] == r["rank_high"]).all() and list(r.index) == ["A", "B", "C", "D"]
    e = rank_methods(st.check_votes(equal), n_boot=50, fragility=False).frame
    assert (e["rank_high"] - e["rank_low"]).max() >= 2


@pytest.mark.parametrize("participant_sd, sample_sd", [(0.0, 0.0), (0.8, 0.5)])
def test_robust_intervals_cover_in_simulation_with_and_without_spread(participant_sd, sample_sd):
    # 150 simulated studies (4 methods, 3 sets, 16 participants, 12 pairs); Monte Carlo SE
    # of a 95 % coverage over 150 studies is 1.8 %; 3 SE either side.
    n_sim = 150
    cov = interval_coverage(
        [0.3, 0.0, -0.2, 0.1],
        [(0, 1), (1, 2), (2, 3)],
        16,
        12,
        participant_sd=participant_sd,
        sample_sd=sample_sd,
        n_sim=n_sim,
        seed=4,
    )
    se = math.sqrt(0.95 * 0.05 / n_sim)
    assert abs(cov["robust"] - 0.95) < 3 * se
    if participant_sd:  # treating votes as independent undercovers when people differ
        assert cov["independent"] < 0.95 - 3 * se


def test_fragility_table_in_the_ranking():
    votes = simulate_votes(
        {"FOMM": 0.0, "FOMM+EWP": 0.05, "FOMM+AWP": 0.5, "MRAA": -0.4, "MRAA+AWP": 0.1},
        PAPER_SETS,
        n_participants=8,
        n_pairs=6,
        seed=5,
    )
    r = rank_methods(st.check_votes(votes), n_boot=0)
    frag = r.fragility
    assert list(frag["rank"]) == [1, 2, 3, 4]
    assert (frag["votes_to_swap"] >= 1).all()
    assert r.random_drop is not None and 0 <= r.random_drop <= 1
