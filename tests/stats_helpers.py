"""Simulated votes frames (the columns of `study.export.votes_frame`) for the stats tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from study.expert import MAX_PER_VIDEO

PAPER_SETS = [
    ("FOMM", "FOMM+EWP"),
    ("FOMM+EWP", "FOMM+AWP"),
    ("MRAA", "MRAA+AWP"),
    ("MRAA+AWP", "FOMM+AWP"),
]


def simulate_votes(
    strengths: dict[str, float],
    sets: list[tuple[str, str]],
    *,
    n_participants: int = 20,
    n_pairs: int = 18,
    left_bias: float = 0.0,
    catch_per_participant: int = 0,
    failing: tuple[int, ...] = (),
    seed: int = 0,
) -> pd.DataFrame:
    """Bradley-Terry voters: P(choose A) = sigmoid(s_A - s_B + left_bias * (+1 if A left
    else -1)). A's side is balanced over participants. Participants listed in `failing`
    (by number) fail every catch trial and vote at random on the real pairs."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, (a, b) in enumerate(sets):
        set_name = f"set{k + 1}"
        for i in range(n_pairs):
            pair_id = f"{set_name}-p{i:02d}"
            sample = f"drv{i % 9}-tmpl{i // 9}"
            for j in range(n_participants):
                a_left = (i + j) % 2 == 0
                logit = strengths[a] - strengths[b] + (left_bias if a_left else -left_bias)
                p_a = 1.0 / (1.0 + np.exp(-logit))
                if j in failing:
                    p_a = 0.5
                choice = "A" if rng.random() < p_a else "B"
                rows.append(
                    dict(
                        study="sim",
                        set_name=set_name,
                        method_a=a,
                        method_b=b,
                        pair_id=pair_id,
                        sample=sample,
                        participant=f"P{j:03d}",
                        choice=choice,
                        a_side="left" if a_left else "right",
                        response_ms=1000 + int(rng.integers(0, 3000)),
                        is_catch=False,
                        catch_passed=pd.NA,
                        created_at=pd.Timestamp("2026-01-01"),
                    )
                )
    for j in range(n_participants):
        for c in range(catch_per_participant):
            rows.append(
                dict(
                    study="sim",
                    set_name="set1",
                    method_a=sets[0][0],
                    method_b=sets[0][1],
                    pair_id=f"catch-{c}",
                    sample=f"catch-{c}",
                    participant=f"P{j:03d}",
                    choice="A",
                    a_side="left",
                    response_ms=1500,
                    is_catch=True,
                    catch_passed=j not in failing,
                    created_at=pd.Timestamp("2026-01-01"),
                )
            )
    return pd.DataFrame(rows)


# docs/design.md: method -> (expert 1, expert 2, expert 3) totals, overall, normalized overall.
PUBLISHED = {
    "ID:3311": ((85, 51, 37), 173, 1.57062),
    "FAMGAN": ((104, 66, 66), 236, 2.228101),
    "FOMM": ((140, 107, 56), 303, 2.736842),
    "FOMM with EWP": ((139, 101, 76), 316, 2.936782),
}
EXPERTS = ("expert 1", "expert 2", "expert 3")
N_VIDEOS = 18


def spread(total: int, n_videos: int = N_VIDEOS) -> list[tuple[int, int, int]]:
    """Per-video (upper, lower, noise) scores, each 0-3, that sum to `total`."""
    assert total <= n_videos * MAX_PER_VIDEO
    slots = [3] * (total // 3) + ([total % 3] if total % 3 else [])
    slots += [0] * (n_videos * 3 - len(slots))
    return [tuple(slots[3 * v : 3 * v + 3]) for v in range(n_videos)]


def published_ratings() -> pd.DataFrame:
    rows = []
    for method, (totals, _, _) in PUBLISHED.items():
        for expert, total in zip(EXPERTS, totals):
            for v, (up, low, noise) in enumerate(spread(total)):
                rows.append(
                    dict(
                        expert=expert,
                        method=method,
                        video=f"v{v:02d}.mp4",
                        sample=f"s{v}",
                        upper=up,
                        lower=low,
                        noise=noise,
                    )
                )
    return pd.DataFrame(rows)
