"""study.expert: the published MEGC2021 expert table (docs/design.md) from per-video ratings."""

from __future__ import annotations

import pandas as pd
import pytest
from stats_helpers import EXPERTS, PUBLISHED, published_ratings

from fme.core.errors import DataError
from study.expert import expert_table, expert_totals, table_from_totals


def test_published_table_exactly():
    table = expert_table(published_ratings())
    assert list(table.index) == list(PUBLISHED)
    assert list(table.columns) == [*EXPERTS, "overall", "normalized_overall"]
    for method, (totals, overall, normalized) in PUBLISHED.items():
        assert tuple(table.loc[method, list(EXPERTS)]) == totals
        assert table.loc[method, "overall"] == overall
        assert round(table.loc[method, "normalized_overall"], 6) == normalized
    # The hand sum for ID:3311: 85/140 + 51/107 + 37/76.
    assert table.loc["ID:3311", "normalized_overall"] == pytest.approx(
        85 / 140 + 51 / 107 + 37 / 76, rel=1e-15
    )


def test_table_from_totals_and_scale_invariance():
    totals = pd.DataFrame(
        {e: [PUBLISHED[m][0][i] for m in PUBLISHED] for i, e in enumerate(EXPERTS)},
        index=list(PUBLISHED),
    )
    table = table_from_totals(totals)
    assert table["normalized_overall"].round(6).tolist() == [p[2] for p in PUBLISHED.values()]
    # An expert who scores everything twice as high changes nothing after normalisation.
    doubled = totals.assign(**{"expert 2": totals["expert 2"] * 2})
    assert table_from_totals(doubled)["normalized_overall"].tolist() == pytest.approx(
        table["normalized_overall"].tolist()
    )
    # The best method of each expert contributes exactly 1.
    assert (totals / totals.max()).max().tolist() == [1.0, 1.0, 1.0]


def test_totals_sum_all_three_items():
    ratings = pd.DataFrame(
        [
            dict(expert="e", method="m1", video="a", upper=3, lower=2, noise=1),
            dict(expert="e", method="m1", video="b", upper=0, lower=1, noise=3),
            dict(expert="e", method="m2", video="a", upper=1, lower=1, noise=1),
            dict(expert="e", method="m2", video="b", upper=2, lower=2, noise=2),
        ]
    )
    totals = expert_totals(ratings)
    assert totals.loc["m1", "e"] == 10 and totals.loc["m2", "e"] == 9
    assert expert_table(ratings).loc["m2", "normalized_overall"] == pytest.approx(0.9)


def test_bad_ratings_raise():
    good = published_ratings()
    bad = good.copy()
    bad.loc[5, "upper"] = 4
    with pytest.raises(DataError, match="0-3"):
        expert_table(bad)
    with pytest.raises(DataError, match="noise"):
        expert_table(good.drop(columns=["noise"]))
    with pytest.raises(DataError, match="twice"):
        expert_table(pd.concat([good, good.iloc[[0]]]))
    incomplete = good.drop(index=good.index[(good["expert"] == "expert 2")][:1])
    with pytest.raises(DataError, match="unequal"):
        expert_table(incomplete)
    assert len(expert_table(incomplete, require_complete=False)) == 4
