"""Effect sizes with intervals, equivalence, reliability and position bias by participant.

- `voting_rate_ci`: a set's voting rate (share of votes for a method) with a two-way
  cluster-robust interval (participants and samples both random, as `study.crossed`), and
  beside it the Wilson interval that treats every vote as independent.
- `tost`: two one-sided tests of equivalence within stated bounds (Schuirmann): a set that
  is not significant is called equivalent only when both one-sided tests reject, i.e. when
  the (1 - 2 alpha) interval lies inside the bounds; otherwise the data cannot tell.
- `split_half` and `icc`: how reproducible the per-pair voting rates are: the correlation of
  the rates from two random halves of the participants, stepped up to the full panel by
  Spearman-Brown (2r / (1 + r)), averaged over random splits; and the one-way intraclass
  correlation ICC(1,k) = 1 - MS_within / MS_between of the votes grouped by pair, with its
  F-based interval (Shrout and Fleiss 1979). Fleiss' kappa measures agreement beyond the
  chance set by the marginal rate, which is not the question (with 17/18 wins kappa is
  near 0) and is -1/(N-1) whatever the votes for a set of one pair.
- `position_bias_clustered`: the share of votes for the left video with participants (and
  samples) as clusters: a participant who habitually clicks left moves many votes together,
  which the binomial test over votes counts as independent evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sstats

from fme.core.errors import ConfigError, DataError
from study.crossed import crossed_fit
from study.record import OneRow


def _codes(values) -> tuple[np.ndarray, int]:
    _, inverse = np.unique(np.asarray(values).astype(str), return_inverse=True)
    inverse = inverse.ravel()
    return inverse, int(inverse.max()) + 1 if inverse.size else 0


# ---------------------------------------------------------------------------------------------
# The voting rate with its interval


@dataclass(frozen=True)
class RateInterval(OneRow):
    """A share of votes with its two-way cluster-robust interval (`ci_low`, `ci_high`,
    `se`, t on `df`) and the Wilson interval of independent votes (`wilson_low`,
    `wilson_high`, `se_independent` = sqrt(r (1 - r) / n))."""

    n_votes: int
    rate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    se_independent: float
    wilson_low: float
    wilson_high: float
    set_name: str = ""


def two_way_variance(
    e: np.ndarray, participant: np.ndarray, sample: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Variance of the mean of rows of `e` (R x n residuals) with participants and samples
    as clusters (Cameron, Gelbach and Miller: V_p + V_s - V_cell, each scaled G/(G-1),
    floored at the larger one-way term when negative) and Satterthwaite's degrees of
    freedom as in `study.crossed`."""
    e = np.atleast_2d(np.asarray(e, dtype=float))
    n = e.shape[1]
    p, g_p = _codes(participant)
    s, g_s = _codes(sample)
    if g_p < 2 or g_s < 2:
        raise DataError("an interval over participants and samples needs at least 2 of each")
    c, g_c = _codes(p * g_s + s)

    def one(codes: np.ndarray, g: int) -> np.ndarray:
        sums = np.zeros((e.shape[0], g))
        np.add.at(sums, (slice(None), codes), e)
        return g / (g - 1.0) * (sums**2).sum(1) / n**2 if g > 1 else np.zeros(e.shape[0])

    vp, vs, vc = one(p, g_p), one(s, g_s), one(c, g_c)
    v = vp + vs - vc
    v = np.where(v > 0, v, np.maximum(vp, vs))
    fp, fs = np.maximum(vp, vc), np.maximum(vs, vc)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (fp + fs - vc) ** 2 / (fp**2 / (g_p - 1) + fs**2 / (g_s - 1))
    return v, np.clip(np.nan_to_num(df, nan=1.0), 1.0, None)


def voting_rate_ci(
    chose: np.ndarray,
    participant: np.ndarray,
    sample: np.ndarray,
    *,
    ci: float = 0.95,
    set_name: str = "",
) -> RateInterval:
    """The share of votes `chose` (1 = for the method) with both intervals."""
    from statsmodels.stats.proportion import proportion_confint

    y = np.asarray(chose, dtype=float)
    r = float(y.mean())
    v, df = two_way_variance(y - r, participant, sample)
    se, dof = float(math.sqrt(v[0])), float(df[0])
    q = float(sstats.t.isf((1 - ci) / 2, dof))
    lo, hi = proportion_confint(int(y.sum()), y.size, alpha=1 - ci, method="wilson")
    return RateInterval(
        n_votes=int(y.size),
        rate=r,
        se=se,
        df=dof,
        ci_low=max(0.0, r - q * se),
        ci_high=min(1.0, r + q * se),
        se_independent=math.sqrt(r * (1 - r) / y.size),
        wilson_low=float(lo),
        wilson_high=float(hi),
        set_name=set_name,
    )


# ---------------------------------------------------------------------------------------------
# Equivalence


@dataclass(frozen=True)
class Equivalence(OneRow):
    """Two one-sided tests of low < theta < high: `p_value` the larger of the two one-sided
    p-values; `equivalent` when it is below alpha (the 1 - 2 alpha interval inside)."""

    estimate: float
    se: float
    df: float
    low: float
    high: float
    p_low: float
    p_high: float
    p_value: float
    alpha: float
    equivalent: bool
    set_name: str = ""


def tost(
    estimate: float,
    se: float,
    df: float,
    low: float,
    high: float,
    *,
    alpha: float = 0.05,
    set_name: str = "",
) -> Equivalence:
    """Schuirmann's TOST of an estimate with standard error `se` and a t reference on `df`
    degrees of freedom (df = inf: normal). H0: theta <= low or theta >= high."""
    if not low < high:
        raise ValueError(f"equivalence bounds must satisfy low < high, got {low}, {high}")
    if not (se > 0 and math.isfinite(se)):
        nan = math.nan
        return Equivalence(estimate, se, df, low, high, nan, nan, nan, alpha, False, set_name)
    dist = sstats.norm if math.isinf(df) else sstats.t(df)
    p_low = float(dist.sf((estimate - low) / se))
    p_high = float(dist.cdf((estimate - high) / se))
    p = max(p_low, p_high)
    return Equivalence(estimate, se, df, low, high, p_low, p_high, p, alpha, p < alpha, set_name)


def probability_bounds(margin: float) -> tuple[float, float]:
    """Log-odds bounds of P within [1/2 - margin, 1/2 + margin]."""
    if not 0 < margin < 0.5:
        raise ConfigError(
            f"the equivalence margin must lie strictly between 0 and 0.5, got {margin:g}",
            hint="Give --equivalence-margin as the largest difference from 1/2 that does not "
            "matter, e.g. 0.05.",
        )
    hi = math.log((0.5 + margin) / (0.5 - margin))
    return -hi, hi


# ---------------------------------------------------------------------------------------------
# Reliability of the per-pair voting rates


@dataclass(frozen=True)
class Reliability(OneRow):
    """Split-half reliability of the per-pair voting rates (`split_r` the half-half
    correlation averaged over `n_splits` random halves of the participants,
    `spearman_brown` its step-up 2r / (1 + r)) and ICC(1,k) with its F-based interval. NaN with fewer than 3 pairs."""

    n_pairs: int
    n_participants: int
    split_r: float
    spearman_brown: float
    icc: float
    icc_low: float
    icc_high: float
    n_splits: int
    set_name: str = ""


def icc_oneway(y: np.ndarray, group: np.ndarray, ci: float = 0.95) -> tuple[float, float, float]:
    """ICC(1,k) of 0/1 votes `y` grouped by pair: 1 - MSW/MSB, k the (adjusted) mean group
    size, and Shrout and Fleiss' F interval."""
    g, m = _codes(group)
    y = np.asarray(y, dtype=float)
    n = np.bincount(g, minlength=m).astype(float)
    sums = np.bincount(g, weights=y, minlength=m)
    means = sums / n
    grand = y.mean()
    ssb = float(np.sum(n * (means - grand) ** 2))
    ssw = float(np.sum((y - means[g]) ** 2))
    dfb, dfw = m - 1, len(y) - m
    if dfb < 1 or dfw < 1:
        return math.nan, math.nan, math.nan
    msb, msw = ssb / dfb, ssw / dfw
    if msb <= 0:
        return math.nan, math.nan, math.nan
    f = msb / msw if msw > 0 else math.inf
    a = (1 - ci) / 2
    fl = f / sstats.f.isf(a, dfb, dfw)
    fu = f * sstats.f.isf(a, dfw, dfb)
    return 1 - msw / msb, 1 - 1 / fl, 1 - 1 / fu


def split_half(
    y: np.ndarray,
    participant: np.ndarray,
    pair: np.ndarray,
    *,
    n_splits: int = 200,
    seed: int = 0,
) -> tuple[float, float]:
    """Mean half-half correlation r of the per-pair rates over random splits of the
    participants, and its Spearman-Brown step-up to the whole panel, 2r / (1 + r)."""
    p, g_p = _codes(participant)
    q, m = _codes(pair)
    y = np.asarray(y, dtype=float)
    if g_p < 2 or m < 3:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    rs = []
    for _ in range(n_splits):
        half = rng.permutation(g_p) < g_p // 2
        first = half[p]
        r1 = np.bincount(q[first], y[first], m) / np.maximum(np.bincount(q[first], None, m), 1)
        r2 = np.bincount(q[~first], y[~first], m) / np.maximum(np.bincount(q[~first], None, m), 1)
        if r1.std() == 0 or r2.std() == 0:
            continue
        rs.append(float(np.corrcoef(r1, r2)[0, 1]))
    if not rs:
        return math.nan, math.nan
    r = float(np.mean(rs))
    return r, (2 * r / (1 + r) if r > -1 else math.nan)


def reliability(
    votes: pd.DataFrame, *, set_name: str = "", n_splits: int = 200, seed: int = 0
) -> Reliability:
    """Split-half (Spearman-Brown) and ICC(1,k) of one set's votes (checked, no catch)."""
    y = (votes["choice"].to_numpy() == "A").astype(float)
    people, pairs = votes["participant"].to_numpy(), votes["pair_id"].to_numpy()
    m = len(np.unique(pairs.astype(str)))
    r, sb = split_half(y, people, pairs, n_splits=n_splits, seed=seed)
    icc, lo, hi = icc_oneway(y, pairs) if m >= 3 else (math.nan,) * 3
    return Reliability(
        n_pairs=m,
        n_participants=int(len(np.unique(people.astype(str)))),
        split_r=r,
        spearman_brown=sb,
        icc=icc,
        icc_low=lo,
        icc_high=hi,
        n_splits=n_splits,
        set_name=set_name,
    )


# ---------------------------------------------------------------------------------------------
# Position bias with participants as clusters


@dataclass(frozen=True)
class PositionBiasResult(OneRow):
    """Share of votes for the left video: `left_rate`, its two-way interval (participants
    and samples as clusters), the crossed test's p (`p_value`) and, for comparison, the
    binomial p that treats every vote as independent (`p_binomial`)."""

    n_votes: int
    n_participants: int
    left: int
    left_rate: float
    ci_low: float
    ci_high: float
    t: float
    df: float
    p_value: float
    p_binomial: float
    set_name: str = ""


def position_bias_clustered(votes: pd.DataFrame, *, set_name: str = "all") -> PositionBiasResult:
    """Left-video share of checked votes with a_side left/right: the logistic intercept of
    `left chosen` with two-way cluster-robust errors (the crossed machinery) and t
    reference; H0 a rate of 1/2."""
    df = votes.loc[votes["a_side"].isin(["left", "right"])]
    if df.empty:
        raise DataError("no votes with a_side left/right: position bias needs them")
    left = ((df["choice"] == "A") == (df["a_side"] == "left")).to_numpy().astype(float)
    fit = crossed_fit(left, df["participant"].to_numpy(), df["sample"].to_numpy())
    b, se, t, dof = (float(v[0]) for v in (fit.log_odds, fit.se, fit.t, fit.df))
    q = float(sstats.t.isf(0.025, dof))
    lo = 1 / (1 + math.exp(-(b - q * se))) if math.isfinite(se) else math.nan
    hi = 1 / (1 + math.exp(-(b + q * se))) if math.isfinite(se) else math.nan
    k = int(left.sum())
    return PositionBiasResult(
        n_votes=int(left.size),
        n_participants=int(df["participant"].nunique()),
        left=k,
        left_rate=k / left.size,
        ci_low=lo,
        ci_high=hi,
        t=t,
        df=dof,
        p_value=float(fit.p_two_sided()[0]),
        p_binomial=float(sstats.binomtest(k, left.size, 0.5).pvalue),
        set_name=set_name,
    )


def simulate_position_bias(
    n_sim: int,
    n_participants: int = 31,
    n_pairs: int = 18,
    *,
    left_sd: float = 1.0,
    log_odds: float = 0.3,
    sample_sd: float = 0.3,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, float]:
    """Rejection rates of the position-bias tests when participants habitually click one
    side (their left log-odds ~ N(0, left_sd): no bias on average) and one method is
    preferred (`log_odds`, samples spread by `sample_sd`); A's side alternates."""
    rng = np.random.default_rng(seed)
    n, m = n_participants, n_pairs
    side = np.where((np.arange(n)[:, None] + np.arange(m)[None, :]) % 2 == 0, 1.0, -1.0)
    habit = rng.normal(0, left_sd, (n_sim, n, 1))
    lean = rng.normal(0, sample_sd, (n_sim, 1, m))
    # Vote for A: the preference, plus the habit when A is left (minus when right).
    eta = log_odds + lean + habit * side
    chose_a = rng.random((n_sim, n, m)) < 1 / (1 + np.exp(-eta))
    left = (chose_a == (side > 0)).reshape(n_sim, n * m).astype(float)
    participant = np.repeat(np.arange(n), m)
    sample = np.tile(np.arange(m), n)
    fit = crossed_fit(left, participant, sample)
    k = left.sum(1)
    binom = np.array([sstats.binomtest(int(x), n * m, 0.5).pvalue for x in k])
    return {
        "clustered": float(np.mean(fit.p_two_sided() < alpha)),
        "binomial": float(np.mean(binom < alpha)),
        "n_sim": n_sim,
    }
