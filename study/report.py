"""The study report: every table and figure of a pairwise study (and its expert scores).

`study_report(votes, ratings)` turns a votes frame (the columns of
`study.export.votes_frame`) into a `StudyReport`: `.tables` (name -> DataFrame) and
`.figures` (name -> plotly Figure); `.write(out_dir)` writes each table as CSV, Markdown and
LaTeX, each figure as HTML (and PNG when kaleido can render it), and an index `report.md`.

Catch trials never enter the statistics. Participants who failed catch trials are left out
of everything by `CatchRule` (by default one failure excludes; `min_catch_pass_rate` relaxes
that); the `participants` table lists who was excluded and why.

Tables:
- `sets`: the paper's Tables III-V, one row per comparison set: PrefRate and VotingRate of A
  and B, Z, its p-value, the critical value at alpha, significance.
- `tests`: per set, the tests beyond the paper, two-sided (either method may be better):
  sign and Wilcoxon tests over pairs, the mixed-effects logistic model (P(choose A),
  random-effect SDs, the left-side effect), agreement and Fleiss' kappa.
- `pairs`: per pair, the votes, A's voting rate and the exact binomial test (Holm-corrected
  within the set).
- `bradley_terry`: all methods ranked from all sets' votes.
- `position_bias`: how often the left video was chosen.
- `power`: volunteers a set with this many pairs needs to detect a given voting rate.
- `participants`: catch trials per participant and the exclusion.
- `expert`: the MEGC expert table (when ratings are given).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fme.errors import DataError
from study import figures
from study import stats as st

log = logging.getLogger(__name__)

SET_COLUMNS = [
    "method_a",
    "method_b",
    "n_participants",
    "n_pairs",
    "pref_rate",
    "pref_rate_b",
    "voting_rate",
    "voting_rate_b",
    "z",
    "p_value",
    "critical_value",
    "significant",
    "z_b",
    "p_value_b",
    "significant_b",
]


@dataclass
class StudyReport:
    """Tables and figures of one study; `write` saves them."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, go.Figure] = field(default_factory=dict)
    summaries: list[st.SetSummary] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    alpha: float = 0.05
    title: str = "Study report"
    digits: dict[str, int] = field(default_factory=lambda: {"expert": 6})

    def write(self, out_dir: str | Path, *, png: bool | None = None) -> list[Path]:
        """Write tables/NAME.{csv,md,tex}, figures/NAME.html (+ .png when kaleido works,
        or never with png=False) and report.md; return the paths written."""
        out = Path(out_dir)
        (out / "tables").mkdir(parents=True, exist_ok=True)
        (out / "figures").mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        index = [f"# {self.title}", ""]
        if self.excluded:
            index += [
                f"Excluded after failed catch trials: {len(self.excluded)} participant(s).",
                "",
            ]
        for name, table in self.tables.items():
            base = out / "tables" / name
            digits = self.digits.get(name, 4)
            md = markdown_table(table, digits)
            table.to_csv(base.with_suffix(".csv"))
            base.with_suffix(".md").write_text(md + "\n", encoding="utf-8")
            base.with_suffix(".tex").write_text(
                latex_table(table, caption=name.replace("_", " "), digits=digits),
                encoding="utf-8",
            )
            written += [base.with_suffix(s) for s in (".csv", ".md", ".tex")]
            index += [f"## {name}", "", md, ""]
        want_png = png is not False and _kaleido_available()
        if png and not want_png:
            log.warning("kaleido is not installed; figures are written as HTML only")
        if self.figures:
            index += ["## figures", ""]
        for name, fig in self.figures.items():
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


def _fmt(v: object, digits: int = 4) -> str:
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v != 0 and abs(v) < 10 ** (-digits):
            return f"{v:.2e}"
        return f"{v:.{digits}f}".rstrip("0").rstrip(".")
    if v is None or v is pd.NA:
        return ""
    return str(v)


def _rows(table: pd.DataFrame, digits: int) -> tuple[list[str], list[list[str]]]:
    df = table.reset_index() if any(n is not None for n in table.index.names) else table
    header = [str(c) for c in df.columns]
    rows = [[_fmt(v, digits) for v in row] for row in df.itertuples(index=False, name=None)]
    return header, rows


def markdown_table(table: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub Markdown table (numbers to `digits` decimals; the CSV keeps full precision)."""
    header, rows = _rows(table, digits)

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header)] + [line(r) for r in rows])


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _tex(s: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in s)


def latex_table(table: pd.DataFrame, caption: str = "", digits: int = 4) -> str:
    """A booktabs `table` environment (needs \\usepackage{booktabs})."""
    header, rows = _rows(table, digits)
    spec = "l" + "r" * (len(header) - 1)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_tex(caption)}}}" if caption else "",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_tex(h) for h in header) + r" \\",
        r"\midrule",
        *(" & ".join(_tex(c) for c in r) + r" \\" for r in rows),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(line for line in lines if line) + "\n"


def _pairs_table(votes: pd.DataFrame) -> pd.DataFrame:
    counts = st.vote_counts(votes)
    parts = []
    for _, g in counts.groupby("set_name", sort=True):
        tests = st.pair_tests(g["votes_a"], g["n"], pair_ids=list(g["pair_id"])).frame
        merged = g.reset_index(drop=True).join(
            tests[["p_value", "p_greater", "p_holm"]].reset_index(drop=True)
        )
        parts.append(merged)
    return pd.concat(parts, ignore_index=True).set_index(["set_name", "pair_id"])


def _tests_table(votes: pd.DataFrame, counts: pd.DataFrame, mixed: bool) -> pd.DataFrame:
    rows = []
    for name, g in counts.groupby("set_name", sort=True):
        across = st.across_pairs(g["votes_a"], g["n"], alternative="two-sided")
        row: dict[str, object] = {
            "set_name": name,
            "wins_a": across.wins_a,
            "wins_b": across.wins_b,
            "ties": across.ties,
            "sign_p": across.sign_p_value,
            "wilcoxon_p": across.wilcoxon_p_value,
        }
        if mixed:
            try:
                mm = st.mixed_model(votes, set_name=name)
                row.update(
                    glmm_prob_a=mm.prob_a,
                    glmm_z=mm.z,
                    glmm_p=mm.p_two_sided,
                    participant_sd=mm.participant_sd,
                    sample_sd=mm.sample_sd,
                    side_log_odds=mm.side_log_odds,
                )
            except (ValueError, np.linalg.LinAlgError, DataError) as err:
                log.warning("mixed model of set %s not fitted: %s", name, err)
        try:
            ag = st.agreement(votes, set_name=name)
            row.update(agreement=ag.observed, fleiss_kappa=ag.kappa)
        except DataError:
            pass
        rows.append(row)
    return pd.DataFrame(rows).set_index("set_name")


def _power_table(
    counts: pd.DataFrame, alpha: float, effects: tuple[float, ...], pair_sd: float
) -> pd.DataFrame:
    rows = []
    for m in sorted(counts.groupby("set_name").size().unique()):
        for effect in effects:
            res = st.required_volunteers(effect, int(m), pair_sd=pair_sd, alpha=alpha)
            rows.append(
                {
                    "n_pairs": int(m),
                    "voting_rate": effect,
                    "pair_sd": pair_sd,
                    "power": res.power,
                    "volunteers": res.n_participants if res.n_participants else "none",
                }
            )
    return pd.DataFrame(rows).set_index(["n_pairs", "voting_rate"])


def study_report(
    votes_df: pd.DataFrame,
    ratings_df: pd.DataFrame | None = None,
    alpha: float = 0.05,
    exclude_failed_catch: bool = True,
    *,
    min_catch_pass_rate: float = 1.0,
    max_catch_failures: int | None = None,
    mixed: bool = True,
    n_boot: int = 200,
    seed: int = 0,
    power_effects: tuple[float, ...] = (0.55, 0.6, 0.65, 0.7),
    pair_sd: float = 0.1,
    title: str = "Study report",
) -> StudyReport:
    """All tables and figures of a study from its votes (and optional expert ratings).

    `alpha` sets the critical value of the paper's Z test; `exclude_failed_catch`,
    `max_catch_failures` (when given) or else `min_catch_pass_rate` the catch-trial rule; `mixed` fits the mixed-effects model per set;
    `n_boot` bootstrap resamples give the Bradley-Terry intervals (seeded by `seed`);
    `power_effects` and `pair_sd` (the spread of true preference across pairs) drive the
    power table.
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
    scored = kept.loc[~kept["is_catch"]]
    if scored.empty:
        raise DataError(
            "no votes left after removing catch trials and excluded participants",
            hint="Check the votes export, or relax the catch rule (--min-catch-pass-rate).",
        )

    report.summaries = st.summarize_sets(scored, alpha)
    sets = pd.concat([s.frame for s in report.summaries])[SET_COLUMNS]
    report.tables["sets"] = sets
    counts = st.vote_counts(scored)
    report.tables["tests"] = _tests_table(scored, counts, mixed)
    pairs = _pairs_table(scored)
    report.tables["pairs"] = pairs
    bt = st.bradley_terry(scored, n_boot=n_boot, seed=seed)
    if not bt.connected:
        log.warning(
            "the comparison sets do not connect all methods; BT scores of separate "
            "groups are not comparable"
        )
    report.tables["bradley_terry"] = bt.frame
    if "a_side" in scored.columns and scored["a_side"].isin(["left", "right"]).any():
        report.tables["position_bias"] = st.position_bias(scored).frame
    report.tables["power"] = _power_table(counts, alpha, power_effects, pair_sd)
    report.tables["participants"] = participants

    report.figures["voting_rate"] = figures.voting_rate_figure(sets)
    report.figures["pair_box"] = figures.pair_box_figure(pairs.reset_index())
    report.figures["pair_votes"] = figures.pair_votes_figure(pairs.reset_index())
    report.figures["bradley_terry"] = figures.bradley_terry_figure(bt.frame)
    if "position_bias" in report.tables:
        report.figures["position_bias"] = figures.position_bias_figure(
            report.tables["position_bias"]
        )

    if ratings_df is not None and len(ratings_df):
        from study.expert import expert_table

        table = expert_table(ratings_df)
        report.tables["expert"] = table
        report.figures["expert"] = figures.expert_figure(table)
    return report
