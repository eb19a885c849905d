"""Binary classification metrics that say when they are undefined, instead of guessing.

Class 1 is the positive (minority) class. From the confusion matrix [[tn, fp], [fn, tp]]:

- accuracy = (tp + tn) / n;
- precision = tp / (tp + fp): undefined with no positive predictions;
- recall (sensitivity) = tp / (tp + fn): undefined with no positive samples;
- specificity = tn / (tn + fp): undefined with no negative samples;
- F1 = 2 tp / (2 tp + fp + fn) (the harmonic mean of precision and recall, and its limit 0
  when precision alone is undefined but positives exist): undefined when tp + fp + fn = 0;
- balanced accuracy = (recall + specificity) / 2: undefined when either is.

From the scores (higher = more positive): ROC AUC, the probability that a random positive
outscores a random negative (ties count one half), undefined unless both classes are
present; PR AUC as average precision, sum over distinct thresholds of (R_k - R_{k-1}) P_k,
undefined without positives. These are the definitions scikit-learn uses (its
`average_precision_score` for PR AUC); the tests compare them on the same arrays.

Every function returns the values and a dict {metric: reason} for the undefined ones;
an undefined value is None, never 0.
"""

import numpy as np
from scipy.stats import rankdata

THRESHOLD_METRICS = ("accuracy", "precision", "recall", "f1", "specificity",
                     "balanced_accuracy")
SCORE_METRICS = ("roc_auc", "pr_auc")


def confusion(y_true, y_pred) -> tuple[int, int, int, int]:
    """(tn, fp, fn, tp) for 0/1 labels and 0/1 predictions."""
    t, p = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    return (int((~t & ~p).sum()), int((~t & p).sum()), int((t & ~p).sum()),
            int((t & p).sum()))


def _ratio(num: int, den: int, name: str, why: str, undefined: dict):
    if den == 0:
        undefined[name] = why
        return None
    return num / den


def from_confusion(tn: int, fp: int, fn: int, tp: int) -> tuple[dict, dict]:
    """The threshold metrics of one confusion matrix, and the reasons for undefined ones."""
    und: dict[str, str] = {}
    m = {"accuracy": _ratio(tp + tn, tn + fp + fn + tp, "accuracy", "no samples", und),
         "precision": _ratio(tp, tp + fp, "precision", "no positive predictions (tp + fp = 0)",
                             und),
         "recall": _ratio(tp, tp + fn, "recall", "no positive samples (tp + fn = 0)", und),
         "specificity": _ratio(tn, tn + fp, "specificity", "no negative samples (tn + fp = 0)",
                               und),
         "f1": _ratio(2 * tp, 2 * tp + fp + fn, "f1",
                      "no positive samples and no positive predictions", und)}
    if m["recall"] is None or m["specificity"] is None:
        m["balanced_accuracy"] = None
        und["balanced_accuracy"] = "recall or specificity is undefined"
    else:
        m["balanced_accuracy"] = (m["recall"] + m["specificity"]) / 2
    return m, und


def roc_auc(y_true, scores) -> tuple[float | None, str]:
    """(AUC, "") or (None, reason): the Mann-Whitney statistic with mid-ranks for ties."""
    y = np.asarray(y_true).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None, "only one class among the samples"
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)), ""


def pr_points(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds descending, precision, recall) at each distinct score."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # end of each tie group
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    n_pos = max(int(y.sum()), 1)
    return s[last], tp / (tp + fp), tp / n_pos


def roc_points(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate), starting at (0, 0)."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    return (np.r_[0.0, fp / max(int((~y).sum()), 1)], np.r_[0.0, tp / max(int(y.sum()), 1)])


def average_precision(y_true, scores) -> tuple[float | None, str]:
    """(AP, "") or (None, reason): sum over distinct thresholds of (R_k - R_{k-1}) P_k."""
    if not np.asarray(y_true).astype(bool).any():
        return None, "no positive samples"
    _, precision, recall = pr_points(y_true, scores)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision)), ""


def report(y_true, scores, threshold: float) -> tuple[dict, dict, list[list[int]]]:
    """Every metric for predictions `scores >= threshold`: (metrics, undefined reasons,
    confusion matrix [[tn, fp], [fn, tp]])."""
    tn, fp, fn, tp = confusion(y_true, np.asarray(scores) >= threshold)
    metrics, undefined = from_confusion(tn, fp, fn, tp)
    for name, metric in (("roc_auc", roc_auc), ("pr_auc", average_precision)):
        metrics[name], why = metric(y_true, scores)
        if why:
            undefined[name] = why
    return metrics, undefined, [[tn, fp], [fn, tp]]
