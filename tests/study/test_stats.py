"""study.stats against numbers worked out by hand (numpy, math.comb, scipy.stats.norm)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats
from stats_helpers import PAPER_SETS, simulate_votes

from fme.core.errors import ConfigError, DataError
from study import stats as st

N = 31
VC = np.array([20, 15, 18, 22, 10, 17, 25, 16])  # A's votes on 8 pairs, N = 31 voters


def hand_z(vc: np.ndarray, n: float) -> float:
    return (vc.mean() - n / 2) / (vc.std(ddof=1) / math.sqrt(len(vc)))


# --- the paper's statistics ------------------------------------------------------------------


def test_set_summary_matches_hand_formula():
    s = st.set_summary(VC, N)
    z = hand_z(VC.astype(float), N)
    assert s.z == pytest.approx(z, rel=1e-12)
    assert s.p_value == pytest.approx(sstats.norm.sf(z), rel=1e-12)
    # Hand counts: A has more than 15.5 votes on 20, 18, 22, 17, 25, 16 -> 6 of 8 pairs.
    assert s.pref_rate == pytest.approx(6 / 8)
    assert s.pref_rate_b == pytest.approx(2 / 8)
    assert s.voting_rate == pytest.approx(143 / 248)
    assert s.voting_rate_b == pytest.approx(105 / 248)
    assert s.mean_votes == pytest.approx(143 / 8)
    assert s.sd_votes == pytest.approx(VC.std(ddof=1))
    assert s.n_pairs == 8 and s.n_participants == N
    assert s.z_b == pytest.approx(-z)
    assert s.p_value_b == pytest.approx(sstats.norm.sf(-z))


def test_critical_value_comes_from_alpha():
    assert st.critical_value(0.05) == pytest.approx(1.6449, abs=1e-4)
    assert st.critical_value(0.01) == pytest.approx(2.3263, abs=1e-4)
    assert st.set_summary(VC, N, alpha=0.01).critical_value == pytest.approx(2.3263, abs=1e-4)


def test_significance_depends_on_alpha():
    # Margins chosen so that 1.6449 < Z < 2.3263.
    vc = np.array([17, 18, 15, 19, 16, 14, 18, 17, 16, 15, 19, 14])
    z = hand_z(vc.astype(float), N)
    assert 1.6449 < z < 2.3263
    assert st.set_summary(vc, N, alpha=0.05).significant
    assert not st.set_summary(vc, N, alpha=0.01).significant


def test_z_flips_when_a_and_b_swap_and_is_zero_at_half():
    a = st.set_summary(VC, N)
    b = st.set_summary(N - VC, N)
    assert b.z == pytest.approx(-a.z)
    assert b.pref_rate == pytest.approx(a.pref_rate_b)
    assert b.voting_rate == pytest.approx(a.voting_rate_b)
    half = st.set_summary([14, 17, 15, 16], N)  # mean 15.5 = N/2
    assert half.z == pytest.approx(0.0, abs=1e-12)
    assert half.p_value == pytest.approx(0.5)
    assert not half.significant


def test_unequal_voters_per_pair_use_margins():
    vc = np.array([20, 12, 18, 25])
    n = np.array([31, 29, 30, 31])
    d = vc - n / 2
    z = d.mean() / (d.std(ddof=1) / 2.0)
    s = st.set_summary(vc, n)
    assert s.z == pytest.approx(z)
    assert s.voting_rate == pytest.approx(vc.sum() / n.sum())


def test_set_summary_frame_is_one_row():
    f = st.set_summary(VC, N, set_name="s1", method_a="FOMM", method_b="FOMM+EWP").frame
    assert f.shape[0] == 1 and f.index[0] == "s1"
    assert f.loc["s1", "method_b"] == "FOMM+EWP"
    assert f.loc["s1", "z"] == pytest.approx(hand_z(VC.astype(float), N))


def test_set_summary_rejects_bad_counts():
    with pytest.raises(DataError):
        st.set_summary([40, 10], N)
    with pytest.raises(DataError):
        st.set_summary([], N)
    with pytest.raises(DataError):
        st.set_summary([10, 12, 13], [31, 31])


def test_t_reference_is_scipys_one_sample_t_test():
    s = st.set_summary(VC, N)
    d = VC - N / 2
    assert s.t_p_value == pytest.approx(
        sstats.ttest_1samp(d, 0.0, alternative="greater").pvalue, rel=1e-12
    )
    assert s.t_p_value_b == pytest.approx(
        sstats.ttest_1samp(d, 0.0, alternative="less").pvalue, rel=1e-12
    )
    assert s.t_p_value > s.p_value  # heavier tails than the normal at the same statistic
    assert (s.wins_a, s.wins_b) == (6, 2)


def test_equal_margins_leave_z_undefined_and_the_exact_tests_decide():
    # Two pairs at 16/31 each: s = 0. Z would be +inf with p = 0; it is undefined instead.
    s = st.set_summary([16, 16], N)
    assert s.sd_votes == 0.0 and not s.z_defined
    assert math.isnan(s.z) and math.isnan(s.p_value) and s.significant is None
    assert s.pref_rate == 1.0 and s.wins_a == 2
    exact = st.across_pairs([16, 16], N)
    assert exact.sign_p_value == pytest.approx(0.25)  # both pairs won: (1/2)^2
    tests = st.pair_tests([16, 16], N).frame
    assert tests["p_value"].tolist() == pytest.approx([1.0, 1.0])


def test_one_pair_set_has_rates_and_exact_test_but_no_z():
    s = st.set_summary([22], N)
    assert s.n_pairs == 1 and not s.z_defined and math.isnan(s.sd_votes)
    assert s.voting_rate == pytest.approx(22 / 31) and s.pref_rate == 1.0
    p = st.pair_tests([22], N).frame.loc[0, "p_value"]
    assert p == pytest.approx(sstats.binomtest(22, 31).pvalue)
    assert st.across_pairs([22], N).sign_p_value == pytest.approx(0.5)


def test_summaries_from_votes_equal_hand_counts():
    votes = simulate_votes({"A": 0.3, "B": 0.0}, [("A", "B")], n_participants=11, n_pairs=6)
    (s,) = st.summarize_sets(votes)
    real = votes.loc[~votes["is_catch"]]
    vc = real.groupby("pair_id")["choice"].apply(lambda c: int((c == "A").sum())).to_numpy()
    assert s.z == pytest.approx(hand_z(vc.astype(float), 11))
    assert s.voting_rate == pytest.approx((real["choice"] == "A").mean())
    assert s.n_participants == 11


# --- beyond the paper ------------------------------------------------------------------------


def test_pair_binomial_p_value_is_hand_sum():
    res = st.pair_tests([22, 10, 16], N).frame
    tail = sum(math.comb(N, j) for j in range(22, N + 1)) / 2**N
    assert res.loc[0, "p_value"] == pytest.approx(2 * tail, rel=1e-10)
    assert res.loc[0, "p_greater"] == pytest.approx(tail, rel=1e-10)
    low = sum(math.comb(N, j) for j in range(0, 11)) / 2**N
    assert res.loc[1, "p_value"] == pytest.approx(2 * low, rel=1e-10)
    assert res.loc[2, "p_value"] == pytest.approx(1.0)
    # Holm: the smallest p times 3, capped at 1, and never below the raw p.
    assert res["p_holm"].min() == pytest.approx(min(1.0, 3 * res["p_value"].min()))
    assert (res["p_holm"] >= res["p_value"] - 1e-15).all()


def test_sign_and_wilcoxon_against_exact_counts():
    # Margins 3.5, -0.5, 1.5, 5.5, 4.5: A wins 4 of 5 pairs; |d| ranks 3, 1, 2, 5, 4.
    res = st.across_pairs([19, 15, 17, 21, 20], N)
    assert (res.wins_a, res.wins_b, res.ties) == (4, 1, 0)
    assert res.sign_p_value == pytest.approx(6 / 32)  # P(X >= 4), X ~ Bin(5, 1/2)
    assert res.wilcoxon_statistic == pytest.approx(14)  # W+ = 15 - 1
    # Subsets of {1..5} with rank sum >= 14: {1,2,3,4,5} and {2,3,4,5}.
    assert res.wilcoxon_p_value == pytest.approx(2 / 32)
    both = st.across_pairs([19, 15, 17, 21, 20], N, alternative="two-sided")
    assert both.sign_p_value == pytest.approx(12 / 32)
    assert both.wilcoxon_p_value == pytest.approx(4 / 32)


def test_bradley_terry_orders_known_strengths():
    truth = {"M1": -1.0, "M2": -0.3, "M3": 0.3, "M4": 1.0}
    sets = [("M1", "M2"), ("M2", "M3"), ("M3", "M4"), ("M1", "M4"), ("M2", "M4")]
    votes = simulate_votes(truth, sets, n_participants=30, n_pairs=18, seed=3)
    bt = st.bradley_terry(votes, n_boot=20, seed=0)
    assert list(bt.frame.index) == ["M4", "M3", "M2", "M1"]
    assert bt.connected
    centred = {k: v - np.mean(list(truth.values())) for k, v in truth.items()}
    for m, s in centred.items():
        assert bt.frame.loc[m, "score"] == pytest.approx(s, abs=0.2)
    assert (bt.frame["ci_low"] <= bt.frame["score"]).all()
    assert (bt.frame["score"] <= bt.frame["ci_high"]).all()
    assert bt.prob("M4", "M1") == pytest.approx(1 / (1 + math.exp(-2.0)), abs=0.06)


def test_bradley_terry_flags_disconnected_sets():
    votes = simulate_votes(
        {"a": 0, "b": 1, "c": 0, "d": 1}, [("a", "b"), ("c", "d")], n_participants=5, n_pairs=4
    )
    assert not st.bradley_terry(votes).connected


def test_position_bias_detects_left_bias():
    strengths = {"FOMM": 0.0, "FOMM+EWP": 0.0, "FOMM+AWP": 0.2, "MRAA": -0.2, "MRAA+AWP": 0.0}
    biased = simulate_votes(strengths, PAPER_SETS, n_participants=20, left_bias=0.4, seed=1)
    fair = simulate_votes(strengths, PAPER_SETS, n_participants=20, left_bias=0.0, seed=1)
    b = st.position_bias(biased).overall
    f = st.position_bias(fair).overall
    assert b["n"] == 4 * 18 * 20
    assert b["p_value"] < 1e-4 and b["left_rate"] > 0.55  # sigmoid(0.4) = 0.599
    assert f["p_value"] > 0.01 and abs(f["left_rate"] - 0.5) < 0.04
    # Left rate counted by hand.
    left = ((biased["choice"] == "A") == (biased["a_side"] == "left")).mean()
    assert b["left_rate"] == pytest.approx(left)


def test_fleiss_kappa_by_hand_and_statsmodels():
    from statsmodels.stats.inter_rater import fleiss_kappa

    assert st._fleiss(np.array([[3, 0], [0, 3], [3, 0], [0, 3]]))[2] == pytest.approx(1.0)
    # P_i = (4 + 1 - 3) / 6 = 1/3, P_e = 1/2 -> kappa = -1/3.
    assert st._fleiss(np.array([[2, 1], [1, 2]]))[2] == pytest.approx(-1 / 3)
    # Unequal raters: every pair unanimous -> P-bar 1, P_e = 0.6^2 + 0.4^2 -> kappa 1.
    obs, exp, kappa = st._fleiss(np.array([[3, 0], [0, 2]]))
    assert (obs, exp, kappa) == (pytest.approx(1.0), pytest.approx(0.52), pytest.approx(1.0))
    table = np.array([[5, 2], [1, 6], [4, 3], [7, 0], [2, 5]])
    assert st._fleiss(table)[2] == pytest.approx(fleiss_kappa(table, method="fleiss"))


def test_agreement_from_votes():
    votes = simulate_votes({"A": 0.0, "B": 0.0}, [("A", "B")], n_participants=6, n_pairs=4)
    # Make the voters unanimous: A on even pairs, B on odd ones.
    even = votes["pair_id"].str[-1].astype(int) % 2 == 0
    votes["choice"] = np.where(even, "A", "B")
    ag = st.agreement(votes, set_name="set1")
    assert ag.kappa == pytest.approx(1.0) and ag.n_pairs == 4 and ag.n_votes == 24


def test_power_needs_more_volunteers_for_smaller_effects():
    big = st.required_volunteers(0.7, 18, pair_sd=0.05)
    small = st.required_volunteers(0.6, 18, pair_sd=0.05)
    assert small.n_participants > big.n_participants
    # No N helps when the pair-to-pair spread alone hides the effect.
    assert st.required_volunteers(0.52, 18, pair_sd=0.1).n_participants is None
    # Without spread: N = p(1-p) / ((p - 1/2) / d)^2, d = (z_0.95 + z_0.8) / sqrt(M).
    d = (sstats.norm.isf(0.05) + sstats.norm.isf(0.2)) / math.sqrt(18)
    assert st.required_volunteers(0.6, 18).n_participants == math.ceil(0.24 / (0.1 / d) ** 2)


@pytest.mark.parametrize(("effect", "pair_sd"), [(0.6, 0.0), (0.6, 0.1)])
def test_power_matches_simulation_of_the_z_test(effect, pair_sd):
    res = st.required_volunteers(effect, 18, pair_sd=pair_sd, power=0.8)
    n = res.n_participants
    sim = st.simulated_power(n, effect, 18, pair_sd=pair_sd, n_sim=4000, seed=7)
    assert sim == pytest.approx(0.8, abs=0.06)
    # and one volunteer fewer is not more powerful
    assert st.simulated_power(n - 1, effect, 18, pair_sd=pair_sd, n_sim=4000, seed=7) <= sim


def test_catch_rule_excludes_failed_participants():
    votes = simulate_votes(
        {"A": 0.0, "B": 0.0},
        [("A", "B")],
        n_participants=5,
        n_pairs=3,
        catch_per_participant=2,
        failing=(1, 3),
    )
    rule = st.CatchRule()
    kept = rule.apply(votes)
    assert rule.excluded == ["P001", "P003"]
    assert set(kept["participant"]) == {"P000", "P002", "P004"}
    relaxed = st.CatchRule(min_pass_rate=0.0)
    relaxed.apply(votes)
    assert relaxed.excluded == []
    # The study's rule: more than max_failures failed catch trials (P001, P003 fail 2).
    one = st.CatchRule(max_failures=1)
    one.apply(votes)
    assert one.excluded == ["P001", "P003"]
    two = st.CatchRule(max_failures=2)
    two.apply(votes)
    assert two.excluded == []
    table = rule.table(votes)
    assert table.loc["P001", "catch_trials"] == 2 and table.loc["P001", "catch_passed"] == 0
    # Catch trials never count as votes.
    counts = st.vote_counts(votes)
    assert counts["n"].sum() == 5 * 3


def test_catch_rule_without_catch_trials_keeps_everyone():
    votes = simulate_votes({"A": 0.0, "B": 0.0}, [("A", "B")], n_participants=4, n_pairs=3)
    for rule in (st.CatchRule(), st.CatchRule(enabled=False), st.CatchRule(max_failures=0)):
        table = rule.table(votes)
        assert table["catch_trials"].tolist() == [0, 0, 0, 0]
        assert not table["excluded"].any()
        assert len(rule.apply(votes)) == len(votes)


def test_missing_catch_passed_means_unknown_never_failed():
    votes = simulate_votes(
        {"A": 0.0, "B": 0.0},
        [("A", "B")],
        n_participants=15,
        n_pairs=2,
        catch_per_participant=2,
        failing=(3,),
    ).drop(columns=["catch_passed"])
    rule = st.CatchRule()
    kept = rule.apply(votes)
    assert rule.excluded == [] and kept["participant"].nunique() == 15
    table = rule.table(votes)
    assert (table["catch_unknown"] == 2).all() and (table["catch_failed"] == 0).all()
    # One known failure among unknowns: only that participant is excluded.
    votes = votes.assign(catch_passed=pd.NA)
    first = votes.index[votes["is_catch"] & (votes["participant"] == "P003")][0]
    votes.loc[first, "catch_passed"] = False
    rule.apply(votes)
    assert rule.excluded == ["P003"]
    assert st.CatchRule(max_failures=1).apply(votes)["participant"].nunique() == 15


def test_pairs_sort_numerically():
    votes = simulate_votes({"A": 0.0, "B": 0.0}, [("A", "B")], n_participants=2, n_pairs=12)
    votes["pair_id"] = votes["pair_id"].str.replace("set1-p", "").astype(int).astype(str)
    assert st.vote_counts(votes)["pair_id"].tolist() == [str(i) for i in range(12)]
    assert sorted(["p10", "p2", "p1"], key=st.natural_key) == ["p1", "p2", "p10"]


def test_votes_from_csv_strings_are_parsed(tmp_path):
    votes = simulate_votes(
        {"A": 0.0, "B": 0.0},
        [("A", "B")],
        n_participants=3,
        n_pairs=2,
        catch_per_participant=1,
        failing=(0,),
    )
    path = tmp_path / "v.csv"
    votes.to_csv(path, index=False)
    back = st.check_votes(pd.read_csv(path))
    assert back["is_catch"].sum() == 3
    assert back.loc[back["is_catch"], "catch_passed"].tolist() == [False, True, True]
    with pytest.raises(DataError):
        st.check_votes(votes.drop(columns=["choice"]))
    bad = votes.copy()
    bad.loc[0, "choice"] = "C"
    with pytest.raises(DataError):
        st.check_votes(bad)


# --- power from the data ---------------------------------------------------------------------


def test_pair_sd_by_hand_and_recovers_a_known_spread():
    vc, n = np.array([20, 12, 18, 25]), 31
    r = vc / n
    hand = math.sqrt(np.var(r, ddof=1) - np.mean(r * (1 - r) / (n - 1)))
    assert st.pair_sd(vc, n) == pytest.approx(hand, rel=1e-12)
    rng = np.random.default_rng(0)
    for tau in (0.0, 0.1):
        k = 0.6 * 0.4 / tau**2 - 1 if tau else None
        p = rng.beta(0.6 * k, 0.4 * k, 4000) if tau else np.full(4000, 0.6)
        est = st.pair_sd(rng.binomial(31, p), 31)
        assert est == pytest.approx(tau, abs=0.012)


def test_an_impossible_spread_across_pairs_is_refused():
    # A rate with mean 0.9 has SD at most sqrt(0.9 * 0.1) = 0.3, when every pair is unanimous;
    # beyond it the volunteer formula went negative and printed N = 2.
    assert st.max_pair_sd(0.9) == pytest.approx(0.3)
    calls = (
        lambda: st.required_volunteers(0.9, 18, pair_sd=0.32),
        lambda: st.z_test_power(0.9, 20, 18, pair_sd=0.3),
        lambda: st.simulated_power(20, 0.9, 18, pair_sd=0.32, n_sim=10),
    )
    for call in calls:
        with pytest.raises(ConfigError, match="pair SD"):
            call()
    # just inside the bound the model holds and simulation agrees with the formula
    power = st.z_test_power(0.6, 20, 18, pair_sd=0.45)
    sim = st.simulated_power(20, 0.6, 18, pair_sd=0.45, n_sim=4000, seed=2)
    assert sim == pytest.approx(power, abs=0.04)


def test_z_statistics_of_many_sets_are_the_hand_formula():
    rows = np.stack([VC, N - VC, np.full(8, 16)])
    z = st.z_statistics(rows, N)
    assert z[:2] == pytest.approx([hand_z(VC.astype(float), N), -hand_z(VC.astype(float), N)])
    assert math.isnan(z[2])  # equal margins: undefined, as in set_summary


def test_z_test_power_agrees_with_required_volunteers_and_simulation():
    res = st.required_volunteers(0.6, 18, pair_sd=0.05)
    n = res.n_participants
    assert st.z_test_power(0.6, n, 18, pair_sd=0.05) >= 0.8
    assert st.z_test_power(0.6, n - 1, 18, pair_sd=0.05) < 0.8
    power = st.z_test_power(0.6, 20, 18, pair_sd=0.05)
    sim = st.simulated_power(20, 0.6, 18, pair_sd=0.05, n_sim=4000, seed=1)
    assert sim == pytest.approx(power, abs=0.04)
    assert 0.05 < power < 0.999  # a power, not the target repeated


# --- participants and samples both random ---------------------------------------------------


def test_crossed_fit_is_the_glm_with_two_way_cluster_robust_errors():
    import statsmodels.api as sm

    from study.calibration import simulate_votes as sim_votes
    from study.crossed import crossed_fit

    y, p, s, x = sim_votes(1, 12, 8, participant_sd=0.5, sample_sd=0.3, side_effect=0.4, seed=3)
    fit = crossed_fit(y, p, s, x)
    X = sm.add_constant(x)
    glm = sm.GLM(y[0], X, family=sm.families.Binomial())
    assert [fit.log_odds[0], fit.side_log_odds[0]] == pytest.approx(glm.fit().params, rel=1e-8)

    def one_way(groups):
        kw = {"groups": groups, "use_correction": False}
        return glm.fit(cov_type="cluster", cov_kwds=kw).cov_params()[0, 0]

    cell = p * 100 + s
    raw = [one_way(p), one_way(s), one_way(cell)]
    # statsmodels' two-way (Cameron-Gelbach-Miller) without correction is V_p + V_s - V_cell.
    two_way = glm.fit(
        cov_type="cluster", cov_kwds={"groups": np.column_stack([p, s]), "use_correction": False}
    ).cov_params()[0, 0]
    assert two_way == pytest.approx(raw[0] + raw[1] - raw[2], rel=1e-8)
    # Ours scales each by G/(G-1): 12 participants, 8 samples, 96 cells.
    ours = 12 / 11 * raw[0] + 8 / 7 * raw[1] - 96 / 95 * raw[2]
    assert fit.se[0] ** 2 == pytest.approx(ours, rel=1e-8)
    vp, vs, vc = 12 / 11 * raw[0], 8 / 7 * raw[1], 96 / 95 * raw[2]
    fp, fs = max(vp, vc), max(vs, vc)
    df = (fp + fs - vc) ** 2 / (fp**2 / 11 + fs**2 / 7)
    assert fit.df[0] == pytest.approx(df, rel=1e-8)
    assert fit.p_two_sided()[0] == pytest.approx(2 * sstats.t.sf(abs(fit.t[0]), df), rel=1e-8)


def test_result_records_frame_as_one_row_indexed_by_set_name():
    from study.crossed import crossed_test

    votes = st.check_votes(
        simulate_votes({"A": 0.8, "B": 0.0}, [("A", "B")], n_participants=12, n_pairs=8)
    )
    crossed = crossed_test(votes, set_name="set1")
    f = crossed.frame
    assert list(f.index) == ["set1"] and "set_name" not in f.columns
    assert f.loc["set1", "prob_a"] == crossed.prob_a and f.loc["set1", "n_votes"] == 96
    # a record without a set_name keeps its one row at 0, every field a column
    across = st.across_pairs([22, 10, 16], 31)
    g = across.frame
    assert list(g.index) == [0] and g.loc[0, "wins_a"] == across.wins_a == 2
    assert list(g.columns) == [x.name for x in dataclasses.fields(across)]


def test_crossed_test_from_votes_and_its_direction():
    from study.crossed import crossed_test

    votes = st.check_votes(
        simulate_votes({"A": 0.8, "B": 0.0}, [("A", "B")], n_participants=12, n_pairs=8)
    )
    res = crossed_test(votes, set_name="set1")
    assert res.n_votes == 96 and res.n_participants == 12 and res.n_samples == 8
    assert res.prob_a == pytest.approx((votes["choice"] == "A").mean(), abs=0.02)
    assert res.ci_low < res.prob_a < res.ci_high
    assert res.p_greater < 0.05 and res.p_less > 0.95
    assert res.p_value == pytest.approx(2 * min(res.p_greater, res.p_less))
    with pytest.raises(DataError, match="2 samples"):
        crossed_test(votes.loc[votes["sample"] == votes["sample"].iat[0]])
    # All votes one way: the likelihood has no maximum; no test, the observed share.
    unanimous = crossed_test(votes.assign(choice="B"))
    assert unanimous.prob_a == 0.0 and math.isnan(unanimous.t) and math.isnan(unanimous.p_value)
    # One side's votes all one way (A always chosen on the left): separated, no test.
    by_side = votes.assign(choice=np.where(votes["a_side"] == "left", "A", "B"))
    assert math.isnan(crossed_test(by_side).p_value)


@pytest.mark.parametrize(("participant_sd", "sample_sd"), [(0.0, 0.0), (0.3, 0.2), (0.8, 0.4)])
def test_no_preference_false_positive_rate(participant_sd, sample_sd):
    """4000 simulated paper-sized sets (N = 31, M = 18) with no true preference and a position
    effect: the crossed test rejects 5 % +- 0.34 % (binomial SE), inside [0.03, 0.07]."""
    from study.calibration import calibrate

    c = calibrate(
        31,
        18,
        participant_sd=participant_sd,
        sample_sd=sample_sd,
        side_effect=0.3,
        n_sim=4000,
        seed=11,
    )
    print(
        f"\nSD {participant_sd}+{sample_sd}: false positives paper Z {c.paper_z:.3f}, "
        f"t {c.t_pairs:.3f}, crossed {c.crossed:.3f} (one-sided {c.crossed_greater:.3f}); "
        f"SE {c.se(0.05):.4f}"
    )
    assert c.se(0.05) < 0.004
    assert 0.03 <= c.crossed <= 0.07
    assert 0.03 <= c.crossed_greater <= 0.07
    if participant_sd == 0:
        # With no leaning voters, Student's t on the pair margins holds the level too.
        assert 0.03 <= c.t_pairs <= 0.07
    if participant_sd >= 0.8:
        # The tests over pairs treat the voters as fixed and cannot hold the level here.
        assert c.paper_z > 0.1 and c.t_pairs > 0.1


def test_crossed_power_at_a_stated_effect():
    """Power at log-odds 0.3 (P = 0.574 for the better method), SD 0.3 + 0.2, N = 31, M = 18."""
    from study.calibration import calibrate

    c = calibrate(31, 18, participant_sd=0.3, sample_sd=0.2, log_odds=0.3, n_sim=2000, seed=5)
    print(
        f"\npower at log-odds 0.3: crossed {c.crossed:.3f} (one-sided {c.crossed_greater:.3f}), "
        f"paper Z {c.paper_z:.3f}, t {c.t_pairs:.3f}"
    )
    assert 0.6 < c.crossed < c.crossed_greater < 0.95


def test_bradley_terry_bootstrap_over_samples_widens_the_interval_when_samples_vary():
    rng = np.random.default_rng(4)
    n, m = 20, 12
    lean = rng.normal(0, 1.5, m)  # samples differ a lot in which method they favour
    rows = [
        dict(
            set_name="s",
            method_a="X",
            method_b="Y",
            pair_id=j,
            sample=f"d{j}",
            participant=f"p{i}",
            choice="A" if rng.random() < 1 / (1 + np.exp(-lean[j])) else "B",
        )
        for i in range(n)
        for j in range(m)
    ]
    votes = pd.DataFrame(rows)
    both = st.bradley_terry(votes, n_boot=200, seed=0).frame
    people = st.bradley_terry(votes, n_boot=200, seed=0, resample="participants").frame
    width = lambda f: float(f.loc["X", "ci_high"] - f.loc["X", "ci_low"])  # noqa: E731
    assert width(both) > 1.5 * width(people)
    assert both.loc["X", "score"] == people.loc["X", "score"]
    with pytest.raises(ValueError, match="resample"):
        st.bradley_terry(votes, n_boot=2, resample="pairs")
