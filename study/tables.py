"""Report tables as a paper prints them: human headers, fixed decimals, Markdown and LaTeX.

A `Table` pairs a machine frame (what the CSV keeps: full precision, code names) with a
layout: its `Column`s (header, LaTeX header, number format), a caption, a label and notes.
`markdown()` and `latex()` render the layout; numbers have one number of decimals per
column, negative numbers a real minus sign (U+2212 in Markdown, math minus in LaTeX),
p-values three decimals with "< 0.001", and missing values a dash (or the column's word
for them, e.g. "undefined"). LaTeX tables use booktabs rules, `\\caption` and `\\label`;
those with many rows become a `longtable` (small type), the others shrink to the line width
when wider (adjustbox's `max width`): the preamble needs
`\\usepackage{booktabs,longtable,adjustbox}` (texlive-latex-base, -recommended, -extra).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MINUS_MD = "\u2212"
LONG_ROWS = 30  # more rows than this: longtable
PREAMBLE = r"\usepackage{booktabs,longtable,adjustbox}"

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
    "\u2212": r"$-$",
    "\u03bc": r"$\mu$",
    "\u03ba": r"$\kappa$",
    "\u2264": r"$\le$",
    "\u00b1": r"$\pm$",
    "\u2014": "---",
    "\u2013": "--",
}


# Symbols a caption or note names in plain text and LaTeX should set as math.
_TEX_SYMBOLS = {r"M\_a": "$M_a$", r"M\_b": "$M_b$", "M $-$ 1": "$M-1$", "N/2": "$N/2$"}


def tex_escape(s: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(s))


def tex_text(s: str) -> str:
    """A caption or note for LaTeX: escaped, with M_a, M_b, M - 1 and N/2 as math."""
    out = tex_escape(s)
    for plain, math_ in _TEX_SYMBOLS.items():
        out = out.replace(plain, math_)
    return out


def _missing(v: object) -> bool:
    if v is None or v is pd.NA:
        return True
    return isinstance(v, float | np.floating) and math.isnan(v)


@dataclass(frozen=True)
class Cell:
    md: str
    tex: str


def _number(v: float, digits: int) -> Cell:
    if math.isinf(v):
        return Cell(("" if v > 0 else MINUS_MD) + "∞", r"$-\infty$" if v < 0 else r"$\infty$")
    text = f"{abs(v):.{digits}f}"
    negative = v < 0 and float(text) != 0.0  # -0.001 at 2 decimals prints 0.00, no sign
    return Cell((MINUS_MD if negative else "") + text, ("$-$" if negative else "") + text)


@dataclass(frozen=True)
class Column:
    """One displayed column: `key` in the frame, `header` (Markdown), `tex` (LaTeX header,
    default the escaped header), `kind` one of text, int, fixed, p, pct, frac, ci, bool, h0, pctci (an
    interval in percent), rank (an interval of
    ranks, lower in `key`, upper in `of`);
    `digits` for fixed/pct/ci; `of` the denominator column of a frac (k/M) and the upper
    column of a ci; `missing` the word for a missing value."""

    key: str
    header: str
    tex: str | None = None
    kind: str = "text"
    digits: int = 2
    of: str | None = None
    missing: str = "\u2014"

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "bool", "h0")

    def cell(self, row: pd.Series) -> Cell:
        v = row[self.key]
        if self.kind in ("ci", "pctci"):
            lo, hi = row[self.key], row[self.of]
            if _missing(lo) or _missing(hi):
                return Cell(self.missing, tex_escape(self.missing))
            k = 100.0 if self.kind == "pctci" else 1.0
            a, b = _number(k * float(lo), self.digits), _number(k * float(hi), self.digits)
            if self.kind == "pctci":
                return Cell(f"[{a.md}, {b.md}] %", rf"[{a.tex}, {b.tex}]\,\%")
            return Cell(f"[{a.md}, {b.md}]", f"[{a.tex}, {b.tex}]")
        if _missing(v):
            return Cell(self.missing, tex_escape(self.missing))
        if self.kind == "int":
            return _number(float(v), 0)
        if self.kind == "fixed":
            return _number(float(v), self.digits)
        if self.kind == "pct":
            c = _number(100.0 * float(v), self.digits)
            return Cell(c.md + " %", c.tex + r"\,\%")
        if self.kind == "p":
            p = float(v)
            if p < 0.001:
                return Cell("< 0.001", "$<$0.001")
            if p > 0.999:
                return Cell("> 0.999", "$>$0.999")
            return Cell(f"{p:.3f}", f"{p:.3f}")
        if self.kind == "frac":
            return Cell(f"{int(v)}/{int(row[self.of])}", f"{int(v)}/{int(row[self.of])}")
        if self.kind == "bool":
            return Cell("yes" if bool(v) else "no", "yes" if bool(v) else "no")
        if self.kind == "h0":
            return Cell(f"μ ≤ {float(v):g}", rf"$\mu \le {float(v):g}$")
        if self.kind == "rank":
            lo, hi = int(v), int(row[self.of])
            text = f"{lo}" if lo == hi else f"{lo}–{hi}"
            return Cell(text, text.replace("–", "--"))
        return Cell(str(v), tex_escape(str(v)))


@dataclass
class Table:
    """A machine frame and the layout it is printed in."""

    name: str
    frame: pd.DataFrame
    columns: list[Column]
    caption: str
    tex_caption: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"tab:{self.name.replace('_', '-')}"

    def cells(self) -> list[list[Cell]]:
        flat = self.frame.reset_index()
        return [[c.cell(row) for c in self.columns] for _, row in flat.iterrows()]

    def markdown(self) -> str:
        def line(cells: list[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        align = "|" + "".join("---:|" if c.numeric else "---|" for c in self.columns)
        rows = [line([cell.md for cell in r]) for r in self.cells()]
        out = [line([c.header for c in self.columns]), align, *rows]
        if self.notes:
            out += [""] + [f"Note: {n}" for n in self.notes]
        return "\n".join(out)

    def latex(self) -> str:
        spec = "".join("r" if c.numeric else "l" for c in self.columns)
        header = " & ".join(c.tex or tex_escape(c.header) for c in self.columns) + r" \\"
        body = [" & ".join(cell.tex for cell in r) + r" \\" for r in self.cells()]
        caption = self.tex_caption or tex_text(self.caption)
        notes = [tex_text(n) for n in self.notes]
        lines = [f"% {self.name}: needs {PREAMBLE}"]
        if len(body) > LONG_ROWS:
            width = len(self.columns)
            lines += [
                r"{\footnotesize",
                rf"\begin{{longtable}}{{{spec}}}",
                rf"\caption{{{caption}}}\label{{{self.label}}} \\",
                r"\toprule",
                header,
                r"\midrule",
                r"\endfirsthead",
                rf"\multicolumn{{{width}}}{{l}}{{\emph{{(continued)}}}} \\",
                r"\toprule",
                header,
                r"\midrule",
                r"\endhead",
                r"\bottomrule",
                r"\endfoot",
                *body,
            ]
            lines += [
                rf"\multicolumn{{{width}}}{{p{{0.9\linewidth}}}}{{Note: {n}}} \\" for n in notes
            ]
            lines += [r"\end{longtable}", "}"]
            return "\n".join(lines) + "\n"
        tabular = [
            rf"\begin{{tabular}}{{{spec}}}",
            r"\toprule",
            header,
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
        ]
        # Shrunk to the line width only when wider (adjustbox's max width).
        tabular = [r"\begin{adjustbox}{max width=\linewidth}", *tabular, r"\end{adjustbox}"]
        lines += [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{caption}}}",
            rf"\label{{{self.label}}}",
            *tabular,
        ]
        lines += [rf"\par\smallskip{{\footnotesize Note: {n}\par}}" for n in notes]
        lines.append(r"\end{table}")
        return "\n".join(lines) + "\n"


def generic(name: str, frame: pd.DataFrame, caption: str = "", digits: int = 4) -> Table:
    """A layout for a frame without one: the index and every column, numbers to `digits`."""
    flat = frame.reset_index() if any(n is not None for n in frame.index.names) else frame

    def kind(s: pd.Series) -> str:
        if pd.api.types.is_bool_dtype(s):
            return "bool"
        if pd.api.types.is_integer_dtype(s):
            return "int"
        return "fixed" if pd.api.types.is_float_dtype(s) else "text"

    columns = [Column(str(c), str(c), kind=kind(flat[c]), digits=digits) for c in flat.columns]
    return Table(name, flat.set_index(flat.columns[0]), columns, caption or name)
