"""Statistics over seeds: intervals, paired tests, Holm, the published reference."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from suite import analysis


def frame(rows):
    """A trials frame from (config, seed, status, value) tuples."""
    return pd.DataFrame([{"width": c, "seed": s, "status": st, "acc": v, "loss": v}
                         for c, s, st, v in rows])


def test_t_interval_matches_hand_computation_and_scipy():
    # mean 2, s = 1, n = 3: half-width = t(0.975, 2) / sqrt(3) = 4.302652729911275 / 1.7320508
    lo, hi = analysis.t_interval([1.0, 2.0, 3.0])
    assert lo == pytest.approx(2 - 2.4841377118, abs=1e-9)
    assert hi == pytest.approx(2 + 2.4841377118, abs=1e-9)
    values = [0.61, 0.64, 0.7, 0.58, 0.66]
    expected = stats.t.interval(0.95, 4, loc=np.mean(values), scale=stats.sem(values))
    assert analysis.t_interval(values) == pytest.approx(expected, rel=1e-12)


def test_t_interval_leaves_out_undefined_values_and_needs_two():
    assert analysis.t_interval([1.0, None, 3.0, float("nan")]) == pytest.approx(
        analysis.t_interval([1.0, 3.0]))
    assert all(math.isnan(v) for v in analysis.t_interval([1.0, None]))
    assert analysis.t_interval([0.5, 0.5, 0.5]) == (0.5, 0.5)


def test_seed_stats_counts_and_moments():
    f = frame([("a", 0, "ok", 1.0), ("a", 1, "ok", 2.0), ("a", 2, "ok", 3.0),
               ("b", 0, "ok", 0.5), ("b", 1, "diverged", None), ("b", 2, "ok", 0.7)])
    s = analysis.seed_stats(f, ["width"], ["acc"]).set_index("width")
    assert list(s.columns) == ["metric", "n", "diverged", "stalled", "defined", "mean", "std",
                               "ci_low", "ci_high", "interval"]
    assert s.loc["a", ["n", "diverged", "defined"]].tolist() == [3, 0, 3]
    assert s.loc["b", ["n", "diverged", "defined"]].tolist() == [3, 1, 2]
    assert s.loc["a", "mean"] == 2.0 and s.loc["a", "std"] == 1.0
    assert s.loc["b", "mean"] == pytest.approx(0.6)
    assert s.loc["b", "std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    half = stats.t.ppf(0.975, 1) * np.std([0.5, 0.7], ddof=1) / math.sqrt(2)
    assert s.loc["b", "ci_low"] == pytest.approx(0.6 - half)


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> x3, x2, x1 = 0.03, 0.06, 0.04 -> running max 0.06
    out = analysis.holm([0.01, 0.04, 0.03, float("nan")])
    assert out[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(out[3])
    assert analysis.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_paired_p_is_scipy_ttest_rel_with_degenerate_cases():
    a, b = np.array([0.9, 0.8, 0.85, 0.95]), np.array([0.7, 0.75, 0.8, 0.7])
    assert analysis.paired_p(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert analysis.paired_p(a, a) == 1.0
    whole = np.array([1.0, 2.0, 3.0])
    assert analysis.paired_p(whole, whole - 0.5) == 0.0  # one constant, non-zero difference
    assert math.isnan(analysis.paired_p(a[:1], b[:1]))


def test_best_and_ties_verdicts():
    rng = np.random.default_rng(0)
    base = rng.normal(0.8, 0.05, size=6)  # per seed: the paired part every config shares
    rows = []
    for s in range(6):
        rows += [("best", s, "ok", base[s] + 0.10),
                 ("close", s, "ok", base[s] + 0.10 + (0.02 if s % 2 else -0.021)),
                 ("worse", s, "ok", base[s] + rng.normal(0, 0.002)),
                 ("dead", s, "diverged", None)]
    out = analysis.best_and_ties(frame(rows), ["width"], "acc").set_index("width")
    assert out["verdict"].to_dict() == {"best": "best", "close": "tied", "worse": "worse",
                                        "dead": "no data"}
    assert out.loc["worse", "n_pairs"] == 6 and out.loc["dead", "n_pairs"] == 0
    # Holm over the two tested comparisons
    p = [out.loc["close", "p"], out.loc["worse", "p"]]
    assert [out.loc["close", "p_holm"], out.loc["worse", "p_holm"]] == pytest.approx(
        analysis.holm(p))
    assert out.loc["worse", "minus_best"] == pytest.approx(-0.1, abs=0.01)


def test_best_is_the_lowest_mean_for_losses():
    rows = [(c, s, "ok", v) for s in range(3) for c, v in (("a", 0.3 + s / 100), ("b", 0.1))]
    out = analysis.best_and_ties(frame(rows), ["width"], "loss").set_index("width")
    assert out.loc["b", "verdict"] == "best"
    assert analysis.higher_is_better("val_accuracy")
    assert not analysis.higher_is_better("final_val_loss")


def test_untested_with_one_paired_seed():
    rows = [("a", 0, "ok", 0.9), ("b", 0, "ok", 0.5)]
    out = analysis.best_and_ties(frame(rows), ["width"], "acc").set_index("width")
    assert out["verdict"].tolist() == ["best", "untested"]


def test_reference_table_says_whether_the_interval_contains_the_number():
    f = frame([("1", s, "ok", v) for s, v in enumerate([0.6, 0.62, 0.64])] +
              [("2", s, "ok", v) for s, v in enumerate([0.8, 0.81, 0.82])] +
              [("3", 0, "ok", 0.9)])
    s = analysis.seed_stats(f, ["width"], ["acc"])
    ref = {"metric": "acc", "values": {"3": 0.9, "2": 0.95, "1": 0.62, "9": 1.0}}
    out = analysis.reference_table(s, ref, "width", order=["1", "2", "3", "9"])
    assert out["width"].tolist() == ["1", "2", "3", "9"]
    assert out["contains"].tolist() == [True, False, None, None]
    assert out["verdict"].tolist() == [
        "inside the interval", "outside: published is above the interval",
        "interval undefined (fewer than 2 seeds)", "not run in this variant"]
    assert out.loc[0, "n"] == 3 and out.loc[0, "mean"] == pytest.approx(0.62)


def test_a_metric_defined_nowhere_has_no_best_but_still_has_counts():
    f = frame([(c, s, "diverged", None) for c in "ab" for s in range(2)])
    with pytest.raises(ValueError, match="no defined values of 'acc'"):
        analysis.best_and_ties(f, ["width"], "acc")
    s = analysis.seed_stats(f, ["width"], ["acc"])
    assert s["diverged"].tolist() == [2, 2] and s["defined"].tolist() == [0, 0]
    assert s["mean"].isna().all()


# -- the rule for failed trials ----------------------------------------------------------

def test_a_stalled_trials_accuracy_is_averaged_and_a_diverged_ones_is_not():
    # config a: one stalled seed at 0.5 (kept); config b: a diverged seed whose task still
    # stored 0.5 (left out all the same: a diverged trial's metrics are undefined)
    f = frame([("a", 0, "ok", 0.9), ("a", 1, "stalled", 0.5), ("a", 2, "ok", 0.7),
               ("b", 0, "ok", 0.9), ("b", 1, "diverged", 0.5), ("b", 2, "ok", 0.7)])
    s = analysis.seed_stats(f, ["width"], ["acc"]).set_index("width")
    assert s.loc["a", ["n", "diverged", "stalled", "defined"]].tolist() == [3, 0, 1, 3]
    assert s.loc["b", ["n", "diverged", "stalled", "defined"]].tolist() == [3, 1, 0, 2]
    assert s.loc["a", "mean"] == pytest.approx((0.9 + 0.5 + 0.7) / 3)
    assert s.loc["b", "mean"] == pytest.approx((0.9 + 0.7) / 2)
    summary = analysis.summary(f, ["width"], ["acc"]).set_index("width")
    assert summary.loc["a", ["diverged", "stalled"]].tolist() == [0, 1]
    assert summary.loc["b", ["diverged", "stalled"]].tolist() == [1, 0]
    assert summary.loc["a", "acc_mean"] == pytest.approx(0.7)
    assert summary.loc["b", "acc_mean"] == pytest.approx(0.8)
    # the paired test sees the stalled seed and not the diverged one
    best = analysis.best_and_ties(f, ["width"], "acc").set_index("width")
    assert best.loc["a", "n_pairs"] == 2 and best.loc["b", "mean"] == pytest.approx(0.8)


# -- intervals inside the metric's bounds ------------------------------------------------

T4 = stats.t.ppf(0.975, 4)  # 2.7764451051977987


def test_all_seeds_at_one_give_no_spread_and_stay_at_the_bound():
    assert analysis.logit_t_interval([1.0] * 5, (0, 1)) == (1.0, 1.0)
    assert analysis.interval([1.0] * 5, (0, 1)) == (1.0, 1.0, "no spread")
    assert analysis.interval([0.0] * 3, (0, 1)) == (0.0, 0.0, "no spread")
    assert analysis.interval([1.0] * 5) == (1.0, 1.0, "no spread")  # the t interval too


def test_one_seed_off_by_hand():
    # values 1, 1, 1, 1, 0.9: m = 0.98, s / sqrt(5) = 0.02 exactly, logit(m) = ln 49;
    # half-width on the logit scale h = t(0.975, 4) * 0.02 / (0.98 * 0.02) = t / 0.98
    lo, hi, method = analysis.interval([1, 1, 1, 1, 0.9], (0, 1))
    h = T4 / 0.98
    assert method == "logit t"
    assert lo == pytest.approx(49 * math.exp(-h) / (1 + 49 * math.exp(-h)), rel=1e-12)
    assert hi == pytest.approx(49 * math.exp(h) / (1 + 49 * math.exp(h)), rel=1e-12)
    assert (lo, hi) == pytest.approx((0.742445, 0.998801), abs=1e-6)
    assert 0 < lo < 0.98 < hi < 1  # inside the bounds, around the mean
    t_lo, t_hi = analysis.t_interval([1, 1, 1, 1, 0.9])
    assert t_hi > 1  # what the Student t interval prints: past the bound


def test_two_seeds_by_hand():
    # 0.9 and 0.8: m = 0.85, s / sqrt(2) = 0.05, h = t(0.975, 1) * 0.05 / (0.85 * 0.15)
    h = 12.706204736174698 * 0.05 / (0.85 * 0.15)
    odds = 0.85 / 0.15
    lo, hi = analysis.logit_t_interval([0.9, 0.8], (0, 1))
    assert lo == pytest.approx(odds * math.exp(-h) / (1 + odds * math.exp(-h)), rel=1e-9)
    assert hi == pytest.approx(odds * math.exp(h) / (1 + odds * math.exp(h)), rel=1e-9)
    assert all(math.isnan(v) for v in analysis.logit_t_interval([0.9], (0, 1)))


def test_logit_interval_against_scipy_on_the_logit_scale():
    # the same interval built from scipy's pieces: a t interval of logit(mean) whose
    # standard error is the delta method's sem / (m (1 - m)), mapped back by expit
    values = np.array([0.61, 0.64, 0.7, 0.58, 0.66])
    m = values.mean()
    logit_lo, logit_hi = stats.t.interval(0.95, 4, loc=np.log(m / (1 - m)),
                                          scale=stats.sem(values) / (m * (1 - m)))
    expected = (1 / (1 + np.exp(-logit_lo)), 1 / (1 + np.exp(-logit_hi)))
    assert analysis.logit_t_interval(values, (0, 1)) == pytest.approx(expected, rel=1e-12)
    # far from the bounds it is close to the t interval
    assert analysis.logit_t_interval(values, (0, 1)) == pytest.approx(
        analysis.t_interval(values), abs=0.01)


def test_other_bounds_are_rescaled_and_values_outside_are_refused():
    gap = [-0.2, 0.1, 0.05, 0.3]  # train minus test accuracy, in [-1, 1]
    lo, hi = analysis.logit_t_interval(gap, (-1, 1))
    u_lo, u_hi = analysis.logit_t_interval([(g + 1) / 2 for g in gap], (0, 1))
    assert (lo, hi) == pytest.approx((2 * u_lo - 1, 2 * u_hi - 1), rel=1e-12)
    with pytest.raises(ValueError, match="outside their declared bounds"):
        analysis.logit_t_interval([0.5, 1.2], (0, 1))


def test_bounded_interval_is_honest_with_five_seeds():
    # coverage of the true mean over 2000 draws of 5 seeds, against scipy's Beta and
    # binomial accuracies near the bound (where the t interval covers less than it says)
    rng = np.random.default_rng(7)
    cases = [(lambda: rng.beta(30, 1, 5), 30 / 31), (lambda: rng.beta(8, 2, 5), 0.8),
             (lambda: rng.binomial(500, 0.99, 5) / 500, 0.99)]
    for draw, mean in cases:
        covered = t_covered = 0
        for _ in range(2000):
            v = draw()
            lo, hi = analysis.logit_t_interval(v, (0, 1))
            covered += lo <= mean <= hi
            t_lo, t_hi = analysis.t_interval(v)
            t_covered += t_lo <= mean <= t_hi
            assert 0 <= lo <= v.mean() <= hi <= 1
        assert covered / 2000 >= 0.93 and covered >= t_covered


def test_seed_stats_uses_the_declared_bounds():
    f = frame([("a", s, "ok", v) for s, v in enumerate([1.0, 1.0, 1.0, 1.0, 0.9])])
    s = analysis.seed_stats(f, ["width"], ["acc", "loss"], {"acc": (0.0, 1.0)})
    acc, loss = s.iloc[0], s.iloc[1]
    assert acc["interval"] == "logit t" and acc["ci_high"] < 1
    assert loss["interval"] == "t" and loss["ci_high"] > 1  # no bounds declared
