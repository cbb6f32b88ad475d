"""Many volunteers at once against one running app, over Streamlit's websocket protocol.

`run_load` starts `n` volunteers together in one asyncio loop; each opens the study link,
consents, and casts `votes` votes (a seeded side per vote, a short seeded think time), and
every `double_every`-th volunteer double-clicks one vote and reloads the page right away.
It returns the volunteers (their acknowledged clicks) and the click-to-next-pair latencies.
Used by tests/e2e/test_load.py and scripts/load_test.py.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import numpy as np
from st_client import AppGone, Volunteer, run_async


@dataclass
class LoadResult:
    volunteers: list[Volunteer]
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def latencies(self) -> np.ndarray:
        """Seconds from a single click to the next pair on screen (double clicks left out)."""
        return np.array(
            [a.latency_s for v in self.volunteers for a in v.acks if a.latency_s >= 0], float
        )

    def summary(self) -> dict:
        lat = self.latencies
        q = (lambda p: float(np.percentile(lat, p))) if len(lat) else (lambda p: float("nan"))
        return dict(
            volunteers=len(self.volunteers),
            acknowledged_votes=sum(len(v.acks) for v in self.volunteers),
            errors=len(self.errors),
            wall_s=round(self.wall_s, 2),
            latency_p50_s=round(q(50), 4),
            latency_p95_s=round(q(95), 4),
            latency_max_s=round(float(lat.max()), 4) if len(lat) else float("nan"),
            votes_per_s=round(len(lat) / self.wall_s, 2) if self.wall_s else float("nan"),
        )


async def one_volunteer(
    v: Volunteer, votes: int, rng: random.Random, double: bool, think_s: float
) -> None:
    screen = await v.open()
    screen = await v.consent(screen)
    for k in range(votes):
        if screen.pair is None:
            raise AssertionError(f"{v.name}: no pair to vote on: {screen.text[-300:]}")
        await asyncio.sleep(rng.uniform(0, think_s))
        side = rng.choice(["left", "right"])
        if double and k == 1:
            screen = await v.double_vote(screen, side)
        else:
            screen = await v.vote(screen, side)
    await v.close()


async def _run(
    base_url: str, n: int, votes: int, seed: int, double_every: int, think_s: float, timeout: float
) -> LoadResult:
    vols = [Volunteer(base_url, name=f"volunteer-{i:03d}") for i in range(n)]
    rngs = [random.Random(seed * 100_003 + i) for i in range(n)]
    t0 = time.perf_counter()
    tasks = [
        asyncio.ensure_future(
            one_volunteer(v, votes, r, bool(double_every) and i % double_every == 0, think_s)
        )
        for i, (v, r) in enumerate(zip(vols, rngs))
    ]
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for t in pending:
        t.cancel()
    errors = [f"timed out after {timeout} s"] * len(pending)
    for t in done:
        if t.exception() is not None:
            errors.append(repr(t.exception()))
    wall = time.perf_counter() - t0
    for v in vols:
        await v.close()
    return LoadResult(vols, errors, wall)


def run_load(
    base_url: str,
    n: int = 100,
    votes: int = 3,
    seed: int = 0,
    double_every: int = 10,
    think_s: float = 0.2,
    timeout: float = 240.0,
) -> LoadResult:
    """Run `n` volunteers at once (see the module docstring); bounded by `timeout` seconds."""
    return run_async(_run(base_url, n, votes, seed, double_every, think_s, timeout))


__all__ = ["AppGone", "LoadResult", "run_load"]
