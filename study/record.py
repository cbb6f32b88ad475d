"""The one-row table of a result record.

`OneRow` gives a frozen result dataclass (`SetSummary`, `CrossedResult`, `Calibration`,
...) its `frame`: the record as a one-row DataFrame, indexed by `set_name` when the record
has that field, so the rows of several sets concatenate into a table.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd


class OneRow:
    """Mixin for a result dataclass: `frame` is the record as one row."""

    @property
    def frame(self) -> pd.DataFrame:
        """One row in the layout of the paper's tables (indexed by `set_name` if any)."""
        row = pd.DataFrame([asdict(self)])  # type: ignore[call-overload]
        return row.set_index("set_name") if "set_name" in row.columns else row
