"""Results that render themselves: each holds its numbers (`frame`, what the CSV keeps) and
knows its printed layout (`tables()`: `study.tables.Table`s for Markdown and LaTeX), like
statsmodels' `summary()`. `summary()` is the Markdown of every table of a result.

The report (`study.report.study_report`) computes these and adds their tables; a notebook
can build one on its own, e.g. `SetEffects.compute(votes, counts, summaries).summary()`.

Every test is printed with its effect size and interval: per set the paper's Z beside the
crossed estimate of P(M_b) with its interval, the voting rate with its interval, and for a
set that is not significant an equivalence statement (TOST within stated bounds), so that
"no difference" is never read from a p-value.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from fme.core.errors import DataError
from study import stats as st
from study.calibration import calibrate
from study.crossed import crossed_test
from study.effects import (
    position_bias_clustered,
    probability_bounds,
    reliability,
    tost,
    voting_rate_ci,
)
from study.sequential import SequentialPlan, simulate_sequential
from study.tables import Column, Table

log = logging.getLogger(__name__)

MA = Column("method_a", "M_a", r"$M_a$")
MB = Column("method_b", "M_b", r"$M_b$")
SET = Column("set_name", "Set")
UNDEFINED_NOTE = (
    "Z is undefined when every pair has the same margin (s = 0) or the set has one pair; "
    "the exact tests (sign test, per-pair binomial) decide such a set."
)


@dataclass
class Result:
    """A result with its frame and printed layout(s)."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def tables(self) -> list[Table]:
        raise NotImplementedError

    def summary(self) -> str:
        return "\n\n".join(f"{t.caption}\n\n{t.markdown()}" for t in self.tables())

    def _repr_markdown_(self) -> str:
        return self.summary()


# ---------------------------------------------------------------------------------------------
# Per set: the paper's tables and the effects beside them


def _h0(counts: pd.DataFrame) -> float:
    n = counts["n"].to_numpy()
    return float(n[0] / 2) if len(n) and np.all(n == n[0]) else math.nan


@dataclass
class SetEffects(Result):
    """The paper's Z per set with the effects beside it: `frame` has the columns of
    `SetSummary` plus h0_mean, mean_votes_b, the crossed P(M_b) and interval (prob_b,
    ci_low_b, ci_high_b, p_crossed), M_b's voting rate with its two-way interval
    (rate_b, rate_low_b, rate_high_b) and Wilson interval, and the TOST of P(M_b) within
    1/2 +- `margin` (tost_p, equivalent)."""

    alpha: float = 0.05
    margin: float = 0.05

    @classmethod
    def compute(
        cls,
        votes: pd.DataFrame,
        counts: pd.DataFrame,
        summaries: list[st.SetSummary],
        *,
        alpha: float = 0.05,
        margin: float = 0.05,
    ) -> SetEffects:
        sets = pd.concat([s.frame for s in summaries])
        h0 = {name: _h0(g) for name, g in counts.groupby("set_name")}
        sets["h0_mean"] = [h0[n] for n in sets.index]
        sets["mean_votes_b"] = counts.groupby("set_name")["votes_b"].mean().reindex(sets.index)
        low, high = probability_bounds(margin)
        extra = []
        for name in sets.index:
            g = votes.loc[votes["set_name"] == name]
            row: dict[str, object] = {"set_name": name}
            chose_b = (g["choice"] == "B").to_numpy()
            try:
                rate = voting_rate_ci(chose_b, g["participant"], g["sample"])
                row.update(
                    rate_b=rate.rate,
                    rate_low_b=rate.ci_low,
                    rate_high_b=rate.ci_high,
                    wilson_low_b=rate.wilson_low,
                    wilson_high_b=rate.wilson_high,
                )
            except DataError:
                row.update(rate_b=float(chose_b.mean()))
            try:
                r = crossed_test(g, set_name=name)
                eq = tost(-r.log_odds, r.se, r.df, low, high, alpha=alpha)
                row.update(
                    prob_b=1 - r.prob_a,
                    ci_low_b=1 - r.ci_high,
                    ci_high_b=1 - r.ci_low,
                    p_crossed=r.p_value,
                    tost_p=eq.p_value,
                    equivalent=eq.equivalent if math.isfinite(eq.p_value) else pd.NA,
                )
            except DataError:
                pass
            extra.append(row)
        frame = sets.join(pd.DataFrame(extra).set_index("set_name"))
        for col in (
            "prob_b",
            "ci_low_b",
            "ci_high_b",
            "p_crossed",
            "tost_p",
            "rate_low_b",
            "rate_high_b",
            "wilson_low_b",
            "wilson_high_b",
        ):
            if col not in frame:
                frame[col] = math.nan
        if "equivalent" not in frame:
            frame["equivalent"] = pd.NA
        frame["verdict"] = [_verdict(r, alpha, margin) for _, r in frame.iterrows()]
        return cls(frame=frame, alpha=alpha, margin=margin)

    def tables(self) -> list[Table]:
        return [self.table_iv(), self.table_v(), self.voting_rates(), self.sets(), self.effects()]

    def _notes(self) -> list[str]:
        notes = [UNDEFINED_NOTE] if not self.frame["z_defined"].all() else []
        if self.frame["h0_mean"].isna().any():
            notes.append("H0 is the mean margin VC − N/2 ≤ 0 where pairs have unequal N (—).")
        return notes

    def table_iv(self) -> Table:
        sets = self.frame
        crit = st.critical_value(self.alpha)
        iv = sets[["method_a", "method_b", "n_participants", "n_pairs", "h0_mean", "z_b"]]
        iv = iv.assign(z_defined=sets["z_defined"])
        return Table(
            "table_iv",
            iv,
            [
                SET,
                MA,
                MB,
                Column("h0_mean", "H0", r"$H_0$", kind="h0"),
                Column("z_b", "Z", r"$Z$", kind="fixed", digits=2, missing="undefined"),
            ],
            f"Table IV: right-tailed Z test of M_b over M_a over the pairs of each set, "
            f"H0: mean votes of M_b μ ≤ N/2 (significant when Z > {crit:.3f}, "
            f"alpha = {self.alpha:g})",
            f"Table IV: right-tailed $Z$ test of $M_b$ over $M_a$ over the pairs of each set, "
            f"$H_0$: mean votes of $M_b$ $\\mu \\le N/2$ (significant when $Z > {crit:.3f}$, "
            f"$\\alpha = {self.alpha:g}$)",
            self._notes(),
        )

    def table_v(self) -> Table:
        v = self.frame[
            ["method_a", "wins_a", "method_b", "wins_b", "n_pairs", "pref_rate", "pref_rate_b"]
        ]
        return Table(
            "table_v",
            v,
            [
                SET,
                MA,
                Column("wins_a", "PrefRate(M_a)", r"PrefRate($M_a$)", "frac", of="n_pairs"),
                MB,
                Column("wins_b", "PrefRate(M_b)", r"PrefRate($M_b$)", "frac", of="n_pairs"),
            ],
            "Table V: preference counts, pairs on which a method has more votes (k of M)",
            "Table V: preference counts, pairs on which a method has more votes ($k$ of $M$)",
        )

    def voting_rates(self) -> Table:
        rates = self.frame[
            [
                "method_a",
                "voting_rate",
                "method_b",
                "voting_rate_b",
                "rate_low_b",
                "rate_high_b",
                "wilson_low_b",
                "wilson_high_b",
                "n_participants",
                "n_pairs",
            ]
        ]
        return Table(
            "voting_rates",
            rates,
            [
                SET,
                MA,
                Column("voting_rate", "VotingRate(M_a)", r"VotingRate($M_a$)", "pct", 1),
                MB,
                Column("voting_rate_b", "VotingRate(M_b)", r"VotingRate($M_b$)", "pct", 1),
                Column(
                    "rate_low_b",
                    "95% CI (crossed)",
                    r"95\% CI (crossed)",
                    "pctci",
                    1,
                    of="rate_high_b",
                ),
                Column(
                    "wilson_low_b",
                    "95% CI (votes independent)",
                    r"95\% CI (votes independent)",
                    "pctci",
                    1,
                    of="wilson_high_b",
                ),
                Column("n_participants", "N", r"$N$", "int"),
                Column("n_pairs", "M", r"$M$", "int"),
            ],
            "Voting rates (Figs. 7-9): share of all votes each method received; M_b's with "
            "its interval over participants and samples (two-way cluster-robust, t reference) "
            "and the Wilson interval that treats every vote as independent",
        )

    def sets(self) -> Table:
        return Table(
            "sets",
            self.frame,
            [
                SET,
                MA,
                MB,
                Column("n_participants", "N", "$N$", "int"),
                Column("n_pairs", "M", "$M$", "int"),
                Column("mean_votes_b", "mean VC(M_b)", r"mean VC($M_b$)", "fixed", 2),
                Column("sd_votes", "s", "$s$", "fixed", 2),
                Column("z_b", "Z", "$Z$", "fixed", 2, missing="undefined"),
                Column("p_value_b", "p (normal)", "$p$ (normal)", "p"),
                Column("t_p_value_b", "p (t, M−1 df)", "$p$ ($t$, $M-1$ df)", "p"),
                Column("prob_b", "P(M_b)", r"$P(M_b)$", "fixed", 3),
                Column("ci_low_b", "95% CI", r"95\% CI", "ci", 3, of="ci_high_b"),
            ],
            "The Z test of M_b over M_a in full (H0 μ ≤ N/2): its normal p-value as in the "
            "paper, Student's t with M − 1 df, which holds the level when voters are fixed, "
            "and the effect: P(M_b) with its 95% interval (participants and samples random)",
            notes=[UNDEFINED_NOTE] if not self.frame["z_defined"].all() else [],
        )

    def effects(self) -> Table:
        lo = 0.5 - self.margin
        hi = 0.5 + self.margin
        return Table(
            "effects",
            self.frame,
            [
                SET,
                MA,
                MB,
                Column("z_b", "Z", "$Z$", "fixed", 2, missing="undefined"),
                Column("prob_b", "P(M_b)", r"$P(M_b)$", "fixed", 3),
                Column("ci_low_b", "95% CI", r"95\% CI", "ci", 3, of="ci_high_b"),
                Column("p_crossed", "p", "$p$", "p"),
                Column("tost_p", f"TOST p [{lo:g}, {hi:g}]", f"TOST $p$ [{lo:g}, {hi:g}]", "p"),
                Column("verdict", "reading"),
            ],
            f"Effect of each set: P(M_b), the chance of a vote for M_b with participants and "
            f"samples random, its 95% interval and two-sided p; where the set is not "
            f"significant, two one-sided tests (alpha = {self.alpha:g}) of equivalence within "
            f"P(M_b) in [{lo:g}, {hi:g}]: 'equivalent' only when both reject, else the data "
            f"cannot tell a difference from none",
        )


def _verdict(row: pd.Series, alpha: float, margin: float) -> str:
    p = row.get("p_crossed", math.nan)
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "no crossed estimate"
    if p < alpha:
        return "M_b preferred" if row["prob_b"] > 0.5 else "M_a preferred"
    eq = row.get("equivalent")
    if eq is True:
        return f"equivalent within ±{margin:g}"
    return "undecided (neither a difference nor equivalence shown)"


# ---------------------------------------------------------------------------------------------
# Over pairs: exact tests and agreement


@dataclass
class PairsAgreement(Result):
    """Sign test, exact Wilcoxon (ties by exact permutation), Fleiss' kappa where a set has
    at least 2 pairs, and the split-half reliability (Spearman-Brown) and ICC(1,k) of the
    per-pair voting rates."""

    @classmethod
    def compute(
        cls, votes: pd.DataFrame, counts: pd.DataFrame, *, seed: int = 0, n_splits: int = 200
    ) -> PairsAgreement:
        rows = []
        for name, g in counts.groupby("set_name", sort=False):
            across = st.across_pairs(g["votes_a"], g["n"], alternative="two-sided")
            row: dict[str, object] = {
                "set_name": name,
                "method_a": g["method_a"].iat[0],
                "method_b": g["method_b"].iat[0],
                "n_pairs": len(g),
                "wins_a": across.wins_a,
                "wins_b": across.wins_b,
                "ties": across.ties,
                "sign_p": across.sign_p_value,
                "wilcoxon_t": across.wilcoxon_statistic,
                "wilcoxon_p": across.wilcoxon_p_value,
                "agreement": math.nan,
                "fleiss_kappa": math.nan,
            }
            if len(g) >= 2:  # kappa of one pair is -1/(N-1) whatever the votes
                try:
                    ag = st.agreement_from_counts(g, set_name=name)
                    row.update(agreement=ag.observed, fleiss_kappa=ag.kappa)
                except DataError:
                    pass
            rel = reliability(
                votes.loc[votes["set_name"] == name], set_name=name, seed=seed, n_splits=n_splits
            )
            row.update(
                split_r=rel.split_r,
                spearman_brown=rel.spearman_brown,
                icc=rel.icc,
                icc_low=rel.icc_low,
                icc_high=rel.icc_high,
            )
            rows.append(row)
        return cls(frame=pd.DataFrame(rows).set_index("set_name"))

    def tables(self) -> list[Table]:
        return [
            Table(
                "tests",
                self.frame,
                [
                    SET,
                    MA,
                    MB,
                    Column("wins_a", "wins M_a", r"wins $M_a$", "int"),
                    Column("wins_b", "wins M_b", r"wins $M_b$", "int"),
                    Column("ties", "ties", kind="int"),
                    Column("sign_p", "sign test p", "sign test $p$", "p"),
                    Column("wilcoxon_p", "Wilcoxon p (exact)", "Wilcoxon $p$ (exact)", "p"),
                    Column("fleiss_kappa", "Fleiss κ", r"Fleiss $\kappa$", "fixed", 2),
                    Column("spearman_brown", "split-half (S-B)", kind="fixed", digits=2),
                    Column("icc", "ICC(1,k)", kind="fixed", digits=2),
                    Column("icc_low", "95% CI", r"95\% CI", "ci", 2, of="icc_high"),
                ],
                "Two-sided tests over the pairs of each set (exact sign test; Wilcoxon "
                "signed-rank test of VC − N/2 by exact permutation, ties included) and how "
                "reproducible the per-pair voting rates are: split-half correlation of two "
                "random halves of the participants stepped up by Spearman-Brown, ICC(1,k) "
                "with its F interval; Fleiss' κ (agreement beyond the marginal rate) only "
                "where a set has 2 or more pairs",
                notes=[
                    "Split-half and ICC need 3 or more pairs (—); κ near 0 with a lopsided "
                    "set says little about agreement on the preference."
                ]
                if self.frame["icc"].isna().any() or self.frame["fleiss_kappa"].isna().any()
                else [],
            )
        ]


# ---------------------------------------------------------------------------------------------
# The crossed analysis beside independent votes


@dataclass
class CrossedTable(Result):
    """The crossed test per set with Holm over the sets, and the SE of the log-odds that
    treating every vote as independent would give (`se_independent`), for comparison."""

    @classmethod
    def compute(cls, votes: pd.DataFrame, counts: pd.DataFrame) -> CrossedTable:
        rows = []
        for name, g in counts.groupby("set_name", sort=False):
            row: dict[str, object] = {
                "set_name": name,
                "method_a": g["method_a"].iat[0],
                "method_b": g["method_b"].iat[0],
            }
            one = votes.loc[votes["set_name"] == name]
            try:
                r = crossed_test(one, set_name=name)
                share = float((one["choice"] == "B").mean())
                se_ind = (
                    1.0 / math.sqrt(len(one) * share * (1 - share)) if 0 < share < 1 else math.nan
                )
                row.update(
                    prob_b=1 - r.prob_a,
                    ci_low_b=1 - r.ci_high,
                    ci_high_b=1 - r.ci_low,
                    log_odds_b=-r.log_odds,
                    se=r.se,
                    se_independent=se_ind,
                    t_b=-r.t,
                    df=r.df,
                    p_value=r.p_value,
                    p_greater_b=r.p_less,
                    side_log_odds=r.side_log_odds,
                    n_votes=r.n_votes,
                    n_participants=r.n_participants,
                    n_samples=r.n_samples,
                )
            except DataError as err:
                log.warning("crossed analysis of set %s not possible: %s", name, err)
            rows.append(row)
        frame = pd.DataFrame(rows).set_index("set_name")
        for col in (
            "prob_b",
            "ci_low_b",
            "ci_high_b",
            "t_b",
            "df",
            "p_value",
            "side_log_odds",
            "se",
            "se_independent",
        ):
            if col not in frame:
                frame[col] = math.nan
        frame["p_holm_sets"] = math.nan
        tested = frame["p_value"].notna()
        if tested.any():
            from statsmodels.stats.multitest import multipletests

            frame.loc[tested, "p_holm_sets"] = multipletests(
                frame.loc[tested, "p_value"], method="holm"
            )[1]
        notes = []
        if frame["t_b"].isna().any():
            notes.append(
                "A set with one pair, one participant, or votes all one way (no finite "
                "estimate) has no crossed analysis (—); the exact tests decide it."
            )
        narrower = frame["se"] < frame["se_independent"]
        if narrower.any():
            notes.append(
                "SE below the independent-votes SE in "
                + ", ".join(frame.index[narrower.to_numpy()])
                + ": the model removes the left-side effect, and participants' and samples' "
                "totals vary less than independent votes would make them (see the statistics "
                "guide)."
            )
        return cls(frame=frame, notes=notes)

    def tables(self) -> list[Table]:
        return [
            Table(
                "crossed",
                self.frame,
                [
                    SET,
                    MA,
                    MB,
                    Column("prob_b", "P(M_b)", r"$P(M_b)$", "fixed", 3),
                    Column("ci_low_b", "95% CI", r"95\% CI", "ci", 3, of="ci_high_b"),
                    Column("se", "SE", kind="fixed", digits=3),
                    Column("se_independent", "SE indep.", kind="fixed", digits=3),
                    Column("t_b", "t", "$t$", "fixed", 2),
                    Column("df", "df", kind="fixed", digits=1),
                    Column("p_value", "p", "$p$", "p"),
                    Column("p_holm_sets", "Holm p", "Holm $p$", "p"),
                ],
                "Participants and samples both random: P(M_b) is the population-averaged "
                "chance of a vote for M_b (logistic model, two-way cluster-robust errors, t "
                "reference); p two-sided, Holm over the sets; SE of the log-odds, and beside it "
                "(SE indep.) the SE that treating every vote as independent would give",
                "Participants and samples both random: $P(M_b)$ is the population-averaged "
                "chance of a vote for $M_b$ (logistic model, two-way cluster-robust errors, "
                "$t$ reference); $p$ two-sided, Holm over the sets; SE of the log-odds, and "
                "beside it (SE indep.) the SE that treating every vote as independent would "
                "give",
                notes=self.notes,
            )
        ]


# ---------------------------------------------------------------------------------------------
# Position bias


@dataclass
class PositionBiasTable(Result):
    """Left-video share per set and overall, with participants and samples as clusters."""

    @classmethod
    def compute(cls, votes: pd.DataFrame) -> PositionBiasTable:
        df = votes.loc[votes["a_side"].isin(["left", "right"])]
        rows = []
        groups = [(n, g) for n, g in df.groupby("set_name", sort=True)] + [("all", df)]
        for name, g in groups:
            try:
                rows.append(position_bias_clustered(g, set_name=name).frame)
            except DataError as err:
                log.warning("position bias of %s not possible: %s", name, err)
        return cls(frame=pd.concat(rows))

    @property
    def overall(self) -> pd.Series:
        return self.frame.loc["all"]

    def tables(self) -> list[Table]:
        return [
            Table(
                "position_bias",
                self.frame,
                [
                    SET,
                    Column("n_votes", "votes", kind="int"),
                    Column("left", "left chosen", kind="int"),
                    Column("left_rate", "left rate", kind="fixed", digits=3),
                    Column("ci_low", "95% CI", r"95\% CI", "ci", 3, of="ci_high"),
                    Column("p_value", "p (participants as clusters)", kind="p"),
                    Column("p_binomial", "p if votes independent", kind="p"),
                ],
                "Position bias: share of votes for the left video, tested with participants "
                "and samples as clusters (a habitual left-clicker moves many votes together); "
                "the binomial p that treats every vote as independent is shown for "
                "comparison only (it rejects far too often)",
            )
        ]


# ---------------------------------------------------------------------------------------------
# Sensitivity to the exclusion rules


@dataclass
class Sensitivity(Result):
    """The main numbers per set (N, votes, Z, P(M_b) with its interval, p) recomputed under
    each exclusion rule: none, the catch rule (the main analysis), and the catch rule plus
    each vote-level rule (fast responses, over-time votes, lost focus), and all together."""

    fast_ms: float = 1000.0

    @classmethod
    def compute(
        cls,
        votes: pd.DataFrame,
        kept: pd.DataFrame,
        *,
        fast_ms: float = 1000.0,
        alpha: float = 0.05,
    ) -> Sensitivity:
        everyone = votes.loc[~votes["is_catch"]]
        main = kept.loc[~kept["is_catch"]]
        rules: list[tuple[str, pd.DataFrame]] = [
            ("no exclusion", everyone),
            ("catch rule (main)", main),
        ]
        masks = []
        if "response_ms" in main.columns:
            ms = pd.to_numeric(main["response_ms"], errors="coerce")
            masks.append((f"+ responses under {fast_ms:g} ms out", ms < fast_ms))
        if "over_time" in main.columns:
            masks.append(("+ over-time votes out", st._as_bool(main["over_time"]).fillna(False)))
        if "blur_count" in main.columns:
            blur = pd.to_numeric(main["blur_count"], errors="coerce").fillna(0)
            masks.append(("+ votes with lost focus out", blur > 0))
        for label, mask in masks:
            rules.append((label, main.loc[~mask.to_numpy(dtype=bool)]))
        if len(masks) > 1:
            drop = np.zeros(len(main), dtype=bool)
            for _, mask in masks:
                drop |= mask.to_numpy(dtype=bool)
            rules.append(("all rules", main.loc[~drop]))
        rows = []
        for label, df in rules:
            for name, g in df.groupby("set_name", sort=True):
                counts = st._counts(g)
                row: dict[str, object] = {
                    "rule": label,
                    "set_name": name,
                    "method_b": g["method_b"].iat[0],
                    "n_participants": g["participant"].nunique(),
                    "n_votes": len(g),
                    "z_b": math.nan,
                }
                if len(counts):
                    s = st.set_summary(counts["votes_a"], counts["n"], alpha)
                    row["z_b"] = s.z_b
                try:
                    r = crossed_test(g, set_name=name)
                    row.update(
                        prob_b=1 - r.prob_a,
                        ci_low_b=1 - r.ci_high,
                        ci_high_b=1 - r.ci_low,
                        p_value=r.p_value,
                    )
                except DataError:
                    pass
                rows.append(row)
        frame = pd.DataFrame(rows)
        for col in ("prob_b", "ci_low_b", "ci_high_b", "p_value"):
            if col not in frame:
                frame[col] = math.nan
        return cls(frame=frame.set_index(["rule", "set_name"]), fast_ms=fast_ms)

    def tables(self) -> list[Table]:
        return [
            Table(
                "sensitivity",
                self.frame,
                [
                    Column("rule", "exclusion"),
                    SET,
                    MB,
                    Column("n_participants", "N", "$N$", "int"),
                    Column("n_votes", "votes", kind="int"),
                    Column("z_b", "Z", "$Z$", "fixed", 2, missing="undefined"),
                    Column("prob_b", "P(M_b)", r"$P(M_b)$", "fixed", 3),
                    Column("ci_low_b", "95% CI", r"95\% CI", "ci", 3, of="ci_high_b"),
                    Column("p_value", "p", "$p$", "p"),
                ],
                "Sensitivity: the main numbers with and without each exclusion rule "
                "(participants failing catch trials; votes faster than "
                f"{self.fast_ms:g} ms, over the time limit, or with the page losing focus, "
                "each on top of the catch rule)",
            )
        ]


# ---------------------------------------------------------------------------------------------
# Per pair, power, calibration, the stopping rule, participants


@dataclass
class PairsTable(Result):
    """Votes per pair and the exact two-sided binomial test (Holm within each set)."""

    @classmethod
    def compute(cls, counts: pd.DataFrame) -> PairsTable:
        parts = []
        for _, g in counts.groupby("set_name", sort=False):
            tests = st.pair_tests(g["votes_a"], g["n"], pair_ids=list(g["pair_id"])).frame
            merged = g.reset_index(drop=True).join(
                tests[["p_value", "p_greater", "p_holm"]].reset_index(drop=True)
            )
            parts.append(merged)
        return cls(frame=pd.concat(parts, ignore_index=True).set_index(["set_name", "pair_id"]))

    def tables(self) -> list[Table]:
        return [
            Table(
                "pairs",
                self.frame,
                [
                    SET,
                    Column("sample", "Sample"),
                    Column("votes_a", "votes M_a", r"votes $M_a$", "int"),
                    Column("votes_b", "votes M_b", r"votes $M_b$", "int"),
                    Column("n", "N", "$N$", "int"),
                    Column("p_value", "exact p", "exact $p$", "p"),
                    Column("p_holm", "Holm p", "Holm $p$", "p"),
                ],
                "Votes per pair and the exact two-sided binomial test (Holm within each set)",
            )
        ]


@dataclass
class PowerTable(Result):
    """Power of the Z test at each set's N and M with the pair SD estimated from the votes,
    and the N needed for `target` power, at each true voting rate of M_b."""

    target: float = 0.8

    @classmethod
    def compute(
        cls,
        counts: pd.DataFrame,
        effects: tuple[float, ...],
        target: float,
        *,
        alpha: float = 0.05,
    ) -> PowerTable:
        rows = []
        for name, g in counts.groupby("set_name", sort=False):
            n, m = int(g["n"].max()), len(g)
            sd = st.pair_sd(g["votes_b"], g["n"])
            for effect in effects:
                tau = 0.0 if math.isnan(sd) else sd
                ok = m >= 2 and tau < st.max_pair_sd(effect)
                needed = (
                    st.required_volunteers(effect, m, pair_sd=tau, alpha=alpha, power=target)
                    if ok
                    else None
                )
                rows.append(
                    {
                        "set_name": name,
                        "method_b": g["method_b"].iat[0],
                        "n_pairs": m,
                        "n_participants": n,
                        "pair_sd": sd,
                        "voting_rate_b": effect,
                        "power": st.z_test_power(effect, n, m, pair_sd=tau, alpha=alpha)
                        if ok
                        else math.nan,
                        "target_power": target,
                        "n_needed": needed.n_participants if needed else None,
                    }
                )
        frame = pd.DataFrame(rows).set_index(["set_name", "voting_rate_b"])
        frame["n_needed"] = frame["n_needed"].astype("Int64")
        return cls(frame=frame, target=target)

    def tables(self) -> list[Table]:
        target = self.target
        return [
            Table(
                "power",
                self.frame,
                [
                    SET,
                    Column("n_pairs", "M", "$M$", "int"),
                    Column("n_participants", "N", "$N$", "int"),
                    Column("pair_sd", "pair SD (from votes)", kind="fixed", digits=3),
                    Column(
                        "voting_rate_b",
                        "true VotingRate(M_b)",
                        r"true VotingRate($M_b$)",
                        "pct",
                        0,
                    ),
                    Column("power", "power at N", "power at $N$", "fixed", 2),
                    Column(
                        "n_needed",
                        f"N for {100 * target:.0f} % power",
                        rf"$N$ for {100 * target:.0f}\,\% power",
                        "int",
                        missing="none (add pairs)",
                    ),
                ],
                f"Power of the Z test at the study's N and M, with the spread of the true "
                f"voting rate across pairs (pair SD) estimated from the votes; N needed for "
                f"{target:.0%} power",
            )
        ]


CALIBRATION_SCENARIOS = [(0.0, 0.0, 0.0), (0.3, 0.2, 0.0), (0.8, 0.4, 0.0), (0.3, 0.2, 0.3)]


def _designs(counts: pd.DataFrame) -> list[tuple[int, int]]:
    return sorted({(int(g["n"].max()), len(g)) for _, g in counts.groupby("set_name")})


@dataclass
class CalibrationTable(Result):
    """Simulated rejection rates of the paper's Z, the t test and the crossed test at each
    design (N, M) of the study, with no preference and at a stated effect."""

    alpha: float = 0.05
    n_sim: int = 0

    @classmethod
    def compute(
        cls, counts: pd.DataFrame, n_sim: int, seed: int, *, alpha: float = 0.05
    ) -> CalibrationTable:

        rows = []
        for n, m in _designs(counts):
            if n < 2 or m < 2:
                continue
            for k, (ps, ss, effect) in enumerate(CALIBRATION_SCENARIOS):
                c = calibrate(
                    n,
                    m,
                    participant_sd=ps,
                    sample_sd=ss,
                    log_odds=effect,
                    alpha=alpha,
                    n_sim=n_sim,
                    seed=seed + k,
                )
                rows.append(asdict(c))
        frame = pd.DataFrame(rows)
        if len(frame):
            frame = frame.set_index(["n_participants", "n_pairs"])
        return cls(frame=frame, alpha=alpha, n_sim=n_sim)

    def tables(self) -> list[Table]:
        a, n_sim = self.alpha, self.n_sim
        return [
            Table(
                "calibration",
                self.frame,
                [
                    Column("n_participants", "N", "$N$", "int"),
                    Column("n_pairs", "M", "$M$", "int"),
                    Column("participant_sd", "participant SD", kind="fixed", digits=1),
                    Column("sample_sd", "sample SD", kind="fixed", digits=1),
                    Column("log_odds", "true log-odds", kind="fixed", digits=1),
                    Column("paper_z", "paper's Z", "paper's $Z$", "pct", 1),
                    Column("t_pairs", "t (M−1 df)", "$t$ ($M-1$ df)", "pct", 1),
                    Column("crossed", "crossed (two-sided)", kind="pct", digits=1),
                ],
                f"Simulated rejection rates at alpha = {a:g} ({n_sim} sets each): with true "
                f"log-odds 0 the false-positive rate, else the power; SDs of the participants' "
                f"and samples' random effects on the log-odds scale",
                f"Simulated rejection rates at $\\alpha = {a:g}$ ({n_sim} sets each): with "
                f"true log-odds 0 the false-positive rate, else the power; SDs of the "
                f"participants' and samples' random effects on the log-odds scale",
            )
        ]


@dataclass
class SequentialTable(Result):
    """The false-positive rate over the looks of a sequential plan, by simulation at each
    design of the study: stopping at the first p < alpha, and at the plan's boundaries."""

    plan: SequentialPlan | None = None
    n_sim: int = 0

    @classmethod
    def compute(
        cls, counts: pd.DataFrame, plan: SequentialPlan, n_sim: int, seed: int
    ) -> SequentialTable:
        rows = []
        for n, m in _designs(counts):
            if n < 4 or m < 2:
                continue
            c = simulate_sequential(plan, n, m, n_sim=n_sim, seed=seed)
            row = asdict(c)
            row.update(naive_se=c.se(c.naive), planned_se=c.se(c.planned), fixed_se=c.se(c.fixed))
            rows.append(row)
        frame = pd.DataFrame(rows)
        if len(frame):
            frame = frame.set_index(["n_participants", "n_pairs"])
        return cls(frame=frame, plan=plan, n_sim=n_sim)

    def tables(self) -> list[Table]:
        assert self.plan is not None
        bounds = ", ".join(f"{b:.2f}" for b in self.plan.boundaries())
        return [
            Table(
                "sequential",
                self.frame,
                [
                    Column("n_participants", "N", "$N$", "int"),
                    Column("n_pairs", "M", "$M$", "int"),
                    Column("looks", "looks (fraction of N)"),
                    Column("rule", "spending"),
                    Column("naive", "stop at first p < alpha", kind="pct", digits=1),
                    Column("naive_se", "± MC SE", kind="pct", digits=1),
                    Column("planned", "with the boundaries", kind="pct", digits=1),
                    Column("planned_se", "± MC SE", kind="pct", digits=1),
                    Column("fixed", "fixed N", kind="pct", digits=1),
                ],
                f"Stopping rule: false-positive rate over the looks of {self.n_sim} simulated "
                f"null studies (crossed test; participant SD 0.3, sample SD 0.2), stopping at "
                f"the first look with p < alpha or at the plan's boundaries |Z| ≥ {bounds} "
                f"({self.plan.describe()})",
            )
        ]


@dataclass
class ParticipantsTable(Result):
    """Catch trials per participant and the exclusion (`CatchRule.table`)."""

    def tables(self) -> list[Table]:
        return [
            Table(
                "participants",
                self.frame,
                [
                    Column("participant", "Participant"),
                    Column("catch_trials", "catch trials", kind="int"),
                    Column("catch_passed", "passed", kind="int"),
                    Column("catch_failed", "failed", kind="int"),
                    Column("catch_unknown", "unknown", kind="int"),
                    Column("excluded", "excluded", kind="bool"),
                ],
                "Catch trials per participant and the exclusion",
            )
        ]
