"""The study report: every table and figure of a pairwise study (and its expert scores).

`study_report(votes, ratings)` turns a votes frame (the columns of
`study.export.votes_frame`) into a `StudyReport`: `.tables` (name -> machine DataFrame, what
the CSV keeps), `.layouts` (name -> `study.tables.Table`, how Markdown and LaTeX print it)
and `.figures` (name -> plotly Figure); `.write(out_dir)` writes each table as CSV, Markdown
and LaTeX, each figure as HTML (and PNG when kaleido can render it), and an index
`report.md`.

Catch trials never enter the statistics. Participants who failed catch trials are left out
of everything by `CatchRule` (the study's rule when known); a catch trial of unknown outcome
never counts as failed. The `participants` table lists who was excluded and why.

Every table names the methods M_a and M_b of a set as the study defined them; the paper lists
the improved method second, so its Z (Table IV) tests M_b over M_a, and so do ours.

Tables (machine name: content):
- `table_iv`: the paper's Table IV: set, M_a, M_b, H0, Z (2 decimals).
- `table_v`: the paper's Table V: preference counts k/M of each method.
- `voting_rates`: the voting rates of the paper's Figs. 7-9.
- `sets`: the Z test in full: mean votes, s, Z, its normal p and Student's t p (M - 1 df).
- `tests`: sign and Wilcoxon tests over pairs, agreement (Fleiss' kappa).
- `crossed`: participants and samples both random (`study.crossed`): P(M_b chosen), CI, p.
- `pairs`: per pair, the votes and the exact binomial test (Holm within the set).
- `bradley_terry`: all methods ranked from all sets' votes, bootstrap intervals.
- `position_bias`: how often the left video was chosen.
- `power`: the pair SD estimated from the votes, the Z test's power at this N and M, and the
  N needed for the target power.
- `calibration`: by simulation at this study's N and M, how often each test rejects with no
  preference (its false-positive rate) and at a stated effect (its power).
- `participants`: catch trials per participant and the exclusion.
- `expert`: the MEGC expert table (when ratings are given).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fme.core.errors import DataError
from study import figures
from study import stats as st
from study.calibration import calibrate
from study.crossed import crossed_test
from study.tables import Column, Table, generic, tex_escape

log = logging.getLogger(__name__)

MA = Column("method_a", "M_a", r"$M_a$")
MB = Column("method_b", "M_b", r"$M_b$")
SET = Column("set_name", "Set")
UNDEFINED_NOTE = (
    "Z is undefined when every pair has the same margin (s = 0) or the set has one pair; "
    "the exact tests (sign test, per-pair binomial) decide such a set."
)


@dataclass
class StudyReport:
    """Tables and figures of one study; `write` saves them."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    layouts: dict[str, Table] = field(default_factory=dict)
    figures: dict[str, go.Figure] = field(default_factory=dict)
    summaries: list[st.SetSummary] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    alpha: float = 0.05
    title: str = "Study report"

    def add(self, table: Table) -> None:
        self.tables[table.name] = table.frame
        self.layouts[table.name] = table

    def layout(self, name: str) -> Table:
        if name in self.layouts:
            return self.layouts[name]
        return generic(name, self.tables[name], name.replace("_", " "))

    def write(
        self, out_dir: str | Path, *, png: bool | None = None, figures: bool = True
    ) -> list[Path]:
        """Write tables/NAME.{csv,md,tex}, figures/NAME.html (+ .png when kaleido works,
        or never with png=False; no figures with figures=False) and report.md; return the
        paths written."""
        out = Path(out_dir)
        (out / "tables").mkdir(parents=True, exist_ok=True)
        shown = self.figures if figures else {}
        if shown:
            (out / "figures").mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        index = [f"# {self.title}", ""]
        index += [*self.notes, ""] if self.notes else []
        for name, table in self.tables.items():
            base = out / "tables" / name
            layout = self.layout(name)
            md = layout.markdown()
            table.to_csv(base.with_suffix(".csv"))
            base.with_suffix(".md").write_text(md + "\n", encoding="utf-8")
            base.with_suffix(".tex").write_text(layout.latex(), encoding="utf-8")
            written += [base.with_suffix(s) for s in (".csv", ".md", ".tex")]
            index += [f"## {layout.caption}", "", md, ""]
        want_png = png is not False and _kaleido_available()
        if png and not want_png:
            log.warning("kaleido is not installed; figures are written as HTML only")
        if shown:
            index += ["## Figures", ""]
        for name, fig in shown.items():
            html = out / "figures" / f"{name}.html"
            # One plotly.min.js beside the figures, so the HTML works offline.
            fig.write_html(html, include_plotlyjs="directory", full_html=True)
            written.append(html)
            index.append(f"- [{name}](figures/{name}.html)")
            if want_png:
                try:
                    fig.write_image(html.with_suffix(".png"), width=900, height=500, scale=2)
                    written.append(html.with_suffix(".png"))
                except Exception as err:  # kaleido present but no browser to render with
                    log.warning("no PNG for %s: %s", name, err)
                    want_png = False
        report = out / "report.md"
        report.write_text("\n".join(index) + "\n", encoding="utf-8")
        written.append(report)
        return written


def _kaleido_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("kaleido") is not None


def markdown_table(table: pd.DataFrame, digits: int = 4) -> str:
    """A Markdown table of any frame (numbers to `digits` decimals, real minus signs)."""
    return generic("table", table, digits=digits).markdown()


def latex_table(table: pd.DataFrame, caption: str = "", digits: int = 4) -> str:
    """A booktabs LaTeX table of any frame (see `study.tables`)."""
    return generic(caption.replace(" ", "_") or "table", table, caption, digits).latex()


# ---------------------------------------------------------------------------------------------
# The tables


def _h0(counts: pd.DataFrame) -> float:
    n = counts["n"].to_numpy()
    return float(n[0] / 2) if len(n) and np.all(n == n[0]) else math.nan


def _sets_frame(report: StudyReport, counts: pd.DataFrame) -> pd.DataFrame:
    sets = pd.concat([s.frame for s in report.summaries])
    h0 = {name: _h0(g) for name, g in counts.groupby("set_name")}
    sets["h0_mean"] = [h0[n] for n in sets.index]
    sets["mean_votes_b"] = counts.groupby("set_name")["votes_b"].mean().reindex(sets.index)
    return sets


def _paper_tables(report: StudyReport, sets: pd.DataFrame) -> None:
    crit = st.critical_value(report.alpha)
    notes = [UNDEFINED_NOTE] if not sets["z_defined"].all() else []
    if sets["h0_mean"].isna().any():
        notes.append("H0 is the mean margin VC − N/2 < 0 where pairs have unequal N (—).")
    iv = sets[["method_a", "method_b", "n_participants", "n_pairs", "h0_mean", "z_b"]]
    iv = iv.assign(z_defined=sets["z_defined"])
    report.add(
        Table(
            "table_iv",
            iv,
            [
                SET,
                MA,
                MB,
                Column("h0_mean", "H0", r"$H_0$", kind="h0"),
                Column("z_b", "Z", r"$Z$", kind="fixed", digits=2, missing="undefined"),
            ],
            f"Table IV: right-tailed Z test of M_b over M_a over the pairs of each set "
            f"(significant when Z > {crit:.3f}, alpha = {report.alpha:g})",
            f"Table IV: right-tailed $Z$ test of $M_b$ over $M_a$ over the pairs of each set "
            f"(significant when $Z > {crit:.3f}$, $\\alpha = {report.alpha:g}$)",
            notes,
        )
    )
    v = sets[["method_a", "wins_a", "method_b", "wins_b", "n_pairs", "pref_rate", "pref_rate_b"]]
    report.add(
        Table(
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
    )
    rates = sets[
        ["method_a", "voting_rate", "method_b", "voting_rate_b", "n_participants", "n_pairs"]
    ]
    report.add(
        Table(
            "voting_rates",
            rates,
            [
                SET,
                MA,
                Column("voting_rate", "VotingRate(M_a)", r"VotingRate($M_a$)", "pct", 1),
                MB,
                Column("voting_rate_b", "VotingRate(M_b)", r"VotingRate($M_b$)", "pct", 1),
                Column("n_participants", "N", r"$N$", "int"),
                Column("n_pairs", "M", r"$M$", "int"),
            ],
            "Voting rates (Figs. 7-9): share of all votes each method received",
        )
    )
    report.add(
        Table(
            "sets",
            sets,
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
            ],
            "The Z test of M_b over M_a in full: its normal p-value as in the paper, and "
            "Student's t with M − 1 df, which holds the level when voters are fixed",
            notes=[UNDEFINED_NOTE] if not sets["z_defined"].all() else [],
        )
    )


def _tests_table(report: StudyReport, counts: pd.DataFrame) -> None:
    rows = []
    for name, g in counts.groupby("set_name", sort=False):
        across = st.across_pairs(g["votes_a"], g["n"], alternative="two-sided")
        row: dict[str, object] = {
            "set_name": name,
            "method_a": g["method_a"].iat[0],
            "method_b": g["method_b"].iat[0],
            "wins_a": across.wins_a,
            "wins_b": across.wins_b,
            "ties": across.ties,
            "sign_p": across.sign_p_value,
            "wilcoxon_p": across.wilcoxon_p_value,
            "agreement": math.nan,
            "fleiss_kappa": math.nan,
        }
        try:
            ag = st.agreement_from_counts(g, set_name=name)
            row.update(agreement=ag.observed, fleiss_kappa=ag.kappa)
        except DataError:
            pass
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("set_name")
    report.add(
        Table(
            "tests",
            frame,
            [
                SET,
                MA,
                MB,
                Column("wins_a", "wins M_a", r"wins $M_a$", "int"),
                Column("wins_b", "wins M_b", r"wins $M_b$", "int"),
                Column("ties", "ties", kind="int"),
                Column("sign_p", "sign test p", "sign test $p$", "p"),
                Column("wilcoxon_p", "Wilcoxon p", "Wilcoxon $p$", "p"),
                Column("fleiss_kappa", "Fleiss κ", r"Fleiss $\kappa$", "fixed", 2),
            ],
            "Two-sided tests over the pairs of each set (exact sign test, Wilcoxon "
            "signed-rank test of VC − N/2) and agreement between participants",
        )
    )


def _crossed_table(report: StudyReport, votes: pd.DataFrame, counts: pd.DataFrame) -> None:
    rows = []
    for name, g in counts.groupby("set_name", sort=False):
        row: dict[str, object] = {
            "set_name": name,
            "method_a": g["method_a"].iat[0],
            "method_b": g["method_b"].iat[0],
        }
        try:
            r = crossed_test(votes.loc[votes["set_name"] == name], set_name=name)
            row.update(
                prob_b=1 - r.prob_a,
                ci_low_b=1 - r.ci_high,
                ci_high_b=1 - r.ci_low,
                log_odds_b=-r.log_odds,
                se=r.se,
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
    for col in ("prob_b", "ci_low_b", "ci_high_b", "t_b", "df", "p_value", "side_log_odds"):
        if col not in frame:
            frame[col] = math.nan
    # Holm over the sets: the family of questions "does M_b beat M_a?" the study asks.
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
    report.add(
        Table(
            "crossed",
            frame,
            [
                SET,
                MA,
                MB,
                Column("prob_b", "P(M_b)", r"$P(M_b)$", "fixed", 3),
                Column("ci_low_b", "95% CI", r"95\% CI", "ci", 3, of="ci_high_b"),
                Column("t_b", "t", "$t$", "fixed", 2),
                Column("df", "df", kind="fixed", digits=1),
                Column("p_value", "p", "$p$", "p"),
                Column("p_holm_sets", "Holm p", "Holm $p$", "p"),
            ],
            "Participants and samples both random: P(M_b) is the population-averaged chance "
            "of a vote for M_b (logistic model, two-way cluster-robust errors, t reference); "
            "p two-sided, Holm over the sets",
            "Participants and samples both random: $P(M_b)$ is the population-averaged "
            "chance of a vote for $M_b$ (logistic model, two-way cluster-robust errors, "
            "$t$ reference); $p$ two-sided, Holm over the sets",
            notes=notes,
        )
    )


def _pairs_table(report: StudyReport, counts: pd.DataFrame) -> None:
    parts = []
    for _, g in counts.groupby("set_name", sort=False):
        tests = st.pair_tests(g["votes_a"], g["n"], pair_ids=list(g["pair_id"])).frame
        merged = g.reset_index(drop=True).join(
            tests[["p_value", "p_greater", "p_holm"]].reset_index(drop=True)
        )
        parts.append(merged)
    pairs = pd.concat(parts, ignore_index=True).set_index(["set_name", "pair_id"])
    report.add(
        Table(
            "pairs",
            pairs,
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
    )


def _power_table(
    report: StudyReport, counts: pd.DataFrame, effects: tuple[float, ...], target: float
) -> None:
    rows = []
    for name, g in counts.groupby("set_name", sort=False):
        n, m = int(g["n"].max()), len(g)
        sd = st.pair_sd(g["votes_b"], g["n"])
        for effect in effects:
            tau = 0.0 if math.isnan(sd) else sd
            ok = m >= 2 and tau < st.max_pair_sd(effect)
            needed = (
                st.required_volunteers(effect, m, pair_sd=tau, alpha=report.alpha, power=target)
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
                    "power": st.z_test_power(effect, n, m, pair_sd=tau, alpha=report.alpha)
                    if ok
                    else math.nan,
                    "target_power": target,
                    "n_needed": needed.n_participants if needed else None,
                }
            )
    frame = pd.DataFrame(rows).set_index(["set_name", "voting_rate_b"])
    frame["n_needed"] = frame["n_needed"].astype("Int64")
    report.add(
        Table(
            "power",
            frame,
            [
                SET,
                Column("n_pairs", "M", "$M$", "int"),
                Column("n_participants", "N", "$N$", "int"),
                Column("pair_sd", "pair SD (from votes)", kind="fixed", digits=3),
                Column(
                    "voting_rate_b", "true VotingRate(M_b)", r"true VotingRate($M_b$)", "pct", 0
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
            f"Power of the Z test at the study's N and M, with the spread of the true voting "
            f"rate across pairs (pair SD) estimated from the votes; N needed for "
            f"{target:.0%} power",
        )
    )


def _calibration_table(report: StudyReport, counts: pd.DataFrame, n_sim: int, seed: int) -> None:
    rows = []
    designs = sorted({(int(g["n"].max()), len(g)) for _, g in counts.groupby("set_name")})
    scenarios = [(0.0, 0.0, 0.0), (0.3, 0.2, 0.0), (0.8, 0.4, 0.0), (0.3, 0.2, 0.3)]
    for n, m in designs:
        if n < 2 or m < 2:
            continue
        for k, (ps, ss, effect) in enumerate(scenarios):
            c = calibrate(
                n,
                m,
                participant_sd=ps,
                sample_sd=ss,
                log_odds=effect,
                alpha=report.alpha,
                n_sim=n_sim,
                seed=seed + k,
            )
            rows.append(asdict(c))
    if not rows:
        return
    frame = pd.DataFrame(rows).set_index(["n_participants", "n_pairs"])
    report.add(
        Table(
            "calibration",
            frame,
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
            f"Simulated rejection rates at alpha = {report.alpha:g} ({n_sim} sets each): "
            f"with true log-odds 0 the false-positive rate, else the power; SDs of the "
            f"participants' and samples' random effects on the log-odds scale",
            f"Simulated rejection rates at $\\alpha = {report.alpha:g}$ ({n_sim} sets each): "
            f"with true log-odds 0 the false-positive rate, else the power; SDs of the "
            f"participants' and samples' random effects on the log-odds scale",
        )
    )


def study_report(
    votes_df: pd.DataFrame,
    ratings_df: pd.DataFrame | None = None,
    alpha: float = 0.05,
    exclude_failed_catch: bool = True,
    *,
    min_catch_pass_rate: float = 1.0,
    max_catch_failures: int | None = None,
    n_boot: int = 200,
    seed: int = 0,
    power_effects: tuple[float, ...] = (0.55, 0.6, 0.65, 0.7),
    target_power: float = 0.8,
    n_calibration: int = 2000,
    title: str = "Study report",
    catch_rule_source: str | None = None,
) -> StudyReport:
    """All tables and figures of a study from its votes (and optional expert ratings).

    `alpha` sets the critical value of the paper's Z test; `exclude_failed_catch`,
    `max_catch_failures` (when given) or else `min_catch_pass_rate` the catch-trial rule
    (`catch_rule_source` says in the report where the rule came from); `n_boot` bootstrap
    resamples of participants give the Bradley-Terry intervals (seeded by `seed`);
    `power_effects` (true voting rates of M_b) and `target_power` drive the power table;
    `n_calibration` simulated sets per scenario the calibration table (0: none).
    """
    report = StudyReport(alpha=alpha, title=title)
    votes = st.check_votes(votes_df)
    rule = st.CatchRule(
        min_pass_rate=min_catch_pass_rate,
        max_failures=max_catch_failures,
        enabled=exclude_failed_catch,
    )
    participants = rule.table(votes)
    kept = rule.apply(votes)
    report.excluded = list(rule.excluded)
    n_catch = int(participants["catch_trials"].sum())
    unknown = int(participants["catch_unknown"].sum())
    if n_catch == 0:
        report.notes.append("Catch trials: none in these votes; nobody is excluded.")
    else:
        source = f" ({catch_rule_source})" if catch_rule_source else ""
        report.notes.append(
            f"Catch trials: {n_catch} votes; rule: {rule.describe()}{source}; "
            f"excluded {len(report.excluded)} of {len(participants)} participant(s)."
        )
        if unknown:
            report.notes.append(
                f"{unknown} catch vote(s) have no pass/fail information (no catch_passed "
                f"value); they count as neither passed nor failed."
            )
    scored = kept.loc[~kept["is_catch"]]
    if scored.empty:
        raise DataError(
            "no votes left after removing catch trials and excluded participants",
            hint="Check the votes export, or relax the catch rule (--max-catch-failures).",
        )

    report.summaries = st.summarize_sets(scored, alpha)
    counts = st.vote_counts(scored)
    sets = _sets_frame(report, counts)
    _paper_tables(report, sets)
    _tests_table(report, counts)
    _crossed_table(report, scored, counts)
    _pairs_table(report, counts)
    bt = st.bradley_terry(scored, n_boot=n_boot, seed=seed)
    if not bt.connected:
        report.notes.append(
            "The comparison sets do not connect all methods: Bradley-Terry scores of "
            "separate groups are not comparable."
        )
    bt_cols = [Column("method", "Method"), Column("score", "score (log-strength)", kind="fixed")]
    if "ci_low" in bt.frame:
        bt_cols.append(
            Column(
                "ci_low",
                f"95% CI ({n_boot} bootstraps)",
                rf"95\% CI ({n_boot} bootstraps)",
                "ci",
                of="ci_high",
            )
        )
    bt_cols += [
        Column("wins", "wins", kind="int"),
        Column("comparisons", "votes", kind="int"),
        Column("rank", "rank", kind="int"),
    ]
    report.add(
        Table(
            "bradley_terry",
            bt.frame,
            bt_cols,
            "Bradley-Terry ranking of all methods from every vote (mean score 0; intervals "
            "from resampling participants and samples)",
        )
    )
    if "a_side" in scored.columns and scored["a_side"].isin(["left", "right"]).any():
        bias = st.position_bias(scored).frame
        report.add(
            Table(
                "position_bias",
                bias,
                [
                    SET,
                    Column("n", "votes", kind="int"),
                    Column("left", "left chosen", kind="int"),
                    Column("left_rate", "left rate", kind="fixed", digits=3),
                    Column("ci_low", "95% CI", r"95\% CI", "ci", 3, of="ci_high"),
                    Column("p_value", "p", "$p$", "p"),
                ],
                "Position bias: share of votes for the left video (exact binomial test of 1/2)",
            )
        )
    _power_table(report, counts, power_effects, target_power)
    if n_calibration:
        _calibration_table(report, counts, n_calibration, seed)
    report.add(
        Table(
            "participants",
            participants,
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
    )

    report.figures["voting_rate"] = figures.voting_rate_figure(sets)
    pairs = report.tables["pairs"].reset_index()
    report.figures["pair_box"] = figures.pair_box_figure(pairs)
    report.figures["pair_votes"] = figures.pair_votes_figure(pairs)
    report.figures["bradley_terry"] = figures.bradley_terry_figure(bt.frame)
    if "position_bias" in report.tables:
        report.figures["position_bias"] = figures.position_bias_figure(
            report.tables["position_bias"]
        )

    if ratings_df is not None and len(ratings_df):
        from study.expert import expert_table

        table = expert_table(ratings_df)
        report.add(expert_layout(table))
        report.figures["expert"] = figures.expert_figure(table)
    return report


def expert_layout(table: pd.DataFrame) -> Table:
    """The MEGC expert table: totals per expert, overall, normalized overall (6 decimals)."""
    experts = [c for c in table.columns if c not in ("overall", "normalized_overall")]
    return Table(
        "expert",
        table,
        [
            Column("method", "Method"),
            *(Column(e, e, kind="int") for e in experts),
            Column("overall", "overall", kind="int"),
            Column("normalized_overall", "normalized overall", kind="fixed", digits=6),
        ],
        "Expert scores (MEGC): each expert's total, the overall and the normalized overall "
        "(sum over experts of total / that expert's best total)",
    )


__all__ = [
    "StudyReport",
    "expert_layout",
    "latex_table",
    "markdown_table",
    "study_report",
    "tex_escape",
]
