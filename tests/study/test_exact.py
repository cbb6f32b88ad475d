"""The exact Wilcoxon signed-rank test against brute-force enumeration of sign flips."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as sstats

from study import stats as st
from study.exact import signed_rank_null, wilcoxon_exact


def enumerate_p(d: np.ndarray, alternative: str) -> float:
    """P-value from all 2^n sign patterns of the nonzero margins (each equally likely)."""
    d = np.asarray(d, dtype=float)
    d = d[d != 0]
    ranks = sstats.rankdata(np.abs(d))
    t = ranks[d > 0].sum()
    centre = ranks.sum() / 2
    sums = np.array([np.dot(ranks, s) for s in itertools.product([0, 1], repeat=d.size)])
    if alternative == "greater":
        return float(np.mean(sums >= t - 1e-9))
    if alternative == "less":
        return float(np.mean(sums <= t + 1e-9))
    return float(np.mean(np.abs(sums - centre) >= abs(t - centre) - 1e-9))


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_exact_p_is_the_enumeration_of_sign_flips_with_ties(alternative):
    rng = np.random.default_rng(3)
    for _ in range(12):
        n = 31
        d = rng.integers(8, 24, 12) - n / 2  # margins of 31 voters: ties and zeros-free
        d[:3] = d[3]  # force tied |d|
        res = wilcoxon_exact(d, alternative)
        assert res.ties
        assert res.p_value == pytest.approx(enumerate_p(d, alternative), abs=1e-12)


def test_zero_margins_are_dropped_and_the_null_sums_to_one():
    d = np.array([0, 0, 2, -2, 3, 5, 5, -1, 4, 4])
    res = wilcoxon_exact(d, "two-sided")
    assert res.n_nonzero == 8
    assert res.p_value == pytest.approx(enumerate_p(d, "two-sided"), abs=1e-12)
    values, probs = signed_rank_null(sstats.rankdata(np.abs(d[d != 0])))
    assert probs.sum() == pytest.approx(1.0) and values.max() == pytest.approx(36)


def test_scipy_falls_back_to_the_normal_approximation_with_ties_the_exact_test_does_not():
    # Margins of 31 voters on 14 pairs with tied |d|: scipy's p is the normal one.
    d = np.array([4.5, 4.5, 2.5, 2.5, -1.5, 6.5, 6.5, -2.5, 0.5, 3.5, 3.5, -0.5, 5.5, 1.5])
    ours = wilcoxon_exact(d, "two-sided").p_value
    scipy_p = sstats.wilcoxon(d, zero_method="wilcox").pvalue
    assert ours == pytest.approx(enumerate_p(d, "two-sided"), abs=1e-12)
    assert abs(ours - scipy_p) > 1e-4  # what the report printed before


def test_across_pairs_uses_the_exact_test():
    vc = [19, 19, 17, 17, 14, 22, 22, 13, 16, 19, 19, 15, 21, 17]
    d = np.asarray(vc) - 31 / 2
    res = st.across_pairs(vc, 31, alternative="two-sided")
    assert res.wilcoxon_p_value == pytest.approx(enumerate_p(d, "two-sided"), abs=1e-12)
    assert res.wilcoxon_statistic == pytest.approx(sstats.rankdata(np.abs(d))[d > 0].sum())
