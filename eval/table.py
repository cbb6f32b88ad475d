"""Result tables written three ways: CSV, Markdown and LaTeX (no extra dependency)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fme.core.outputs import write_csv_atomic, write_text_atomic

if TYPE_CHECKING:
    import pandas as pd


def _cell(value: object, digits: int) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


def markdown(frame: pd.DataFrame, digits: int = 3, notes: Sequence[str] = ()) -> str:
    """A GitHub Markdown table of `frame` (index not shown; floats to `digits`), then one
    line per note."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, digits) for v in row) + " |")
    if notes:
        lines.append("")
        lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
    for a, b in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
    ):
        text = text.replace(a, b)
    return text


def latex(
    frame: pd.DataFrame, digits: int = 3, caption: str = "", notes: Sequence[str] = ()
) -> str:
    """A booktabs `table` environment of `frame` (notes below the rule, one per line)."""
    cols = [str(c) for c in frame.columns]
    align = "l" + "r" * (len(cols) - 1)
    out = [r"\begin{table}[t]", r"\centering"]
    if caption:
        out.append(r"\caption{" + _tex_escape(caption) + "}")
    out += [r"\begin{tabular}{" + align + "}", r"\toprule"]
    out.append(" & ".join(_tex_escape(c) for c in cols) + r" \\")
    out.append(r"\midrule")
    for row in frame.itertuples(index=False):
        out.append(" & ".join(_tex_escape(_cell(v, digits)) for v in row) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    for n in notes:
        out.append(r"\par\footnotesize " + _tex_escape(n))
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def write_tables(
    frame: pd.DataFrame,
    stem: str | Path,
    caption: str = "",
    digits: int = 3,
    notes: Sequence[str] = (),
):
    """Write `stem.csv`, `stem.md` and `stem.tex` (the notes under the Markdown and LaTeX
    tables; each file whole or not at all); returns the three paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = (stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".tex"))
    write_csv_atomic(frame, paths[0], index=False)
    write_text_atomic(paths[1], markdown(frame, digits, notes))
    write_text_atomic(paths[2], latex(frame, digits, caption, notes))
    return paths
