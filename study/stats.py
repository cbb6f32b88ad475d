"""Statistics of a pairwise study: the paper's Z test and the tests the paper did not run.

One comparison set shows N participants M pairs (method A's video beside method B's video of
the same sample); `VC_i(A|B)` is A's votes on pair i. The paper (Table III-V) reports

- PrefRate(A|B) = (1/M) #{i : VC_i(A|B) > VC_i(B|A)},
- VotingRate(A|B) = sum_i VC_i(A|B) / (M N),
- Z = (mean_i VC_i - N/2) / (s / sqrt(M)), s the sample standard deviation over pairs,
  right-tailed: A is preferred when Z exceeds the normal quantile 1 - alpha (1.6449 at 0.05).

`set_summary` computes these (Z with statsmodels' one-sample z test, which is the same
statistic). When pairs have different numbers of voters (excluded participants, unfinished
sessions) Z is taken over d_i = VC_i - N_i/2, which is the paper's formula when every N_i = N.

Beyond the paper: Student's t on the same statistic (M - 1 df), an exact binomial test per
pair (`pair_tests`), sign and Wilcoxon tests over pairs (`across_pairs`), a Bradley-Terry
ranking of all methods (`bradley_terry`), left/right position bias (`position_bias`),
agreement between participants (`agreement`), the spread of true preference across pairs
estimated from the votes (`pair_sd`), the power of the Z test and the volunteers a set needs
(`z_test_power`, `required_volunteers`, checked by `simulated_power`). The analysis with
participants and samples both random is `study.crossed`.

All tests over pairs (Z, t, sign, Wilcoxon) treat the N voters as fixed: they generalise to
new samples judged by these people. Every test returns a dataclass with its numbers and a `.frame` for the report tables. The
functions here take arrays or pandas frames only (no database), with the columns of
`study.export.votes_frame`: set_name, method_a, method_b, pair_id, sample, participant,
choice ("A"/"B"), a_side ("left"/"right"), is_catch, catch_passed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sstats

from fme.core.errors import ConfigError, DataError
from study.checks import recognise_catch, select_study
from study.exact import wilcoxon_exact
from study.expert import expert_table as _expert_table
from study.record import OneRow

VOTE_COLUMNS = ("set_name", "method_a", "method_b", "pair_id", "participant", "choice")


# ---------------------------------------------------------------------------------------------
# The paper's statistics for one comparison set


@dataclass(frozen=True)
class SetSummary(OneRow):
    """The paper's numbers for one comparison set (A's rates; B's follow).

    `z`, `p_value`, `significant` test A over B (right-tailed); `z_b` = -z, `p_value_b`
    and `significant_b` the same test of B over A (the paper lists the improved method
    second, so its Z values are B's when A is the baseline). `t_p_value`(`_b`) refer the
    same statistic to Student's t with M - 1 df. `wins_a`/`wins_b` are the pair counts
    behind PrefRate (k of M). When `z_defined` is False (s = 0 or one pair) Z and its p are
    NaN and `significant` is None.
    """

    n_pairs: int
    n_participants: int
    pref_rate: float
    pref_rate_b: float
    voting_rate: float
    voting_rate_b: float
    mean_votes: float
    sd_votes: float
    z: float
    p_value: float
    alpha: float
    critical_value: float
    significant: bool | None
    z_b: float
    p_value_b: float
    significant_b: bool | None
    t_p_value: float
    t_p_value_b: float
    z_defined: bool
    wins_a: int
    wins_b: int
    method_a: str = "A"
    method_b: str = "B"
    set_name: str = ""


def critical_value(alpha: float = 0.05) -> float:
    """The right-tailed normal critical value: z with P(Z > z) = alpha (1.6449 at 0.05)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return float(sstats.norm.isf(alpha))


def _participants_per_pair(n_participants: int | Sequence[int], m: int) -> np.ndarray:
    n = np.asarray(n_participants, dtype=float)
    if n.ndim == 0:
        n = np.full(m, float(n))
    if n.shape != (m,):
        raise DataError(
            f"n_participants has {n.size} entries for {m} pairs; give one number or one per pair"
        )
    return n


def set_summary(
    vote_counts: Sequence[int] | np.ndarray,
    n_participants: int | Sequence[int],
    alpha: float = 0.05,
    *,
    method_a: str = "A",
    method_b: str = "B",
    set_name: str = "",
) -> SetSummary:
    """The paper's PrefRate, VotingRate and right-tailed Z test for one comparison set.

    `vote_counts[i]` is method A's votes on pair i; `n_participants` is N (the voters on
    every pair) or one N_i per pair. Z uses statsmodels' one-sample z test of the mean of
    VC_i - N_i/2 against 0 with alternative "larger" (sample standard deviation, ddof=1).
    Beside it, `t_p_value` refers the same statistic to Student's t with M - 1 degrees of
    freedom (s is estimated from M pairs; the normal reference rejects about 6 % at M = 18).

    Z is undefined (NaN, `z_defined` False, `significant` None) when s = 0 (every pair has
    the same margin, e.g. two pairs at 16/31) or M = 1: the statistic would be +-inf or 0/0,
    not evidence. The exact tests (`pair_tests`, `across_pairs`) decide such sets.
    """
    from statsmodels.stats.weightstats import ztest

    vc = np.asarray(vote_counts, dtype=float)
    if vc.ndim != 1 or vc.size < 1:
        raise DataError(f"a comparison set needs votes on at least 1 pair, got {vc.size}")
    n = _participants_per_pair(n_participants, vc.size)
    if np.any(n < 1) or np.any(vc < 0) or np.any(vc > n):
        raise DataError("vote counts must lie between 0 and the number of participants per pair")
    votes_b = n - vc
    d = vc - n / 2.0
    sd = float(np.std(d, ddof=1)) if vc.size > 1 else math.nan  # = sd of VC_i when N_i = N
    defined = vc.size > 1 and sd > 0.0
    if defined:
        z_, p_ = ztest(d, value=0.0, alternative="larger")
        z, p = float(z_), float(p_)
        t_p, t_p_b = float(sstats.t.sf(z, vc.size - 1)), float(sstats.t.cdf(z, vc.size - 1))
        p_b = float(sstats.norm.cdf(z))
    else:
        z = p = t_p = t_p_b = p_b = math.nan
    crit = critical_value(alpha)
    return SetSummary(
        n_pairs=int(vc.size),
        n_participants=int(n.max()),
        pref_rate=float(np.mean(vc > votes_b)),
        pref_rate_b=float(np.mean(votes_b > vc)),
        voting_rate=float(vc.sum() / n.sum()),
        voting_rate_b=float(votes_b.sum() / n.sum()),
        mean_votes=float(vc.mean()),
        sd_votes=sd,
        z=z,
        p_value=p,
        alpha=float(alpha),
        critical_value=crit,
        significant=bool(z > crit) if defined else None,
        z_b=-z,
        p_value_b=p_b,
        significant_b=bool(-z > crit) if defined else None,
        t_p_value=t_p,
        t_p_value_b=t_p_b,
        z_defined=defined,
        wins_a=int(np.sum(vc > votes_b)),
        wins_b=int(np.sum(votes_b > vc)),
        method_a=method_a,
        method_b=method_b,
        set_name=set_name,
    )


# ---------------------------------------------------------------------------------------------
# Votes frame helpers


def natural_key(value: object) -> tuple:
    """Sort key that orders "p2" before "p10" and 2 before 10 (digits compared as numbers)."""
    import re

    parts = re.split(r"(\d+)", str(value))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


def _as_bool(values: pd.Series) -> pd.Series:
    """True/False/NA from bools, 0/1 or the strings a CSV round trip leaves."""
    mapping = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}

    def one(v: object) -> object:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            return pd.NA
        if isinstance(v, bool | np.bool_):
            return bool(v)
        if isinstance(v, int | np.integer | float | np.floating):
            return bool(v)
        s = str(v).strip().lower()
        return mapping.get(s, pd.NA)

    return pd.Series([one(v) for v in values], index=values.index, dtype="boolean")


def check_votes(votes: pd.DataFrame) -> pd.DataFrame:
    """A clean copy of a votes frame: columns checked, choice upper-case, flags boolean.

    Refused: several studies in one frame (`study.checks.select_study`), a participant's
    second vote on a pair (`study.checks.screen_votes` removes and counts them first), a set
    of a method against itself, rows that look like catch trials without `is_catch`. Catch
    trials without `is_catch` are recognised by what the export writes."""

    missing = [c for c in VOTE_COLUMNS if c not in votes.columns]
    if missing:
        raise DataError(
            f"the votes table lacks the columns {', '.join(missing)}",
            hint="Export votes with `study.export.votes_frame` (or the admin page's CSV).",
        )
    df, _ = select_study(votes)
    df, _ = recognise_catch(df)
    df = df.copy()
    df["choice"] = df["choice"].astype(str).str.strip().str.upper()
    bad = df.loc[~df["choice"].isin(["A", "B"]), "choice"]
    if len(bad):
        raise DataError(f"choice must be A or B; found {sorted(set(bad))[:5]}")
    empty = df["pair_id"].isna() | (df["pair_id"].astype(str).str.strip() == "")
    if empty.any():
        raise DataError(
            f"pair_id is empty in {int(empty.sum())} row(s) (e.g. row {int(empty.idxmax()) + 2})",
            hint="Every vote needs the pair it was cast on; export the votes again.",
        )
    for col in ("set_name", "method_a", "method_b", "participant", "pair_id"):
        df[col] = df[col].astype(str).str.strip()
    if "sample" not in df.columns:
        df["sample"] = df["pair_id"]
    df["sample"] = df["sample"].astype(str)
    for col in ("is_catch", "catch_passed"):
        if col in df.columns:
            unknown = _as_bool(df[col]).isna() & df[col].notna()
            if unknown.any():
                raise DataError(
                    f"{col} must be true/false (or 1/0, yes/no); found "
                    f"{sorted(set(df.loc[unknown, col].astype(str)))[:3]}",
                    hint="Fix those rows of the votes CSV or export it again.",
                )
    df["is_catch"] = (
        _as_bool(df["is_catch"]).fillna(False).astype(bool) if "is_catch" in df.columns else False
    )
    if "catch_passed" in df.columns:
        df["catch_passed"] = _as_bool(df["catch_passed"])
    else:
        df["catch_passed"] = pd.Series(pd.NA, index=df.index, dtype="boolean")
    scored = df.loc[~df["is_catch"]]
    same = scored["method_a"] == scored["method_b"]
    if same.any():
        row = scored.loc[same].iloc[0]
        raise DataError(
            f"set {row['set_name']!r} compares method {row['method_a']!r} with itself",
            hint="A comparison set needs two different methods; fix the study's sets.",
        )
    repeated = df.duplicated(["participant", "pair_id"], keep=False)
    if repeated.any():
        row = df.loc[repeated].iloc[0]
        raise DataError(
            f"participant {row['participant']!r} has {int(repeated.sum())} votes on pairs "
            f"voted more than once (e.g. pair {row['pair_id']!r})",
            hint="Each participant votes once per pair: `fme study report` keeps the first "
            "vote and counts the rest (study.checks.screen_votes).",
        )
    ids = scored.groupby(["set_name", "sample"])["pair_id"].nunique()
    if (ids > 1).any():
        (set_name, sample) = ids.index[ids.to_numpy() > 1][0]
        same = (scored["set_name"] == set_name) & (scored["sample"] == sample)
        shown = sorted(scored.loc[same, "pair_id"].unique())
        raise DataError(
            f"sample {sample!r} of set {set_name!r} has several pair_ids {shown[:4]}: a pair "
            "would count twice",
            hint="Give each pair one pair_id (as the admin page exports them).",
        )
    if "a_side" in df.columns:
        df["a_side"] = df["a_side"].astype(str).str.strip().str.lower()
    return df


def vote_counts(votes: pd.DataFrame) -> pd.DataFrame:
    """Per pair: set_name, method_a, method_b, pair_id, sample, votes_a, votes_b, n."""
    return _counts(check_votes(votes))


def _counts(df: pd.DataFrame) -> pd.DataFrame:
    """`vote_counts` of a frame `check_votes` already made."""
    df = df.loc[~df["is_catch"]]
    keys = ["set_name", "method_a", "method_b", "pair_id", "sample"]
    out = (
        df.assign(a=(df["choice"] == "A").astype(int), b=(df["choice"] == "B").astype(int))
        .groupby(keys, sort=True)
        .agg(votes_a=("a", "sum"), votes_b=("b", "sum"))
        .reset_index()
    )
    out["n"] = out["votes_a"] + out["votes_b"]
    out["voting_rate_a"] = out["votes_a"] / out["n"]
    order = sorted(
        range(len(out)),
        key=lambda i: (natural_key(out["set_name"].iat[i]), natural_key(out["pair_id"].iat[i])),
    )
    return out.iloc[order].reset_index(drop=True)


def summarize_sets(votes: pd.DataFrame, alpha: float = 0.05) -> list[SetSummary]:
    """`set_summary` for every comparison set of a votes frame (catch trials left out)."""
    df = check_votes(votes)
    counts = _counts(df)
    df = df.loc[~df["is_catch"]]
    results = []
    groups = counts.groupby(["set_name", "method_a", "method_b"], sort=False)
    for (name, a, b), g in sorted(groups, key=lambda kv: natural_key(kv[0][0])):
        s = set_summary(
            g["votes_a"].to_numpy(),
            g["n"].to_numpy(),
            alpha,
            method_a=a,
            method_b=b,
            set_name=name,
        )
        n_people = df.loc[df["set_name"] == name, "participant"].nunique()
        results.append(_replace(s, n_participants=int(n_people)))
    return results


def _replace(obj: SetSummary, **changes: object) -> SetSummary:
    from dataclasses import replace

    return replace(obj, **changes)


# ---------------------------------------------------------------------------------------------
# Per pair: exact binomial test


@dataclass(frozen=True)
class PairTests:
    """Exact two-sided binomial test of each pair's A votes against 1/2."""

    frame: pd.DataFrame


def pair_tests(
    vote_counts: Sequence[int] | np.ndarray,
    n_participants: int | Sequence[int],
    *,
    pair_ids: Sequence[str] | None = None,
    correction: str = "holm",
) -> PairTests:
    """scipy's exact binomial test per pair (H0: p = 1/2, two-sided) with a multiple-test
    correction over the pairs (statsmodels `multipletests`, Holm by default)."""
    from statsmodels.stats.multitest import multipletests

    vc = np.asarray(vote_counts, dtype=int)
    n = _participants_per_pair(n_participants, vc.size).astype(int)
    p = np.array([sstats.binomtest(int(k), int(m), 0.5).pvalue for k, m in zip(vc, n)])
    p_greater = np.array(
        [sstats.binomtest(int(k), int(m), 0.5, alternative="greater").pvalue for k, m in zip(vc, n)]
    )
    adjusted = multipletests(p, method=correction)[1] if vc.size else p
    ids = list(pair_ids) if pair_ids is not None else [str(i) for i in range(vc.size)]
    frame = pd.DataFrame(
        {
            "pair_id": ids,
            "votes_a": vc,
            "votes_b": n - vc,
            "n": n,
            "voting_rate_a": vc / n,
            "p_value": p,
            "p_greater": p_greater,
            f"p_{correction}": adjusted,
        }
    )
    return PairTests(frame=frame)


# ---------------------------------------------------------------------------------------------
# Across pairs: sign test and Wilcoxon signed-rank test


@dataclass(frozen=True)
class AcrossPairs(OneRow):
    """Tests over pairs of d_i = VC_i - N_i/2 (A preferred when positive); `alternative`
    "greater" (right-tailed, as the paper's Z) or "two-sided"."""

    alternative: str
    n_pairs: int
    wins_a: int
    wins_b: int
    ties: int
    sign_p_value: float
    wilcoxon_statistic: float
    wilcoxon_p_value: float


def across_pairs(
    vote_counts: Sequence[int] | np.ndarray,
    n_participants: int | Sequence[int],
    alternative: str = "greater",
) -> AcrossPairs:
    """Sign test (exact binomial on the pairs A won, ties dropped) and Wilcoxon's
    signed-rank test of the margins by exact permutation, ties included
    (`study.exact.wilcoxon_exact`), right-tailed by default. Neither assumes normal
    margins, which the paper's Z test with M = 18 pairs does."""

    if alternative not in ("greater", "two-sided"):
        raise ValueError(f"alternative must be 'greater' or 'two-sided', got {alternative!r}")
    vc = np.asarray(vote_counts, dtype=float)
    n = _participants_per_pair(n_participants, vc.size)
    d = vc - n / 2.0
    wins_a, wins_b = int(np.sum(d > 0)), int(np.sum(d < 0))
    ties = int(vc.size - wins_a - wins_b)
    sign_p = (
        float(sstats.binomtest(wins_a, wins_a + wins_b, 0.5, alternative=alternative).pvalue)
        if wins_a + wins_b
        else 1.0
    )
    w = wilcoxon_exact(d, alternative)
    w_stat, w_p = w.statistic, w.p_value
    return AcrossPairs(alternative, int(vc.size), wins_a, wins_b, ties, sign_p, w_stat, w_p)


# ---------------------------------------------------------------------------------------------
# Bradley-Terry ranking of all methods


@dataclass(frozen=True)
class BradleyTerry:
    """Bradley-Terry strengths of every method from all sets' votes (choix).

    `frame` is indexed by method, sorted best first, with `score` (log-strength, mean 0),
    `ci_low`/`ci_high` (bootstrap percentile interval over participants when asked),
    `wins`, `comparisons` and `rank`.
    """

    frame: pd.DataFrame
    connected: bool

    def prob(self, a: str, b: str) -> float:
        """The model's probability that a is preferred to b."""
        s = self.frame["score"]
        return float(1.0 / (1.0 + math.exp(-(s[a] - s[b]))))


def _bt_scores(n_items: int, data: list[tuple[int, int]], alpha: float) -> np.ndarray:
    import choix

    params = choix.ilsr_pairwise(n_items, data, alpha=alpha)
    return params - params.mean()


def _connected(n_items: int, edges: np.ndarray) -> bool:
    parent = list(range(n_items))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in edges:
        parent[find(int(a))] = find(int(b))
    return len({find(i) for i in range(n_items)}) == 1


def bradley_terry(
    votes: pd.DataFrame,
    *,
    alpha: float = 0.01,
    n_boot: int = 0,
    ci: float = 0.95,
    seed: int = 0,
    resample: str = "both",
) -> BradleyTerry:
    """Rank all methods with choix's `ilsr_pairwise` (Bradley-Terry maximum likelihood,
    `alpha` a small L2 regularisation so that a method that never loses stays finite).

    With `n_boot` > 0 the percentile interval comes from a cluster bootstrap: participants
    and samples are each drawn with replacement (`resample="both"`, the default: a vote
    counts as often as its participant times its sample was drawn), or participants only
    (`resample="participants"`).
    When the sets do not connect all methods, the scores of separate groups are not
    comparable; `connected` says so.
    """
    df = check_votes(votes)
    df = df.loc[~df["is_catch"]]
    if df.empty:
        raise DataError("no votes to rank the methods")
    methods = sorted(set(df["method_a"]) | set(df["method_b"]))
    index = {m: i for i, m in enumerate(methods)}
    a = df["method_a"].map(index).to_numpy()
    b = df["method_b"].map(index).to_numpy()
    chose_a = (df["choice"] == "A").to_numpy()
    winner = np.where(chose_a, a, b)
    loser = np.where(chose_a, b, a)
    data = list(zip(winner.tolist(), loser.tolist()))
    scores = _bt_scores(len(methods), data, alpha)
    frame = pd.DataFrame({"score": scores}, index=pd.Index(methods, name="method"))
    frame["wins"] = np.bincount(winner, minlength=len(methods))
    frame["comparisons"] = np.bincount(winner, minlength=len(methods)) + np.bincount(
        loser, minlength=len(methods)
    )
    if n_boot > 0:
        from tqdm.auto import tqdm

        if resample not in ("both", "participants"):
            raise ValueError(f"resample must be 'both' or 'participants', got {resample!r}")
        rng = np.random.default_rng(seed)
        _, people = np.unique(df["participant"].to_numpy(), return_inverse=True)
        _, samples = np.unique(df["sample"].to_numpy(), return_inverse=True)
        n_people, n_samples = people.max() + 1, samples.max() + 1
        boots = np.empty((n_boot, len(methods)))
        rows_all = np.arange(len(df))
        for k in tqdm(range(n_boot), desc="Bradley-Terry bootstrap", leave=False, disable=None):
            weight = np.bincount(rng.integers(0, n_people, n_people), minlength=n_people)[people]
            if resample == "both":
                drawn = np.bincount(rng.integers(0, n_samples, n_samples), minlength=n_samples)
                weight = weight * drawn[samples]
            rows = np.repeat(rows_all, weight)
            boots[k] = _bt_scores(len(methods), list(zip(winner[rows], loser[rows])), alpha)
        q = (1.0 - ci) / 2.0
        frame["ci_low"] = np.quantile(boots, q, axis=0)
        frame["ci_high"] = np.quantile(boots, 1.0 - q, axis=0)
    frame = frame.sort_values("score", ascending=False)
    frame["rank"] = np.arange(1, len(frame) + 1)
    return BradleyTerry(frame=frame, connected=_connected(len(methods), np.stack([a, b], 1)))


# ---------------------------------------------------------------------------------------------
# Position bias


@dataclass(frozen=True)
class PositionBias:
    """Exact binomial test of how often the left video is chosen (H0: 1/2, two-sided).

    `frame` has one row per set and a row "all" for every set together.
    """

    frame: pd.DataFrame

    @property
    def overall(self) -> pd.Series:
        return self.frame.loc["all"]


def position_bias(votes: pd.DataFrame) -> PositionBias:
    """Left/right bias: A's side is randomised and balanced, so a fair voter chooses the left
    video half the time whatever the methods; a deviation is a position bias."""
    df = check_votes(votes)
    df = df.loc[~df["is_catch"]]
    if "a_side" not in df.columns:
        raise DataError("the votes table has no a_side column; position bias needs it")
    df = df.loc[df["a_side"].isin(["left", "right"])]
    left = (df["choice"] == "A") == (df["a_side"] == "left")
    df = df.assign(left=left.astype(int))
    rows = []
    groups = [(name, g) for name, g in df.groupby("set_name", sort=True)] + [("all", df)]
    for name, g in groups:
        n, k = len(g), int(g["left"].sum())
        if n == 0:
            continue
        test = sstats.binomtest(k, n, 0.5)
        interval = test.proportion_ci(confidence_level=0.95)
        rows.append(
            {
                "set_name": name,
                "n": n,
                "left": k,
                "left_rate": k / n,
                "ci_low": interval.low,
                "ci_high": interval.high,
                "p_value": test.pvalue,
            }
        )
    return PositionBias(frame=pd.DataFrame(rows).set_index("set_name"))


# ---------------------------------------------------------------------------------------------
# Agreement between participants


@dataclass(frozen=True)
class Agreement(OneRow):
    """Fleiss' kappa over pairs (subjects) and participants (raters), choices A/B.

    `observed` is the mean pairwise agreement P-bar, `expected` the chance agreement P_e;
    kappa = (observed - expected) / (1 - expected).
    """

    n_pairs: int
    n_votes: int
    observed: float
    expected: float
    kappa: float
    set_name: str = ""


def _fleiss(table: np.ndarray) -> tuple[float, float, float]:
    """Fleiss' kappa with any number of raters per subject (>= 2): P_i from each row's
    own count; equals statsmodels' `fleiss_kappa` when the counts are equal."""
    t = np.asarray(table, dtype=float)
    n_i = t.sum(1)
    t = t[n_i >= 2]
    n_i = n_i[n_i >= 2]
    p_j = t.sum(0) / n_i.sum()
    p_i = ((t * t).sum(1) - n_i) / (n_i * (n_i - 1))
    observed, expected = float(p_i.mean()), float((p_j * p_j).sum())
    kappa = (observed - expected) / (1.0 - expected) if expected < 1 else math.nan
    return observed, expected, float(kappa)


def agreement(votes: pd.DataFrame, *, set_name: str | None = None) -> Agreement:
    """Fleiss' kappa of one set (or all sets). Uses statsmodels' `fleiss_kappa` when every
    pair has the same number of voters and the same formula per row otherwise."""
    return agreement_from_counts(vote_counts(votes), set_name=set_name)


def agreement_from_counts(counts: pd.DataFrame, *, set_name: str | None = None) -> Agreement:
    """`agreement` from the per-pair counts `vote_counts` made (votes_a, votes_b)."""
    from statsmodels.stats.inter_rater import fleiss_kappa

    if set_name is not None:
        counts = counts.loc[counts["set_name"] == str(set_name)]
    table = counts[["votes_a", "votes_b"]].to_numpy()
    table = table[table.sum(1) >= 2]
    if len(table) == 0:
        raise DataError("agreement needs pairs with at least two votes")
    observed, expected, kappa = _fleiss(table)
    if np.all(table.sum(1) == table.sum(1)[0]) and expected < 1:
        kappa = float(fleiss_kappa(table, method="fleiss"))
    return Agreement(
        n_pairs=int(len(table)),
        n_votes=int(table.sum()),
        observed=observed,
        expected=expected,
        kappa=kappa,
        set_name="all" if set_name is None else str(set_name),
    )


# ---------------------------------------------------------------------------------------------
# Power: how many volunteers a set needs


@dataclass(frozen=True)
class PowerResult(OneRow):
    """Volunteers N for the paper's Z test to detect a preference with the asked power.

    Model: pair i's true preference p_i varies across pairs with mean `effect` and standard
    deviation `pair_sd`; each of N volunteers picks A with probability p_i. Then
    Var(VC_i / N) = tau^2 + (p(1-p) - tau^2) / N, and the Z test over M pairs has
    standardised effect (p - 1/2) / sqrt(Var). statsmodels' `NormalIndPower` (one sample,
    ratio=0, alternative "larger") gives the standardised effect M pairs need; N follows.
    `n_participants` is None when no N suffices (pair-to-pair spread alone is too large:
    add pairs instead).
    """

    effect: float
    pair_sd: float
    n_pairs: int
    alpha: float
    power: float
    n_participants: int | None
    required_effect_size: float


def pair_sd(vote_counts: Sequence[int] | np.ndarray, n_participants: int | Sequence[int]) -> float:
    """The spread (SD) of the true voting rate p_i across pairs, estimated from the votes.

    The observed rate r_i = VC_i / N_i varies by Var(p_i) plus binomial noise whose mean,
    E[p_i (1 - p_i) / N_i], is estimated without bias by r_i (1 - r_i) / (N_i - 1). So
    tau^2 = s^2(r) - mean_i r_i (1 - r_i) / (N_i - 1), set to 0 when negative (method of
    moments). NaN with fewer than 2 pairs.
    """
    vc = np.asarray(vote_counts, dtype=float)
    n = _participants_per_pair(n_participants, vc.size)
    if vc.size < 2 or np.any(n < 2):
        return math.nan
    r = vc / n
    tau2 = float(np.var(r, ddof=1) - np.mean(r * (1 - r) / (n - 1)))
    return math.sqrt(max(tau2, 0.0))


def max_pair_sd(effect: float) -> float:
    """The spread across pairs a true voting rate with mean `effect` stays below: a rate in
    [0, 1] with mean p has SD at most sqrt(p (1 - p)), reached only when every pair is
    unanimous, where no number of volunteers helps."""
    return math.sqrt(effect * (1.0 - effect))


def _check_pair_sd(effect: float, pair_sd: float) -> None:
    if not 0.0 <= pair_sd < max_pair_sd(effect):
        raise ConfigError(
            f"pair SD {pair_sd:g} is impossible for a true voting rate {effect:g}: the rate's "
            f"SD across pairs must lie in [0, {max_pair_sd(effect):.3f}) (sqrt(p(1-p)))",
            hint="Lower --pair-sd (the study report estimates it from the votes).",
        )


def z_test_power(
    effect: float,
    n_participants: int,
    n_pairs: int,
    *,
    pair_sd: float = 0.0,
    alpha: float = 0.05,
) -> float:
    """Power of the paper's right-tailed Z test over `n_pairs` pairs of `n_participants`
    voters when the true voting rate has mean `effect` and SD `pair_sd` across pairs
    (the model of `required_volunteers`; statsmodels' `NormalIndPower`)."""
    from statsmodels.stats.power import NormalIndPower

    _check_pair_sd(effect, pair_sd)
    tau2 = pair_sd**2
    var = tau2 + (effect * (1.0 - effect) - tau2) / n_participants
    es = (effect - 0.5) / math.sqrt(var)
    return float(
        NormalIndPower().power(
            effect_size=es, nobs1=n_pairs, alpha=alpha, ratio=0.0, alternative="larger"
        )
    )


def required_volunteers(
    effect: float,
    n_pairs: int = 18,
    *,
    pair_sd: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
) -> PowerResult:
    """How many volunteers a set of `n_pairs` pairs needs so the paper's right-tailed Z test
    finds a true voting rate `effect` (> 0.5) for A with probability `power`."""
    from statsmodels.stats.power import NormalIndPower

    if not 0.5 < effect < 1.0:
        raise ValueError(f"effect is A's true voting rate and must lie in (0.5, 1), got {effect}")
    _check_pair_sd(effect, pair_sd)
    es = float(
        NormalIndPower().solve_power(
            effect_size=None,
            nobs1=n_pairs,
            alpha=alpha,
            power=power,
            ratio=0.0,
            alternative="larger",
        )
    )
    tau2 = pair_sd**2
    pq = effect * (1.0 - effect)
    target_var = ((effect - 0.5) / es) ** 2
    n: int | None
    if target_var <= tau2:
        n = None
    else:
        n = max(2, math.ceil((pq - tau2) / (target_var - tau2)))
    return PowerResult(effect, pair_sd, n_pairs, alpha, power, n, es)


def z_statistics(vote_counts: np.ndarray, n_participants: int) -> np.ndarray:
    """The paper's Z of each row of `vote_counts` (R x M: A's votes on M pairs of N voters
    each), for simulating many sets at once. NaN where s = 0: Z is undefined there, as in
    `set_summary`, and never significant."""
    d = np.asarray(vote_counts, dtype=float) - n_participants / 2.0
    sd = d.std(axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = d.mean(axis=-1) / (sd / math.sqrt(d.shape[-1]))
    return np.where(sd == 0, np.nan, z)


def simulated_power(
    n_participants: int,
    effect: float,
    n_pairs: int = 18,
    *,
    pair_sd: float = 0.0,
    alpha: float = 0.05,
    n_sim: int = 2000,
    seed: int = 0,
) -> float:
    """The share of simulated sets in which the paper's Z test is significant.

    p_i ~ Beta with mean `effect` and sd `pair_sd` (all equal when 0); VC_i ~ Binomial(N, p_i).
    """
    _check_pair_sd(effect, pair_sd)  # also what a Beta with that mean and SD needs
    rng = np.random.default_rng(seed)
    if pair_sd > 0:
        k = effect * (1 - effect) / pair_sd**2 - 1.0
        p = rng.beta(effect * k, (1 - effect) * k, size=(n_sim, n_pairs))
    else:
        p = np.full((n_sim, n_pairs), effect)
    z = z_statistics(rng.binomial(n_participants, p), n_participants)
    return float(np.mean(z > critical_value(alpha)))


# ---------------------------------------------------------------------------------------------
# Participants excluded by catch trials


@dataclass
class CatchRule:
    """Who is left out: participants with more than `max_failures` failed catch trials when
    that is set (the study's own rule, `Study.max_catch_failures`), else those whose pass
    rate is below `min_pass_rate` (1.0: one failure excludes). Only a catch trial known to
    have failed (`catch_passed` False) counts against a participant: one whose outcome is
    unknown (no `catch_passed` column, or an empty cell) is counted as `catch_unknown` and
    never excludes anyone. Participants without catch trials stay; `enabled=False` keeps
    everyone."""

    min_pass_rate: float = 1.0
    max_failures: int | None = None
    enabled: bool = True
    excluded: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """The rule in words, for the report."""
        if not self.enabled:
            return "no exclusion (participants who failed catch trials are kept)"
        if self.max_failures is not None:
            return f"exclude after more than {self.max_failures} failed catch trial(s)"
        if self.min_pass_rate >= 1.0:
            return "exclude after any failed catch trial"
        return f"exclude when the catch pass rate is below {self.min_pass_rate:g}"

    def table(self, votes: pd.DataFrame) -> pd.DataFrame:
        """Per participant: catch trials seen, passed, failed, of unknown outcome, the pass
        rate over the known ones and whether excluded."""
        return self._table(check_votes(votes))

    def _table(self, df: pd.DataFrame) -> pd.DataFrame:
        """`table` of a frame `check_votes` already made."""
        people = sorted(df["participant"].unique(), key=natural_key)
        c = df.loc[df["is_catch"]]
        outcome = c["catch_passed"]
        counts = pd.DataFrame(
            {
                "participant": c["participant"],
                "passed": (outcome == True).fillna(False).astype(int),  # noqa: E712
                "failed": (outcome == False).fillna(False).astype(int),  # noqa: E712
                "unknown": outcome.isna().astype(int),
            }
        )
        per = counts.groupby("participant")[["passed", "failed", "unknown"]].sum()
        per = per.reindex(people, fill_value=0).astype(int)
        out = pd.DataFrame(index=pd.Index(people, name="participant"))
        out["catch_trials"] = (per["passed"] + per["failed"] + per["unknown"]).to_numpy()
        out["catch_passed"] = per["passed"].to_numpy()
        out["catch_failed"] = per["failed"].to_numpy()
        out["catch_unknown"] = per["unknown"].to_numpy()
        known = out["catch_passed"] + out["catch_failed"]
        out["pass_rate"] = (out["catch_passed"] / known.where(known > 0)).astype(float)
        if self.max_failures is not None:
            failing = out["catch_failed"] > self.max_failures
        else:
            failing = out["pass_rate"].fillna(1.0) < self.min_pass_rate - 1e-12
        out["excluded"] = (self.enabled & (out["catch_failed"] > 0) & failing).astype(bool)
        return out

    def apply(self, votes: pd.DataFrame) -> pd.DataFrame:
        """The votes of the participants kept (catch trials themselves stay, flagged)."""
        df = check_votes(votes)
        table = self._table(df)
        self.excluded = sorted(table.index[table["excluded"]].tolist())
        return df.loc[~df["participant"].isin(self.excluded)].reset_index(drop=True)


def expert_table(ratings: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
    """MEGC expert scores per method (see `study.expert.expert_table`)."""
    return _expert_table(ratings, **kwargs)  # type: ignore[arg-type]
