"""Level and power of the study's tests, by simulating whole studies at once.

A simulated set has N participants who each vote once on each of M pairs (one pair per
sample). Participant i leans by a_i ~ Normal(0, participant_sd) and sample j by
b_j ~ Normal(0, sample_sd) on the log-odds scale; A's side alternates (balanced), with a
position effect `side_effect`; the vote goes to A with probability
sigmoid(log_odds + a_i + b_j + side_effect * side). With `log_odds` = 0 there is no
preference, so the share of studies a test calls significant is its false-positive rate;
otherwise it is its power at that effect. Studies are simulated as one array (R x N x M),
so thousands take seconds.

The tests: the paper's Z (normal reference, right-tailed), Student's t on the same statistic
with M - 1 degrees of freedom (right-tailed), and the crossed analysis (`study.crossed`,
two-sided and right-tailed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sstats

from study.crossed import crossed_fit
from study.record import OneRow
from study.stats import z_statistics


@dataclass(frozen=True)
class Calibration(OneRow):
    """Rejection rates at `alpha` over `n_sim` simulated sets (and their binomial SE)."""

    n_participants: int
    n_pairs: int
    participant_sd: float
    sample_sd: float
    log_odds: float
    alpha: float
    n_sim: int
    paper_z: float
    t_pairs: float
    crossed: float
    crossed_greater: float

    def se(self, rate: float) -> float:
        return float(np.sqrt(rate * (1 - rate) / self.n_sim))


def simulate_votes(
    n_sim: int,
    n_participants: int,
    n_pairs: int,
    *,
    participant_sd: float = 0.0,
    sample_sd: float = 0.0,
    log_odds: float = 0.0,
    side_effect: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Votes for A (n_sim x N*M, participant-major), and the participant, sample and side of
    each vote."""
    rng = np.random.default_rng(seed)
    n, m = n_participants, n_pairs
    a = rng.normal(0.0, participant_sd, (n_sim, n, 1)) if participant_sd > 0 else 0.0
    b = rng.normal(0.0, sample_sd, (n_sim, 1, m)) if sample_sd > 0 else 0.0
    side = np.where((np.arange(n)[:, None] + np.arange(m)[None, :]) % 2 == 0, 0.5, -0.5)
    eta = log_odds + a + b + side_effect * side
    y = rng.random((n_sim, n, m)) < 1.0 / (1.0 + np.exp(-eta))
    participant = np.repeat(np.arange(n), m)
    sample = np.tile(np.arange(m), n)
    return y.reshape(n_sim, n * m).astype(float), participant, sample, side.ravel()


def calibrate(
    n_participants: int = 31,
    n_pairs: int = 18,
    *,
    participant_sd: float = 0.0,
    sample_sd: float = 0.0,
    log_odds: float = 0.0,
    side_effect: float = 0.0,
    alpha: float = 0.05,
    n_sim: int = 2000,
    seed: int = 0,
) -> Calibration:
    """The share of `n_sim` simulated sets in which each test rejects at `alpha`."""
    y, participant, sample, side = simulate_votes(
        n_sim,
        n_participants,
        n_pairs,
        participant_sd=participant_sd,
        sample_sd=sample_sd,
        log_odds=log_odds,
        side_effect=side_effect,
        seed=seed,
    )
    z = z_statistics(y.reshape(n_sim, n_participants, n_pairs).sum(1), n_participants)
    fit = crossed_fit(y, participant, sample, side)
    return Calibration(
        n_participants=n_participants,
        n_pairs=n_pairs,
        participant_sd=participant_sd,
        sample_sd=sample_sd,
        log_odds=log_odds,
        alpha=alpha,
        n_sim=n_sim,
        paper_z=float(np.mean(z > sstats.norm.isf(alpha))),
        t_pairs=float(np.mean(z > sstats.t.isf(alpha, n_pairs - 1))),
        crossed=float(np.mean(fit.p_two_sided() < alpha)),
        crossed_greater=float(np.mean(fit.p_greater() < alpha)),
    )
