"""Alpha-spending boundaries, their level by simulation, and what a running study shows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fme.core.errors import ConfigError
from study.sequential import (
    SequentialPlan,
    boundaries,
    results_gate,
    simulate_sequential,
    spent,
)

# Lan-DeMets boundaries for 5 equally spaced looks, two-sided alpha 0.05 (alpha/2 per side),
# as published for the O'Brien-Fleming-type and Pocock-type spending functions
# (Jennison and Turnbull 2000, ch. 7; the values of the ldbounds/gsDesign programs).
PUBLISHED = {
    "obrien-fleming": [4.8769, 3.3569, 2.6803, 2.2898, 2.0310],
    "pocock": [2.4380, 2.4268, 2.4101, 2.3966, 2.3859],
}


@pytest.mark.parametrize("rule", list(PUBLISHED))
def test_boundaries_match_the_published_lan_demets_values(rule):
    c = boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.05, rule)
    assert c == pytest.approx(PUBLISHED[rule], abs=2e-4)


@pytest.mark.parametrize("rule", list(PUBLISHED))
def test_boundaries_spend_alpha_over_a_brownian_motion(rule):
    # 200 000 simulated Z paths at unequal looks: the share crossing any boundary is the
    # alpha spent by each look (Monte Carlo SE about 0.05 %).
    looks = np.array([0.3, 0.5, 0.85, 1.0])
    c = boundaries(looks, 0.05, rule)
    rng = np.random.default_rng(0)
    n = 200_000
    steps = rng.normal(0, 1, (n, 4)) * np.sqrt(np.diff(np.concatenate([[0], looks])))
    z = np.cumsum(steps, 1) / np.sqrt(looks)
    crossed = np.abs(z) >= c
    first = np.cumsum(np.cumsum(crossed, 1) > 0, 1) == 1  # the first crossing only
    by_look = np.cumsum((crossed & first).sum(0)) / n
    target = 2 * spent(looks, 0.025, rule)
    se = np.sqrt(target * (1 - target) / n)
    assert np.all(np.abs(by_look - target) < 4 * se + 1e-5)


def test_looking_often_inflates_the_crossed_test_and_the_plan_restores_the_level():
    # 400 simulated null studies of N = 31, M = 18 with 4 looks; Monte Carlo SE of a 5 %
    # rate is 1.1 %.
    n_sim = 400
    plan = SequentialPlan((0.25, 0.5, 0.75, 1.0), "pocock")
    cal = simulate_sequential(plan, 31, 18, n_sim=n_sim, seed=1)
    se = math.sqrt(0.05 * 0.95 / n_sim)
    assert abs(cal.planned - 0.05) < 3 * se
    assert cal.naive > cal.planned + 0.03


def test_bad_plans_are_refused():
    with pytest.raises(ConfigError, match="increasing"):
        SequentialPlan((0.5, 0.4, 1.0))
    with pytest.raises(ConfigError, match="spending"):
        SequentialPlan((0.5, 1.0), "haybittle")
    with pytest.raises(ConfigError, match="fractions"):
        SequentialPlan.parse("half,1", "pocock")
    assert SequentialPlan((0.5,)).looks == (0.5, 1.0)  # the last look is at N


def test_results_gate_hides_tests_until_the_planned_n_or_the_plan_allows():
    assert not results_gate(10, planned_n=31).show_tests
    assert results_gate(31, planned_n=31).show_tests
    assert not results_gate(100, planned_n=None).show_tests
    assert results_gate(5, planned_n=None, closed=True).show_tests
    early = results_gate(10, planned_n=31, closed=True)
    assert early.show_tests and "smaller study" in early.reason
    plan = dict(planned_n=40, looks="0.5,0.75,1", spending="obrien-fleming", alpha=0.05)
    before = results_gate(19, **plan)
    assert not before.show_tests and before.look is None and "20" in before.reason
    interim = results_gate(20, **plan)
    assert not interim.show_tests and interim.look == 0 and interim.plan is not None
    assert results_gate(40, **plan).show_tests
