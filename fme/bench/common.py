"""What the benchmarks share: their Markdown tables."""

from __future__ import annotations

import numpy as np


def markdown(table, digits: int = 4) -> str:
    """A pandas frame as a Markdown table (no `tabulate` needed)."""

    def cell(v) -> str:
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    cols = [str(c) for c in table.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)
