"""The imbalance metrics against scikit-learn's on the same arrays, and the undefined cases."""

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from suite.tasks.imbalance import best_f1_threshold
from suite.training import binary_metrics as bm


def arrays(seed: int, n: int = 200, share: float = 0.1, levels: int | None = None):
    """Labels with about `share` positives and scores that favour them; with `levels`,
    scores rounded to that many values so that there are ties."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < share).astype(int)
    s = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 1)))
    if levels:
        s = np.round(s * levels) / levels
    return y, s


def sklearn_metrics(y, s, threshold):
    p = (s >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[0, 1]).ravel()
    return {"accuracy": skm.accuracy_score(y, p), "precision": skm.precision_score(y, p),
            "recall": skm.recall_score(y, p), "f1": skm.f1_score(y, p),
            "specificity": skm.recall_score(y, p, pos_label=0),
            "balanced_accuracy": skm.balanced_accuracy_score(y, p),
            "roc_auc": skm.roc_auc_score(y, s), "pr_auc": skm.average_precision_score(y, s),
            "cm": [[tn, fp], [fn, tp]]}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("levels", [None, 10])
@pytest.mark.parametrize("threshold", [0.2, 0.5])
def test_every_metric_matches_scikit_learn(seed, levels, threshold):
    y, s = arrays(seed, share=[0.5, 0.2, 0.05][seed % 3], levels=levels)
    ours, undefined, cm = bm.report(y, s, threshold)
    ref = sklearn_metrics(y, s, threshold)
    assert undefined == {}
    assert cm == ref.pop("cm")
    for name, value in ref.items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name
    assert set(ours) == set(bm.THRESHOLD_METRICS + bm.SCORE_METRICS)


def test_curves_match_scikit_learn():
    y, s = arrays(3, levels=20)
    fpr, tpr = bm.roc_points(y, s)
    ref_fpr, ref_tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    assert np.allclose(fpr, ref_fpr) and np.allclose(tpr, ref_tpr)
    thr, precision, recall = bm.pr_points(y, s)
    ref_p, ref_r, ref_t = skm.precision_recall_curve(y, s, drop_intermediate=False)
    # scikit-learn lists thresholds ascending and appends the (recall 0, precision 1) end
    assert np.allclose(thr, ref_t[::-1])
    assert np.allclose(precision, ref_p[:-1][::-1]) and np.allclose(recall, ref_r[:-1][::-1])


def test_no_positive_predictions_leave_precision_undefined_not_zero():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.35, 0.4])
    m, undefined, cm = bm.report(y, s, 0.5)
    assert cm == [[3, 0], [2, 0]]
    assert m["precision"] is None and "no positive predictions" in undefined["precision"]
    assert m["recall"] == 0 and m["f1"] == 0 and m["specificity"] == 1
    assert m["roc_auc"] == 1.0 and m["balanced_accuracy"] == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns, then returns 0
        assert skm.precision_score(y, (s >= 0.5).astype(int)) == 0.0


def test_one_class_only_leaves_the_rank_metrics_undefined():
    y, s = np.zeros(6, dtype=int), np.linspace(0, 1, 6)
    m, undefined, _ = bm.report(y, s, 0.5)
    assert m["recall"] is None and "no positive samples" in undefined["recall"]
    assert m["roc_auc"] is None and "one class" in undefined["roc_auc"]
    assert m["pr_auc"] is None and m["balanced_accuracy"] is None
    assert m["accuracy"] == 0.5 and m["f1"] == 0.0  # fp = 3: F1 = 0 / 3
    m, undefined, _ = bm.report(np.ones(4, dtype=int), np.full(4, 0.9), 0.5)
    assert m["specificity"] is None and "no negative samples" in undefined["specificity"]
    m, undefined, _ = bm.report(np.zeros(3, dtype=int), np.full(3, 0.1), 0.5)
    assert m["f1"] is None and "no positive samples and no positive" in undefined["f1"]


@pytest.mark.slow
def test_the_f1_threshold_is_the_best_on_its_own_data():
    for seed in range(5):
        y, s = arrays(seed, n=150, share=0.15, levels=30)
        t, why = best_f1_threshold(s, y)
        best = max(skm.f1_score(y, (s >= c).astype(int), zero_division=0) for c in np.unique(s))
        assert skm.f1_score(y, (s >= t).astype(int)) == pytest.approx(best)
        assert why.startswith("max F1 ")
        assert t not in set(s)  # a midpoint between two distinct scores


def test_no_validation_positive_gives_no_threshold():
    t, why = best_f1_threshold(np.array([0.2, 0.7]), np.array([0, 0]))
    assert t is None and "no positive" in why
