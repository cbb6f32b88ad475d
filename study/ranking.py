"""Bradley-Terry ranking with its uncertainty: Firth's estimate, robust intervals, rank
intervals and how many votes the order rests on.

The model: a vote between methods a and b goes to a with probability
sigmoid(s_a - s_b); the scores s are centred (mean 0). Maximum likelihood has no finite
answer when a method never loses (or never wins), or more generally when the methods split
into groups one of which beats the other in every vote (the win graph is not strongly
connected): a penalty such as choix's L2 `alpha` then sets the number. Here the estimate is
Firth's bias-reduced one, which maximises the log-likelihood plus half the log-determinant
of the Fisher information (Jeffreys' prior): finite always, and within O(1/n^2) of the
maximum likelihood estimate's bias-corrected value otherwise. `separated` names the methods
whose maximum-likelihood score is infinite, and the table says so.

Intervals: the votes of one participant (and of one sample) are not independent, so the
covariance of the scores is the two-way cluster-robust sandwich (participants, samples,
minus their cells), the same machinery as `study.crossed`, with a t reference on
min(G_p, G_s) - 1 degrees of freedom. Rank intervals come from a bootstrap over
participants. `fragility` is the smallest number of votes whose removal makes a method's
score no longer exceed another's (the top rank, each adjacent pair), found greedily one vote
at a time and checked against exhaustive search in the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats as sstats

from fme.core.errors import DataError
from study.tables import Column, Table

# ---------------------------------------------------------------------------------------------
# The fit on aggregated counts


@lru_cache(maxsize=64)
def _pairs(k: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(k, 1)
    return i, j


@lru_cache(maxsize=64)
def _design(k: int) -> np.ndarray:
    """Rows e_i - e_j for every pair i < j, reference method 0 dropped (P x (K-1))."""
    i, j = _pairs(k)
    x = np.zeros((len(i), k))
    x[np.arange(len(i)), i] = 1.0
    x[np.arange(len(i)), j] = -1.0
    return x[:, 1:]


def win_matrix(winner: np.ndarray, loser: np.ndarray, k: int, weight=None) -> np.ndarray:
    """W[a, b] = (weighted) votes a won against b."""
    w = np.ones(len(winner)) if weight is None else np.asarray(weight, dtype=float)
    out = np.zeros((k, k))
    np.add.at(out, (winner, loser), w)
    return out


def penalised_loglik(beta: np.ndarray, wins: np.ndarray, firth: bool = True) -> float:
    """Log-likelihood of the reduced parameters (method 0 at 0) plus Firth's penalty."""
    k = wins.shape[0]
    x = _design(k)
    i, j = _pairs(k)
    y, n = wins[i, j], wins[i, j] + wins[j, i]
    eta = x @ beta
    ll = float(np.sum(y * eta - n * np.logaddexp(0.0, eta)))
    if firth:
        mu = 1.0 / (1.0 + np.exp(-eta))
        info = x.T @ ((n * mu * (1 - mu))[:, None] * x)
        sign, logdet = np.linalg.slogdet(info)
        ll += 0.5 * logdet if sign > 0 else -np.inf
    return ll


def fit_scores(
    wins: np.ndarray, *, firth: bool = True, iterations: int = 100, tol: float = 1e-10
) -> tuple[np.ndarray, np.ndarray]:
    """Bradley-Terry scores (centred) and the model-based covariance of the reduced
    parameters (inverse Fisher information at the estimate) from a win matrix. Firth's
    modified score U* = X'(y - n mu + h (1/2 - mu)), h the hat values, by Fisher scoring
    with step halving on the penalised likelihood."""
    k = wins.shape[0]
    x = _design(k)
    i, j = _pairs(k)
    y, n = wins[i, j], wins[i, j] + wins[j, i]
    beta = np.zeros(k - 1)
    current = penalised_loglik(beta, wins, firth)
    for _ in range(iterations):
        mu = 1.0 / (1.0 + np.exp(-(x @ beta)))
        w = n * mu * (1 - mu)
        info = x.T @ (w[:, None] * x)
        inv = np.linalg.pinv(info)
        resid = y - n * mu
        if firth:
            h = w * np.einsum("pi,ij,pj->p", x, inv, x)
            resid = resid + h * (0.5 - mu)
        step = inv @ (x.T @ resid)
        scale = 1.0
        while scale > 1e-6:
            trial = beta + scale * step
            value = penalised_loglik(trial, wins, firth)
            if value >= current - 1e-12:
                break
            scale /= 2
        beta, current = trial, value
        if np.max(np.abs(scale * step)) < tol:
            break
    mu = 1.0 / (1.0 + np.exp(-(x @ beta)))
    info = x.T @ ((n * mu * (1 - mu))[:, None] * x)
    full = np.concatenate([[0.0], beta])
    return full - full.mean(), np.linalg.pinv(info)


def separation(wins: np.ndarray) -> np.ndarray:
    """Where maximum likelihood has no finite answer (Ford's condition: the win graph must be
    strongly connected). The methods split into groups (strongly connected components); a
    group that no method outside beats ("top", +1) or that beats no method outside
    ("bottom", -1) sits an infinite ML distance from the rest. The top group is marked
    (a perfect winner, not everyone it beat), else the bottom one; 0 elsewhere and when the
    ML estimate is finite."""
    k = wins.shape[0]
    reach = (wins > 0) | np.eye(k, dtype=bool)
    for m in range(k):  # transitive closure (K is small)
        reach = reach | (reach[:, [m]] & reach[[m], :])
    same = reach & reach.T
    out = np.zeros(k, dtype=int)
    if same.all():
        return out
    outside = ~same
    beaten_from_outside = np.array([np.any((wins[:, a] > 0) & outside[a]) for a in range(k)])
    beats_outside = np.array([np.any((wins[a] > 0) & outside[a]) for a in range(k)])
    top = ~beaten_from_outside & beats_outside
    bottom = beaten_from_outside & ~beats_outside
    if top.any():
        out[top] = 1
    else:
        out[bottom] = -1
    return out


# ---------------------------------------------------------------------------------------------
# From votes


@dataclass
class RankingData:
    """The votes as index arrays: method of A and B, chosen A, participant, sample codes."""

    methods: list[str]
    a: np.ndarray
    b: np.ndarray
    chose_a: np.ndarray
    participant: np.ndarray
    sample: np.ndarray

    @property
    def winner(self) -> np.ndarray:
        return np.where(self.chose_a, self.a, self.b)

    @property
    def loser(self) -> np.ndarray:
        return np.where(self.chose_a, self.b, self.a)

    def wins(self, weight=None) -> np.ndarray:
        return win_matrix(self.winner, self.loser, len(self.methods), weight)


def ranking_data(votes: pd.DataFrame) -> RankingData:
    """Index arrays of a checked votes frame (catch trials already out)."""
    if votes.empty:
        raise DataError("no votes to rank the methods")
    methods = sorted(set(votes["method_a"]) | set(votes["method_b"]))
    index = {m: i for i, m in enumerate(methods)}
    _, people = np.unique(votes["participant"].astype(str).to_numpy(), return_inverse=True)
    _, samples = np.unique(votes["sample"].astype(str).to_numpy(), return_inverse=True)
    return RankingData(
        methods,
        votes["method_a"].map(index).to_numpy(),
        votes["method_b"].map(index).to_numpy(),
        (votes["choice"] == "A").to_numpy(),
        people.ravel(),
        samples.ravel(),
    )


def robust_covariance(data: RankingData, scores: np.ndarray) -> tuple[np.ndarray, int]:
    """Two-way cluster-robust covariance of the centred scores (participants, samples, minus
    the participant-sample cells; each one-way sandwich scaled by G/(G-1)) and the degrees
    of freedom min(G_p, G_s) - 1. The bread is the ML information at the scores."""
    k = len(data.methods)
    x = np.zeros((len(data.a), k))
    x[np.arange(len(data.a)), data.a] = 1.0
    x[np.arange(len(data.a)), data.b] -= 1.0
    x = x[:, 1:]
    beta = scores[1:] - scores[0]
    mu = 1.0 / (1.0 + np.exp(-(x @ beta)))
    bread = np.linalg.pinv(x.T @ ((mu * (1 - mu))[:, None] * x))
    u = (data.chose_a - mu)[:, None] * x

    def meat(codes: np.ndarray) -> np.ndarray:
        _, c = np.unique(codes, return_inverse=True)
        g = int(c.max()) + 1
        if g < 2:
            return np.zeros((k - 1, k - 1))
        sums = np.zeros((g, k - 1))
        np.add.at(sums, c, u)
        return g / (g - 1.0) * sums.T @ sums

    g_p = int(data.participant.max()) + 1
    g_s = int(data.sample.max()) + 1
    cells = data.participant * g_s + data.sample
    mp, ms, mc = meat(data.participant), meat(data.sample), meat(cells)
    v = bread @ (mp + ms - mc) @ bread
    vp, vs = bread @ mp @ bread, bread @ ms @ bread
    # Not positive definite (a negative two-way estimate): fall back to the larger one-way.
    if np.any(np.linalg.eigvalsh(v) <= 0):
        v = vp if np.trace(vp) >= np.trace(vs) else vs
    centre = np.eye(k) - 1.0 / k
    lift = np.vstack([np.zeros((1, k - 1)), np.eye(k - 1)])
    full = centre @ lift @ v @ lift.T @ centre.T
    return full, max(1, min(g_p, g_s) - 1)


@dataclass(frozen=True)
class Ranking:
    """Scores, intervals, ranks and rank intervals of every method (`frame`, best first),
    `separated` (methods whose ML score is infinite: +1 never beaten across a cut, -1 never
    beating; see `separation`) and the fragility of the order (`fragility` frame)."""

    frame: pd.DataFrame
    connected: bool
    separated: dict[str, int] = field(default_factory=dict)
    fragility: pd.DataFrame | None = None
    n_votes: int = 0
    n_boot: int = 0

    random_drop: float | None = None
    cap: int = 200

    def prob(self, a: str, b: str) -> float:
        s = self.frame["score"]
        return float(1.0 / (1.0 + math.exp(-(s[a] - s[b]))))

    def notes(self) -> list[str]:
        notes = []
        if not self.connected:
            notes.append(
                "The comparison sets do not connect all methods: scores of separate groups "
                "are not comparable."
            )
        for name, side in self.separated.items():
            how = {
                1: "never loses to the methods below it",
                -1: "never beats the methods above it",
            }[side]
            notes.append(
                f"{name} {how}: its maximum-likelihood score is infinite; the score shown "
                "is Firth's bias-reduced estimate and the interval is open on that side."
            )
        return notes

    def tables(self) -> list:

        cols = [
            Column("method", "Method"),
            Column("score", "score (Firth)", kind="fixed"),
            Column("ci_low", "95% CI", r"95\% CI", "ci", of="ci_high"),
            Column("rank", "rank", kind="int"),
        ]
        if "rank_low" in self.frame:
            cols.append(
                Column(
                    "rank_low",
                    f"rank 95% interval ({self.n_boot} bootstraps)",
                    rf"rank 95\% interval ({self.n_boot} bootstraps)",
                    "rank",
                    of="rank_high",
                )
            )
        cols += [Column("wins", "wins", kind="int"), Column("comparisons", "votes", kind="int")]
        out = [
            Table(
                "bradley_terry",
                self.frame,
                cols,
                "Bradley-Terry ranking of all methods from every vote: Firth's bias-reduced "
                "scores (mean 0), 95% intervals with participants and samples as clusters "
                "(two-way cluster-robust), rank intervals from a bootstrap over participants",
                notes=self.notes(),
            )
        ]
        if self.fragility is not None and len(self.fragility):
            notes = []
            if self.random_drop is not None:
                notes.append(
                    f"Dropping a random 5% of the votes changes the ranking in "
                    f"{100 * self.random_drop:.0f}% of 200 draws."
                )
            out.append(
                Table(
                    "ranking_fragility",
                    self.fragility.set_index("rank"),
                    [
                        Column("rank", "rank", kind="int"),
                        Column("method", "Method"),
                        Column("next", "next method"),
                        Column("score_gap", "score gap", kind="fixed"),
                        Column(
                            "votes_to_swap",
                            "votes whose removal swaps them",
                            kind="int",
                            missing=f"more than {self.cap}",
                        ),
                    ],
                    f"How many of the {self.n_votes} votes each order rests on: the fewest "
                    "votes whose removal puts a method level with or below the next one "
                    "(the first row is the top rank)",
                    notes=notes,
                )
            )
        return out


def _connected(k: int, wins: np.ndarray) -> bool:
    comparable = ((wins + wins.T) > 0) | np.eye(k, dtype=bool)
    for m in range(k):
        comparable = comparable | (comparable[:, [m]] & comparable[[m], :])
    return bool(comparable.all())


def rank_of(scores: np.ndarray) -> np.ndarray:
    """Rank 1 = highest score (ties share the better rank)."""
    scores = np.atleast_2d(scores)
    return 1 + np.sum(scores[:, None, :] > scores[:, :, None], axis=2)


def bootstrap_scores(
    data: RankingData, n_boot: int, *, seed: int = 0, resample: str = "participants"
) -> np.ndarray:
    """Firth scores of `n_boot` resamples (participants, or participants and samples)."""
    if resample not in ("participants", "both"):
        raise ValueError(f"resample must be 'participants' or 'both', got {resample!r}")
    rng = np.random.default_rng(seed)
    g_p = int(data.participant.max()) + 1
    g_s = int(data.sample.max()) + 1
    out = np.empty((n_boot, len(data.methods)))
    for r in range(n_boot):
        weight = np.bincount(rng.integers(0, g_p, g_p), minlength=g_p)[data.participant]
        if resample == "both":
            weight = weight * np.bincount(rng.integers(0, g_s, g_s), minlength=g_s)[data.sample]
        out[r] = fit_scores(data.wins(weight))[0]
    return out


def order_margin(wins: np.ndarray, i: int, j: int) -> float:
    s, _ = fit_scores(wins)
    return float(s[i] - s[j])


def fragility_pair(wins: np.ndarray, i: int, j: int, *, cap: int = 200) -> int | None:
    """The fewest votes whose removal leaves method i's score no higher than j's, greedily:
    each step removes one vote of the (winner, loser) kind that lowers s_i - s_j most.
    None when `cap` removals do not suffice."""
    w = wins.copy()
    if order_margin(w, i, j) <= 0:
        return 0
    k = w.shape[0]
    for removed in range(1, cap + 1):
        best, best_margin = None, math.inf
        for a in range(k):
            for b in range(k):
                if a == b or w[a, b] < 1:
                    continue
                w[a, b] -= 1
                margin = order_margin(w, i, j)
                w[a, b] += 1
                if margin < best_margin:
                    best, best_margin = (a, b), margin
        if best is None:
            return None
        w[best] -= 1
        if best_margin <= 0:
            return removed
    return None


def fragility_table(wins: np.ndarray, scores: np.ndarray, methods: list[str], cap: int = 200):
    """For each adjacent pair of the ranking (and so the top rank): the fewest votes whose
    removal swaps (or ties) them; the top rank's is the smallest over the first pair's."""
    order = list(np.argsort(-scores, kind="stable"))
    rows = []
    for r in range(len(order) - 1):
        i, j = order[r], order[r + 1]
        rows.append(
            {
                "rank": r + 1,
                "method": methods[i],
                "next": methods[j],
                "score_gap": float(scores[i] - scores[j]),
                "votes_to_swap": fragility_pair(wins, i, j, cap=cap),
            }
        )
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["votes_to_swap"] = frame["votes_to_swap"].astype("Int64")
    return frame


def random_drop_changes(
    data: RankingData, share: float = 0.05, n_draws: int = 200, seed: int = 0
) -> float:
    """The share of random drops of `share` of the votes that change the ranking."""
    rng = np.random.default_rng(seed)
    base = np.argsort(-fit_scores(data.wins())[0], kind="stable")
    n = len(data.a)
    changed = 0
    for _ in range(n_draws):
        keep = rng.random(n) >= share
        s = fit_scores(data.wins(keep.astype(float)))[0]
        changed += not np.array_equal(np.argsort(-s, kind="stable"), base)
    return changed / n_draws


def rank_methods(
    votes: pd.DataFrame,
    *,
    ci: float = 0.95,
    n_boot: int = 200,
    seed: int = 0,
    fragility: bool = True,
    cap: int = 200,
) -> Ranking:
    """Rank every method from a checked votes frame (catch trials out): Firth scores, robust
    intervals, bootstrap rank intervals (over participants), the fragility of the order."""
    data = ranking_data(votes)
    k = len(data.methods)
    wins = data.wins()
    scores, model_cov = fit_scores(wins)
    cov, df = robust_covariance(data, scores)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    q = float(sstats.t.isf((1 - ci) / 2, df))
    frame = pd.DataFrame(
        {"score": scores, "se": se, "ci_low": scores - q * se, "ci_high": scores + q * se},
        index=pd.Index(data.methods, name="method"),
    )
    cut = separation(wins)
    separated = {data.methods[m]: int(cut[m]) for m in range(k) if cut[m] != 0}
    for name, side in separated.items():  # no finite ML: the interval is one-sided
        if side == 1:
            frame.loc[name, "ci_high"] = math.inf
        elif side == -1:
            frame.loc[name, "ci_low"] = -math.inf
    frame["wins"] = wins.sum(1).astype(int)
    frame["comparisons"] = (wins.sum(1) + wins.sum(0)).astype(int)
    frame["rank"] = rank_of(scores)[0]
    if n_boot > 0 and int(data.participant.max()) >= 1:
        boots = bootstrap_scores(data, n_boot, seed=seed)
        ranks = rank_of(boots)
        q2 = (1 - ci) / 2
        frame["rank_low"] = np.quantile(ranks, q2, axis=0, method="lower").astype(int)
        frame["rank_high"] = np.quantile(ranks, 1 - q2, axis=0, method="higher").astype(int)
    frame = frame.sort_values("score", ascending=False)
    frag = fragility_table(wins, scores, data.methods, cap) if fragility and k > 1 else None
    drop = random_drop_changes(data, seed=seed) if fragility and k > 1 else None
    return Ranking(
        frame=frame,
        connected=_connected(k, wins),
        separated=separated,
        fragility=frag,
        n_votes=len(data.a),
        n_boot=n_boot,
        random_drop=drop,
        cap=cap,
    )


# ---------------------------------------------------------------------------------------------
# Coverage by simulation


def simulate_ranking_votes(
    strengths: np.ndarray,
    sets: list[tuple[int, int]],
    n_participants: int,
    n_pairs: int,
    *,
    participant_sd: float = 0.0,
    sample_sd: float = 0.0,
    rng: np.random.Generator,
) -> RankingData:
    """Bradley-Terry votes: participant p sees pair (set, sample j) and votes for A with
    probability sigmoid(s_a - s_b + u_p,set + v_set,j), u ~ N(0, participant_sd),
    v ~ N(0, sample_sd): a participant's and a sample's own lean per set."""
    rows_a, rows_b, rows_y, rows_p, rows_s = [], [], [], [], []
    for k, (a, b) in enumerate(sets):
        u = rng.normal(0, participant_sd, n_participants)
        v = rng.normal(0, sample_sd, n_pairs)
        eta = strengths[a] - strengths[b] + np.add.outer(u, v)
        y = rng.random((n_participants, n_pairs)) < 1 / (1 + np.exp(-eta))
        rows_y.append(y.ravel())
        rows_a.append(np.full(y.size, a))
        rows_b.append(np.full(y.size, b))
        rows_p.append(np.repeat(np.arange(n_participants), n_pairs))
        rows_s.append(np.tile(np.arange(n_pairs), n_participants) + k * n_pairs)
    return RankingData(
        [str(m) for m in range(len(strengths))],
        np.concatenate(rows_a),
        np.concatenate(rows_b),
        np.concatenate(rows_y),
        np.concatenate(rows_p),
        np.concatenate(rows_s),
    )


def interval_coverage(
    strengths,
    sets: list[tuple[int, int]],
    n_participants: int = 20,
    n_pairs: int = 18,
    *,
    participant_sd: float = 0.0,
    sample_sd: float = 0.0,
    n_sim: int = 200,
    ci: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Share of simulated studies whose robust interval covers each method's true centred
    score (averaged over methods), and the same for the model-based (independent votes)
    interval; with its Monte Carlo SE."""
    s = np.asarray(strengths, dtype=float)
    truth = s - s.mean()
    rng = np.random.default_rng(seed)
    robust = model = 0.0
    k = len(s)
    centre = np.eye(k) - 1.0 / k
    lift = np.vstack([np.zeros((1, k - 1)), np.eye(k - 1)])
    for _ in range(n_sim):
        data = simulate_ranking_votes(
            s,
            sets,
            n_participants,
            n_pairs,
            participant_sd=participant_sd,
            sample_sd=sample_sd,
            rng=rng,
        )
        scores, mcov = fit_scores(data.wins())
        cov, df = robust_covariance(data, scores)
        q = float(sstats.t.isf((1 - ci) / 2, df))
        se = np.sqrt(np.diag(cov))
        robust += np.mean(np.abs(scores - truth) <= q * se)
        mse = np.sqrt(np.diag(centre @ lift @ mcov @ lift.T @ centre.T))
        model += np.mean(np.abs(scores - truth) <= sstats.norm.isf((1 - ci) / 2) * mse)
    out = {"robust": robust / n_sim, "independent": model / n_sim, "n_sim": n_sim}
    out["mc_se"] = math.sqrt(ci * (1 - ci) / n_sim)
    return out
