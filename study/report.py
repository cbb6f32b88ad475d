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
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from fme.core.errors import DataError
from fme.core.outputs import (
    atomic_path,
    output_set,
    storage_error,
    write_csv_atomic,
    write_text_atomic,
)
from study import figures
from study import stats as st
from study.checks import screen_votes
from study.ranking import rank_methods
from study.results import (
    UNDEFINED_NOTE,
    CalibrationTable,
    CrossedTable,
    PairsAgreement,
    PairsTable,
    ParticipantsTable,
    PositionBiasTable,
    PowerTable,
    Sensitivity,
    SequentialTable,
    SetEffects,
)
from study.sequential import SequentialPlan
from study.tables import Column, Table, generic, tex_escape

log = logging.getLogger(__name__)

#: the entries of a report folder that are the report's own (others in it are kept)
REPORT_ENTRIES = ("tables", "figures", "report.md")

SET = Column("set_name", "Set")


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

    def add(self, table: Table | object) -> None:
        """Add a `Table`, or every table of a result that renders itself (`.tables()`)."""
        if not isinstance(table, Table):
            for t in table.tables():  # type: ignore[attr-defined]
                self.add(t)
            return
        self.tables[table.name] = table.frame
        self.layouts[table.name] = table

    def layout(self, name: str) -> Table:
        if name in self.layouts:
            return self.layouts[name]
        return generic(name, self.tables[name], name.replace("_", " "))

    def write(
        self,
        out_dir: str | Path,
        *,
        png: bool | None = None,
        figures: bool = True,
        command: str = "fme study report",
    ) -> list[Path]:
        """Write tables/NAME.{csv,md,tex}, figures/NAME.html (+ .png when kaleido works,
        or never with png=False; no figures with figures=False) and report.md; return the
        paths written.

        The report is built aside and swapped into `out_dir` whole (see
        `fme.core.outputs.output_set`): a run killed or failing half-way leaves the earlier
        report, never its `report.md` beside tables of other votes."""
        out = Path(out_dir)
        with output_set(out, command, owns=lambda _: list(REPORT_ENTRIES)) as stage:
            written = self._write_into(stage.path, png=png, figures=figures)
        return [out / p.relative_to(stage.path) for p in written]

    def _write_into(self, out: Path, *, png: bool | None, figures: bool) -> list[Path]:
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
            write_csv_atomic(table, base.with_suffix(".csv"))
            write_text_atomic(base.with_suffix(".md"), md + "\n")
            write_text_atomic(base.with_suffix(".tex"), layout.latex())
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
                    with atomic_path(html.with_suffix(".png")) as tmp:
                        fig.write_image(tmp, format="png", width=900, height=500, scale=2)
                    written.append(html.with_suffix(".png"))
                except Exception as err:  # kaleido present but no browser to render with
                    if storage_error(err) is not None:
                        raise
                    log.warning("no PNG for %s: %s", name, err)
                    want_png = False
        report = out / "report.md"
        write_text_atomic(report, "\n".join(index) + "\n")
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
    study: str | None = None,
    equivalence_margin: float = 0.05,
    fast_ms: float = 1000.0,
    sequential: SequentialPlan | None = None,
) -> StudyReport:
    """All tables and figures of a study from its votes (and optional expert ratings).

    The votes are screened first (`study.checks.screen_votes`: `study` picks one study of a
    CSV holding several; duplicates and second votes are removed and counted; catch trials
    are recognised without `is_catch`). `alpha` sets the critical value of the paper's Z
    test; `exclude_failed_catch`, `max_catch_failures` (when given) or else
    `min_catch_pass_rate` the catch-trial rule (`catch_rule_source` says in the report where
    the rule came from); `n_boot` bootstrap resamples of participants give the rank
    intervals (seeded by `seed`); `power_effects` (true voting rates of M_b) and
    `target_power` drive the power table; `n_calibration` simulated sets per scenario the
    calibration table (0: none) and, with a `sequential` plan, the stopping-rule table;
    `equivalence_margin` the TOST bounds 1/2 +- margin on P(M_b); `fast_ms` the response
    time under which the sensitivity table drops a vote.
    """
    report = StudyReport(alpha=alpha, title=title)
    screened, screen = screen_votes(votes_df, study=study)
    report.notes += list(screen.notes)
    votes = st.check_votes(screened)
    rule = st.CatchRule(
        min_pass_rate=min_catch_pass_rate,
        max_failures=max_catch_failures,
        enabled=exclude_failed_catch,
    )
    participants = rule._table(votes)
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
    effects = SetEffects.compute(
        scored, counts, report.summaries, alpha=alpha, margin=equivalence_margin
    )
    report.add(effects)
    sets = effects.frame
    report.add(PairsAgreement.compute(scored, counts, seed=seed))
    report.add(CrossedTable.compute(scored, counts))
    report.add(PairsTable.compute(counts))
    ranking = rank_methods(scored, n_boot=n_boot, seed=seed)
    report.add(ranking)
    if "a_side" in scored.columns and scored["a_side"].isin(["left", "right"]).any():
        report.add(PositionBiasTable.compute(scored))
    report.add(Sensitivity.compute(votes, kept, fast_ms=fast_ms, alpha=alpha))
    report.add(PowerTable.compute(counts, power_effects, target_power, alpha=alpha))
    if n_calibration:
        calibration = CalibrationTable.compute(counts, n_calibration, seed, alpha=alpha)
        if len(calibration.frame):
            report.add(calibration)
        if sequential is not None:
            seq = SequentialTable.compute(counts, sequential, n_calibration, seed)
            if len(seq.frame):
                report.add(seq)
    report.add(screen)
    report.add(ParticipantsTable(frame=participants))

    report.figures["voting_rate"] = figures.voting_rate_figure(sets)
    pairs = report.tables["pairs"].reset_index()
    report.figures["pair_box"] = figures.pair_box_figure(pairs)
    report.figures["pair_votes"] = figures.pair_votes_figure(pairs)
    report.figures["bradley_terry"] = figures.bradley_terry_figure(ranking.frame)
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
    "UNDEFINED_NOTE",
    "StudyReport",
    "expert_layout",
    "latex_table",
    "markdown_table",
    "study_report",
    "tex_escape",
]
