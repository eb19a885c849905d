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
    assert list(s.columns) == ["metric", "n", "diverged", "defined", "mean", "std", "ci_low",
                               "ci_high"]
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
