"""Exact tests over the pairs of a set: the Wilcoxon signed-rank test by exact permutation.

scipy's `wilcoxon(method="exact")` has no exact null when the margins tie (the average
ranks are not integers) and falls back to the normal approximation; margins of vote counts
tie all the time (two pairs at 18/31 have the same margin). Here the null is the exact
permutation distribution given the observed ranks: under H0 each nonzero margin's sign is
+ or - with probability 1/2, independently, so T+ (the sum of the ranks of the positive
margins) takes each of the 2^n sign patterns with probability 2^-n. Average ranks are
multiples of 1/2, so the distribution of 2 T+ is an integer convolution, computed in
O(n * sum of ranks): a few dozen pairs take microseconds. Zero margins are dropped first
(Wilcoxon's convention, scipy's `zero_method="wilcox"`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sstats

from fme.core.errors import DataError
from study.record import OneRow

ALTERNATIVES = ("two-sided", "greater", "less")


@dataclass(frozen=True)
class WilcoxonExact(OneRow):
    """T+ (sum of the ranks of the positive margins), its exact p-value under sign
    flipping, the number of nonzero margins and whether the margins tie."""

    statistic: float
    p_value: float
    n_nonzero: int
    ties: bool
    alternative: str


def signed_rank_null(ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact null distribution of T+ given `ranks` (any multiples of 1/2): the values
    and their probabilities, from the convolution of each rank's 0-or-rank with 1/2 each."""
    doubled = np.rint(2 * np.asarray(ranks, dtype=float)).astype(int)
    if np.any(np.abs(doubled - 2 * np.asarray(ranks, dtype=float)) > 1e-9):
        raise ValueError("ranks must be multiples of 1/2")
    total = int(doubled.sum())
    counts = np.zeros(total + 1)
    counts[0] = 1.0
    for r in doubled:  # counts[s] = ways to reach 2 T+ = s; halves keep it a probability
        shifted = np.zeros_like(counts)
        shifted[r:] = counts[: total + 1 - r]
        counts = 0.5 * (counts + shifted)
    values = np.arange(total + 1) / 2.0
    keep = counts > 0
    return values[keep], counts[keep]


def wilcoxon_exact(d: np.ndarray, alternative: str = "two-sided") -> WilcoxonExact:
    """Wilcoxon's signed-rank test of the margins `d` (A preferred when positive) with the
    exact permutation null, ties included. "greater": large T+ is evidence for A;
    two-sided: P(|T+ - E T+| >= |t - E T+|)."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    d = np.asarray(d, dtype=float)
    d = d[d != 0]
    if d.size == 0:
        return WilcoxonExact(0.0, 1.0, 0, False, alternative)
    if d.size > 2000:
        raise DataError(f"the exact signed-rank test takes up to 2000 margins, got {d.size}")
    ranks = sstats.rankdata(np.abs(d))
    t = float(ranks[d > 0].sum())
    values, probs = signed_rank_null(ranks)
    eps = 1e-9
    if alternative == "greater":
        p = probs[values >= t - eps].sum()
    elif alternative == "less":
        p = probs[values <= t + eps].sum()
    else:
        centre = ranks.sum() / 2.0
        p = probs[np.abs(values - centre) >= abs(t - centre) - eps].sum()
    ties = len(np.unique(np.abs(d))) < d.size
    return WilcoxonExact(t, float(min(1.0, p)), int(d.size), bool(ties), alternative)
