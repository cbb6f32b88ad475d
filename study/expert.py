"""MEGC expert scoring of generated micro-expression videos (collected by the study app).

The MEGC2021 generation task had FACS experts score each generated video on three items,
0-3 each (the paper's rubric, at most 9 per video):

- upper: how well the upper-face action units of the driving clip are reproduced,
- lower: the same for the lower face,
- noise: how clean the video is (3: no visible artefacts, 0: badly corrupted), so that a
  higher total is better on every item.

A method's score from one expert is the sum over its videos and items. Experts score on
different scales, so each expert's totals are divided by that expert's best total (the best
method gets 1); a method's `normalized_overall` is the sum of these over experts, and
`overall` the plain sum of totals. This reproduces the published MEGC2021 table (see
docs/design.md and tests/study/test_expert.py).

The functions take a pandas frame with columns expert, method, video, upper, lower, noise
(`study.export.ratings_frame` adds sample, which is ignored here) and need no database.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fme.core.errors import DataError
from fme.core.inputs import read_csv

SCORE_ITEMS = ("upper", "lower", "noise")
MAX_ITEM = 3
MAX_PER_VIDEO = MAX_ITEM * len(SCORE_ITEMS)
RATING_COLUMNS = ("expert", "method", "video", *SCORE_ITEMS)


def check_ratings(ratings: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """A checked copy: all columns present, scores whole numbers 0-3, one rating per expert
    and video. Raises DataError naming the offending rows (and `source`, a file)."""
    missing = [c for c in RATING_COLUMNS if c not in ratings.columns]
    if missing:
        raise DataError(
            f"the ratings table lacks the columns {', '.join(missing)}",
            path=source,
            hint=f"It needs {', '.join(RATING_COLUMNS)}.",
        )
    df = ratings.copy()
    for col in ("expert", "method", "video"):
        df[col] = df[col].astype(str)
    for item in SCORE_ITEMS:
        values = pd.to_numeric(df[item], errors="coerce")
        bad = values.isna() | (values < 0) | (values > MAX_ITEM) | (values % 1 != 0)
        if bad.any():
            rows = df.loc[bad, ["expert", "method", "video"]].head(3).to_dict("records")
            raise DataError(
                f"{item} scores must be whole numbers 0-{MAX_ITEM}; "
                f"{int(bad.sum())} are not, e.g. {rows} with {df.loc[bad, item].head(3).tolist()}",
                path=source,
            )
        df[item] = values.astype(int)
    dup = df.duplicated(["expert", "method", "video"], keep=False)
    if dup.any():
        rows = df.loc[dup, ["expert", "method", "video"]].drop_duplicates().head(3)
        raise DataError(
            f"an expert rated the same video twice: {rows.to_dict('records')}",
            path=source,
            hint="Keep one rating per expert, method and video.",
        )
    df["total"] = df[list(SCORE_ITEMS)].sum(axis=1)
    return df


def expert_totals(
    ratings: pd.DataFrame, *, require_complete: bool = True, source: str | None = None
) -> pd.DataFrame:
    """Method x expert table of summed scores (methods in order of first appearance).

    With `require_complete` an expert must have rated the same number of videos of every
    method they rated, so that the totals compare like with like.
    """
    df = check_ratings(ratings, source)
    if df.empty:
        raise DataError(
            "no expert ratings",
            path=source,
            hint="Add experts (`fme study add-expert STUDY NAME`) and let them rate the videos, "
            "or give --ratings CSV.",
        )
    if require_complete:
        counts = df.groupby(["expert", "method"]).size().unstack("method")
        for expert, row in counts.iterrows():
            seen = row.dropna()
            if len(seen) < counts.shape[1] or seen.nunique() > 1:
                raise DataError(
                    f"expert {expert} rated unequal numbers of videos per method "
                    f"({row.fillna(0).astype(int).to_dict()})",
                    path=source,
                    hint="Finish the ratings, or pass --allow-incomplete (require_complete=False in Python).",
                )
    methods = list(dict.fromkeys(df["method"]))
    experts = list(dict.fromkeys(df["expert"]))
    totals = df.pivot_table(
        index="method", columns="expert", values="total", aggfunc="sum", fill_value=0
    )
    return totals.reindex(index=methods, columns=experts).astype(int)


def table_from_totals(totals: pd.DataFrame) -> pd.DataFrame:
    """The MEGC table from a method x expert table of totals: each expert's totals,
    `overall` (their sum) and `normalized_overall` (sum over experts of total / best)."""
    totals = totals.astype(float)
    best = totals.max(axis=0)
    if (best <= 0).any():
        zero = list(best.index[best <= 0])
        raise DataError(f"expert(s) {zero} gave every method a total of 0; nothing to normalise")
    out = totals.copy()
    out["overall"] = totals.sum(axis=1)
    out["normalized_overall"] = (totals / best).sum(axis=1)
    out.index.name = "method"
    out.columns.name = None
    ints = [c for c in out.columns if c != "normalized_overall"]
    if all(float(v).is_integer() for v in out[ints].to_numpy().ravel()):
        out[ints] = out[ints].astype(int)
    return out


def expert_table(
    ratings: pd.DataFrame,
    *,
    require_complete: bool = True,
    decimals: int | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Frame indexed by method: each expert's total, `overall`, `normalized_overall`."""
    table = table_from_totals(
        expert_totals(ratings, require_complete=require_complete, source=source)
    )
    if decimals is not None:
        table["normalized_overall"] = table["normalized_overall"].round(decimals)
    return table


def read_ratings(path: str) -> pd.DataFrame:
    """Ratings from a CSV (the admin page's export); DataError names the file."""
    if not Path(path).is_file() and not Path(path).is_dir():
        raise DataError("file not found", path=path)
    return read_csv(path, "ratings CSV")
