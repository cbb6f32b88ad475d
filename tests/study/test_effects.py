"""Effect sizes with intervals, equivalence, reliability and position bias by participant."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from study.effects import (
    icc_oneway,
    position_bias_clustered,
    probability_bounds,
    simulate_position_bias,
    split_half,
    tost,
    voting_rate_ci,
)


def _crossed_votes(n=25, m=18, seed=0, participant_sd=0.5, sample_sd=0.4, log_odds=0.3):
    rng = np.random.default_rng(seed)
    p = np.repeat(np.arange(n), m)
    s = np.tile(np.arange(m), n)
    eta = log_odds + rng.normal(0, participant_sd, n)[p] + rng.normal(0, sample_sd, m)[s]
    y = (rng.random(n * m) < 1 / (1 + np.exp(-eta))).astype(float)
    return y, p, s


def test_voting_rate_interval_is_statsmodels_two_way_cluster_robust():
    import statsmodels.api as sm

    y, p, s = _crossed_votes()
    r = voting_rate_ci(y, p, s)
    fit = sm.OLS(y, np.ones(len(y))).fit(
        cov_type="cluster", cov_kwds={"groups": np.column_stack([p, s])}
    )
    assert r.rate == pytest.approx(y.mean())
    assert r.se == pytest.approx(fit.bse[0], rel=1e-10)
    assert r.ci_low < r.rate < r.ci_high
    # Participants who differ make the interval wider than independent votes' Wilson one.
    assert r.se > r.se_independent and r.wilson_low > r.ci_low


def test_tost_is_statsmodels_paired_tost():
    from statsmodels.stats.weightstats import ttost_paired

    x = np.random.default_rng(2).normal(0.02, 0.1, 20)
    p_ref = ttost_paired(x, np.zeros(20), -0.1, 0.1)[0]
    e = tost(x.mean(), x.std(ddof=1) / math.sqrt(20), 19, -0.1, 0.1)
    assert e.p_value == pytest.approx(p_ref, rel=1e-10)
    assert e.equivalent == (p_ref < 0.05)
    # Equivalence is the 90 % interval inside the bounds.
    wide = tost(0.0, 0.1, 30, -0.1, 0.1)
    assert not wide.equivalent and tost(0.0, 0.03, 30, -0.1, 0.1).equivalent


def test_probability_bounds():
    low, high = probability_bounds(0.05)
    assert 1 / (1 + math.exp(-high)) == pytest.approx(0.55) and low == -high


def test_icc_is_the_one_way_anova_of_votes_by_pair():
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    y, p, s = _crossed_votes(seed=1)
    table = sm.stats.anova_lm(smf.ols("y ~ C(g)", pd.DataFrame({"y": y, "g": s})).fit())
    msb, msw = table["mean_sq"].iloc[0], table["mean_sq"].iloc[1]
    icc, lo, hi = icc_oneway(y, s)
    assert icc == pytest.approx(1 - msw / msb, rel=1e-10)
    assert lo < icc < hi


def test_split_half_and_icc_recover_the_true_reliability_in_simulation():
    # Pair rates spread with SD tau around 0.6; N voters per pair. The reliability of the
    # per-pair rate is tau^2 / (tau^2 + E[p(1-p)] / N). 200 simulated sets; the assertion
    # allows 3 Monte Carlo SEs of the mean.
    n, m, tau, sets = 30, 18, 0.15, 200
    rng = np.random.default_rng(5)
    sb, iccs = [], []
    for k in range(sets):
        rates = np.clip(rng.normal(0.6, tau, m), 0.01, 0.99)
        y = (rng.random((n, m)) < rates).astype(float).ravel()
        people = np.repeat(np.arange(n), m)
        pairs = np.tile(np.arange(m), n)
        sb.append(split_half(y, people, pairs, n_splits=20, seed=k)[1])
        iccs.append(icc_oneway(y, pairs)[0])
    true_var = np.var(np.clip(rng.normal(0.6, tau, 200000), 0.01, 0.99))
    within = 0.6 * 0.4 - true_var
    truth = true_var / (true_var + within / n)
    for values in (sb, iccs):
        mc = np.std(values) / math.sqrt(sets)
        assert abs(np.mean(values) - truth) < 3 * mc + 0.02


def test_position_bias_with_participants_as_clusters_holds_its_level():
    # Habitual left- or right-clickers (SD 1 on the log-odds) and no overall bias: 800
    # simulated studies of N = 31, M = 18; Monte Carlo SE of a 5 % rate is 0.77 %.
    n_sim = 800
    res = simulate_position_bias(n_sim, left_sd=1.0, seed=3)
    se = math.sqrt(0.05 * 0.95 / n_sim)
    assert abs(res["clustered"] - 0.05) < 3 * se
    assert res["binomial"] > 0.2  # votes as independent: far too many false alarms


def test_position_bias_from_votes_finds_a_real_bias():
    rng = np.random.default_rng(0)
    rows = []
    for j in range(20):
        for i in range(12):
            a_left = (i + j) % 2 == 0
            left = rng.random() < 0.7
            rows.append(
                dict(
                    participant=f"P{j}",
                    sample=f"s{i}",
                    a_side="left" if a_left else "right",
                    choice="A" if left == a_left else "B",
                )
            )
    r = position_bias_clustered(pd.DataFrame(rows))
    assert r.left_rate > 0.6 and r.p_value < 0.01 and r.ci_low > 0.5
