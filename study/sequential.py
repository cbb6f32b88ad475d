"""Group-sequential stopping: alpha-spending boundaries and their level by simulation.

Looking at a running study's p-value after every few participants and stopping at the first
significant one inflates the false-positive rate (8 looks at alpha 0.05 reject about 15 % of
null studies with the crossed test). A study either fixes its N in advance (the admin page
shows no p-value before it is reached) or states a sequential plan: looks at fractions t_k of
the target N (information fractions) and a spending function alpha(t) that says how much of
the overall alpha may be used by time t (Lan and DeMets 1983):

- O'Brien-Fleming type: alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)) (spends almost nothing
  early: the first looks need a very large Z); a two-sided test spends alpha/2 on each side
  with the function taken at alpha/2;
- Pocock type: alpha(t) = alpha log(1 + (e - 1) t) (spends evenly).

Boundary c_k solves P(no crossing at looks 1..k-1, |Z_k| >= c_k) = alpha(t_k) - alpha(t_{k-1})
under H0, Z_k being the statistic at information t_k, a Brownian motion B(t)/sqrt(t). The
probabilities come from recursive numerical integration of the density of B(t_k) on the
continuation region (Armitage, McPherson and Rowe 1969; Jennison and Turnbull 2000,
ch. 19), on a grid fine enough for four decimals of c_k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sstats

from fme.core.errors import ConfigError, DataError
from study.calibration import simulate_votes
from study.crossed import crossed_fit, crossed_test
from study.record import OneRow

SPENDING = ("obrien-fleming", "pocock")


def spent(t: np.ndarray | float, alpha: float, rule: str) -> np.ndarray:
    """Cumulative alpha spent by information fraction t (0 < t <= 1)."""
    t = np.asarray(t, dtype=float)
    if rule == "obrien-fleming":
        return 2.0 - 2.0 * sstats.norm.cdf(sstats.norm.isf(alpha / 2) / np.sqrt(t))
    if rule == "pocock":
        return alpha * np.log1p((math.e - 1.0) * t)
    raise ConfigError(f"unknown spending rule {rule!r}; use one of {', '.join(SPENDING)}")


def check_looks(looks) -> np.ndarray:
    """Information fractions: increasing, in (0, 1], ending at 1."""
    t = np.asarray([float(x) for x in looks], dtype=float)
    if t.size == 0 or np.any(t <= 0) or np.any(t > 1) or np.any(np.diff(t) <= 0):
        raise ConfigError(
            f"looks must be increasing fractions in (0, 1], got {list(looks)}",
            hint="Give the looks as fractions of the target N, e.g. 0.5,0.75,1.",
        )
    if abs(t[-1] - 1.0) > 1e-12:
        t = np.append(t, 1.0)
    return t


def boundaries(
    looks,
    alpha: float = 0.05,
    rule: str = "obrien-fleming",
    *,
    two_sided: bool = True,
    grid: int = 801,
) -> np.ndarray:
    """Critical |Z| (two-sided) or Z (one-sided) at each look of a Lan-DeMets plan."""
    t = check_looks(looks)
    # Two-sided: alpha/2 spent on each side by the rule taken at alpha/2 (the convention of
    # Lan and DeMets' programs, ldbounds and gsDesign); one-sided: alpha on the upper side.
    cum = 2.0 * spent(t, alpha / 2.0, rule) if two_sided else spent(t, alpha, rule)
    inc = np.diff(np.concatenate([[0.0], cum]))
    c = np.empty(t.size)
    # Density of S = B(t) on the continuation region, carried on a grid.
    s_grid = np.array([0.0])
    dens = np.array([1.0])  # a point mass at 0 at time 0 (weights, not a density)
    prev_t = 0.0
    for k, tk in enumerate(t):
        sd = math.sqrt(tk - prev_t)

        def exit_prob(ck: float, sd=sd, tk=tk, s_grid=s_grid, dens=dens) -> float:
            b = ck * math.sqrt(tk)
            up = sstats.norm.sf((b - s_grid) / sd)
            down = sstats.norm.cdf((-b - s_grid) / sd) if two_sided else 0.0
            return float(np.sum(dens * (up + down)))

        target = inc[k]
        if target <= 0:
            c[k] = math.inf
        else:
            c[k] = optimize.brentq(
                lambda x, target=target: exit_prob(x) - target, 0.0, 40.0, xtol=1e-10
            )
        b = c[k] * math.sqrt(tk) if math.isfinite(c[k]) else 10 * math.sqrt(tk)
        low = -b if two_sided else -10.0 * math.sqrt(tk)
        new = np.linspace(low, b, grid)
        h = new[1] - new[0]
        kernel = sstats.norm.pdf((new[:, None] - s_grid[None, :]) / sd) / sd
        density = kernel @ dens  # density of S_k on the continuation region
        w = np.full(grid, h)  # trapezoid weights turn the density into grid weights
        w[0] = w[-1] = h / 2
        dens = density * w
        s_grid = new
        prev_t = tk
    return c


@dataclass(frozen=True)
class SequentialPlan:
    """Interim looks at fractions of the target N with an alpha-spending rule."""

    looks: tuple[float, ...]
    rule: str = "obrien-fleming"
    alpha: float = 0.05

    def __post_init__(self) -> None:
        object.__setattr__(self, "looks", tuple(float(x) for x in check_looks(self.looks)))
        spent(1.0, self.alpha, self.rule)  # checks the rule's name

    @classmethod
    def parse(cls, looks: str, rule: str, alpha: float = 0.05) -> SequentialPlan:
        try:
            values = [float(x) for x in str(looks).split(",") if x.strip()]
        except ValueError:
            raise ConfigError(
                f"looks must be comma-separated fractions, got {looks!r}",
                hint="For example 0.5,0.75,1.",
            ) from None
        return cls(tuple(values), rule, alpha)

    def boundaries(self) -> np.ndarray:
        return boundaries(self.looks, self.alpha, self.rule)

    def spent(self) -> np.ndarray:
        return spent(np.asarray(self.looks), self.alpha, self.rule)

    def look_at(self, n_finished: int, target: int) -> int | None:
        """The index of the last look reached with `n_finished` of `target` participants."""
        reached = [k for k, t in enumerate(self.looks) if n_finished >= math.ceil(t * target)]
        return reached[-1] if reached else None

    def describe(self) -> str:
        looks = ", ".join(f"{t:g}" for t in self.looks)
        return f"{len(self.looks)} looks at {looks} of the target N, {self.rule} spending, alpha {self.alpha:g}"


@dataclass(frozen=True)
class SequentialCalibration(OneRow):
    """False-positive rate over the looks of `n_sim` simulated null studies: stopping at the
    first look with p < alpha (`naive`) and with the plan's boundaries (`planned`), with
    the fixed-N rate at the last look (`fixed`) and the Monte Carlo SE of each."""

    n_participants: int
    n_pairs: int
    looks: str
    rule: str
    alpha: float
    n_sim: int
    naive: float
    planned: float
    fixed: float

    def se(self, rate: float) -> float:
        return float(math.sqrt(rate * (1 - rate) / self.n_sim))


def simulate_sequential(
    plan: SequentialPlan,
    n_participants: int = 31,
    n_pairs: int = 18,
    *,
    participant_sd: float = 0.3,
    sample_sd: float = 0.2,
    n_sim: int = 1000,
    seed: int = 0,
) -> SequentialCalibration:
    """Null studies whose participants arrive one after another; at each look the crossed
    test runs on those who have voted so far."""

    y, participant, sample, side = simulate_votes(
        n_sim,
        n_participants,
        n_pairs,
        participant_sd=participant_sd,
        sample_sd=sample_sd,
        seed=seed,
    )
    c = plan.boundaries()
    naive = np.zeros(n_sim, dtype=bool)
    planned = np.zeros(n_sim, dtype=bool)
    fixed = np.zeros(n_sim, dtype=bool)
    for k, t in enumerate(plan.looks):
        n_k = max(2, math.ceil(t * n_participants))
        keep = participant < n_k
        fit = crossed_fit(y[:, keep], participant[keep], sample[keep], side[keep])
        p = np.nan_to_num(fit.p_two_sided(), nan=1.0)
        z = sstats.norm.isf(p / 2)
        naive |= p < plan.alpha
        planned |= z >= c[k]
        if k == len(plan.looks) - 1:
            fixed = p < plan.alpha
    return SequentialCalibration(
        n_participants=n_participants,
        n_pairs=n_pairs,
        looks=",".join(f"{t:g}" for t in plan.looks),
        rule=plan.rule,
        alpha=plan.alpha,
        n_sim=n_sim,
        naive=float(naive.mean()),
        planned=float(planned.mean()),
        fixed=float(fixed.mean()),
    )


# ---------------------------------------------------------------------------------------------
# What a running study may show


@dataclass(frozen=True)
class ResultsGate:
    """Whether the admin page may show p-values and significance now (`show_tests`), the
    look of a sequential plan reached (`look`, 0-based; None before the first), and why."""

    show_tests: bool
    look: int | None
    reason: str
    plan: SequentialPlan | None = None


def results_gate(
    n_finished: int,
    *,
    planned_n: int | None,
    looks: str | None = None,
    spending: str | None = None,
    alpha: float | None = None,
    closed: bool = False,
) -> ResultsGate:
    """The stopping rule applied to a running study: with a planned N and no sequential
    plan, tests are hidden until N participants have finished; with a plan, each look
    reached shows its decision (`interim_decisions`) and the full tests come at the last
    look; with no planned N, tests are shown once the study is closed. A study closed
    before its planned N shows them with a warning."""
    plan = None
    if looks:
        plan = SequentialPlan.parse(looks, spending or "obrien-fleming", alpha or 0.05)
    if planned_n is None:
        if closed:
            return ResultsGate(True, None, "the study is closed (no planned N was fixed)")
        return ResultsGate(
            False, None, "no planned N was fixed: tests are shown once the study is closed"
        )
    if plan is not None:
        look = plan.look_at(n_finished, planned_n)
        last = len(plan.looks) - 1
        if look == last:
            return ResultsGate(True, look, f"the last look ({planned_n} finished) is reached", plan)
        if closed:
            return ResultsGate(
                True,
                look,
                f"closed at {n_finished} of {planned_n} before the last look: the "
                "p-values do not carry the plan's guarantee",
                plan,
            )
        if look is None:
            first = math.ceil(plan.looks[0] * planned_n)
            return ResultsGate(
                False,
                None,
                f"{n_finished} of {planned_n} finished; the first look comes at {first}",
                plan,
            )
        nxt = math.ceil(plan.looks[look + 1] * planned_n)
        return ResultsGate(
            False,
            look,
            f"look {look + 1} of {len(plan.looks)} reached ({n_finished} of "
            f"{planned_n} finished); the next comes at {nxt}",
            plan,
        )
    if n_finished >= planned_n:
        return ResultsGate(True, None, f"the planned N ({planned_n}) is reached")
    if closed:
        return ResultsGate(
            True,
            None,
            f"closed at {n_finished} of the planned {planned_n}: the p-values are "
            "those of a smaller study than planned",
        )
    return ResultsGate(
        False,
        None,
        f"{n_finished} of the planned {planned_n} participants finished: "
        "p-values and significance stay hidden until then (the stopping rule)",
    )


def interim_decisions(votes, plan: SequentialPlan, look: int):
    """Per set at look `look` (0-based): the crossed test's two-sided p turned into a
    signed Z, the plan's boundary there and the decision (stop for M_b or M_a, or go on).
    `votes` are checked votes without catch trials."""

    c = float(plan.boundaries()[look])
    rows = []
    for name, g in votes.groupby("set_name", sort=True):
        row = {
            "set_name": name,
            "method_a": g["method_a"].iat[0],
            "method_b": g["method_b"].iat[0],
            "boundary": c,
            "z_b": math.nan,
        }
        try:
            r = crossed_test(g, set_name=name)
            if math.isfinite(r.p_value):
                z = float(sstats.norm.isf(r.p_value / 2)) * (1 if r.prob_a < 0.5 else -1)
                row["z_b"] = z
        except DataError:
            pass
        z = row["z_b"]
        if math.isfinite(z) and abs(z) >= c:
            row["decision"] = "stop: M_b preferred" if z > 0 else "stop: M_a preferred"
        else:
            row["decision"] = "continue"
        rows.append(row)
    return pd.DataFrame(rows).set_index("set_name")
