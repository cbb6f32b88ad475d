"""Plotly figures of a pairwise study (the paper's Figs. 7-9) and of the extra analyses.

Each function takes a table from `study.report` (a pandas frame) and returns a
`plotly.graph_objects.Figure`; none reads files or the database.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

COLOR_A = "#1f77b4"
COLOR_B = "#ff7f0e"


def _set_label(row: pd.Series) -> str:
    return f"{row['method_a']} vs {row['method_b']}"


def _half_line(fig: go.Figure, **kwargs: object) -> None:
    fig.add_hline(
        y=0.5,
        line_dash="dash",
        line_color="gray",
        annotation_text="50%",
        annotation_position="top left",
        **kwargs,
    )


def voting_rate_figure(sets: pd.DataFrame) -> go.Figure:
    """Fig. 7: A's and B's voting rates per comparison set, with the 50% line.

    `sets` has columns method_a, method_b, voting_rate, voting_rate_b, z, significant
    (the per-set summary table)."""
    labels = [_set_label(r) for _, r in sets.iterrows()]
    fig = go.Figure()
    fig.add_bar(
        name="method A",
        x=labels,
        y=sets["voting_rate"],
        text=[f"{r['method_a']}<br>{r['voting_rate']:.1%}" for _, r in sets.iterrows()],
        marker_color=COLOR_A,
    )
    fig.add_bar(
        name="method B",
        x=labels,
        y=sets["voting_rate_b"],
        text=[f"{r['method_b']}<br>{r['voting_rate_b']:.1%}" for _, r in sets.iterrows()],
        marker_color=COLOR_B,
    )
    _half_line(fig)
    fig.update_layout(
        barmode="group",
        title="Voting rate per comparison set",
        yaxis=dict(title="voting rate", range=[0, 1], tickformat=".0%"),
        xaxis_title="comparison set (A vs B)",
    )
    return fig


def pair_box_figure(pairs: pd.DataFrame) -> go.Figure:
    """Fig. 8: box plots of the per-pair voting rate of method A in each set."""
    fig = go.Figure()
    for (a, b), g in pairs.groupby(["method_a", "method_b"], sort=False):
        fig.add_box(
            y=g["voting_rate_a"],
            name=f"{a} vs {b}",
            boxpoints="all",
            jitter=0.4,
            pointpos=0,
            text=g["sample"],
        )
    _half_line(fig)
    fig.update_layout(
        title="Per-pair voting rate of method A",
        yaxis=dict(title="voting rate of A", range=[0, 1], tickformat=".0%"),
        showlegend=False,
    )
    return fig


def pair_votes_figure(pairs: pd.DataFrame) -> go.Figure:
    """Fig. 9: per pair, the share of votes for A and for B, one panel per set."""
    groups = list(pairs.groupby(["method_a", "method_b"], sort=False))
    fig = make_subplots(
        rows=max(1, len(groups)),
        cols=1,
        subplot_titles=[f"{a} vs {b}" for (a, b), _ in groups],
        vertical_spacing=0.12 if len(groups) < 5 else 0.06,
    )
    for row, ((a, b), g) in enumerate(groups, start=1):
        x = g["sample"].astype(str)
        fig.add_bar(
            x=x,
            y=g["votes_a"] / g["n"],
            name="A",
            marker_color=COLOR_A,
            hovertext=[f"{a}: {v} votes" for v in g["votes_a"]],
            showlegend=row == 1,
            row=row,
            col=1,
        )
        fig.add_bar(
            x=x,
            y=g["votes_b"] / g["n"],
            name="B",
            marker_color=COLOR_B,
            hovertext=[f"{b}: {v} votes" for v in g["votes_b"]],
            showlegend=row == 1,
            row=row,
            col=1,
        )
        _half_line(fig, row=row, col=1)
        fig.update_yaxes(range=[0, 1], tickformat=".0%", row=row, col=1)
    fig.update_layout(
        barmode="stack",
        title="Votes per pair (A bottom, B top)",
        height=max(400, 300 * len(groups)),
    )
    return fig


def bradley_terry_figure(bt: pd.DataFrame) -> go.Figure:
    """Bradley-Terry log-strengths of all methods, best first, with bootstrap intervals
    when the table has ci_low/ci_high."""
    error = None
    if {"ci_low", "ci_high"} <= set(bt.columns):
        error = dict(
            type="data",
            symmetric=False,
            # An open interval (a method that never loses) has no finite bar on that side.
            array=(bt["ci_high"] - bt["score"]).replace([np.inf, -np.inf], np.nan),
            arrayminus=(bt["score"] - bt["ci_low"]).replace([np.inf, -np.inf], np.nan),
        )
    fig = go.Figure(go.Bar(x=list(bt.index), y=bt["score"], error_y=error, marker_color=COLOR_A))
    fig.update_layout(
        title="Bradley-Terry ranking of the methods",
        xaxis_title="method",
        yaxis_title="log-strength (mean 0)",
    )
    return fig


def position_bias_figure(bias: pd.DataFrame) -> go.Figure:
    """How often the left video was chosen, per set and overall, with 95% intervals."""
    fig = go.Figure(
        go.Bar(
            x=list(bias.index),
            y=bias["left_rate"],
            error_y=dict(
                type="data",
                symmetric=False,
                array=bias["ci_high"] - bias["left_rate"],
                arrayminus=bias["left_rate"] - bias["ci_low"],
            ),
            marker_color="#7f7f7f",
        )
    )
    _half_line(fig)
    fig.update_layout(
        title="Share of votes for the left video",
        yaxis=dict(title="left chosen", range=[0, 1], tickformat=".0%"),
    )
    return fig


def expert_figure(table: pd.DataFrame) -> go.Figure:
    """MEGC normalized overall expert score per method."""
    fig = go.Figure(
        go.Bar(x=list(table.index), y=table["normalized_overall"], marker_color=COLOR_A)
    )
    fig.update_layout(
        title="Expert scores (normalized overall)",
        xaxis_title="method",
        yaxis_title="sum over experts of total / best total",
    )
    return fig
