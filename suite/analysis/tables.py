"""Tables of results: one row per trial, and per configuration statistics over seeds
(means, intervals that respect each metric's bounds, the best configuration and those tied
with it, and the published reference beside the suite's numbers).

Failed trials, one rule (`COUNTING_RULE`): a `diverged` trial (non-finite loss) has no
defined metric, so it is left out of every mean, interval and test; a `stalled` trial (its
training loss never fell below the untrained model's) keeps its metrics, which are counted
like any other trial's. Both are counted in every statistics table."""

import math

import numpy as np
import pandas as pd
from scipy import special as _special
from scipy import stats as _stats

from suite.analysis import diagnosis


def trials_frame(rows: list[dict], metrics, curves: dict | None = None) -> pd.DataFrame:
    """One row per trial: the scientific labels, seed, status and every metric. With
    `curves` ({trial_id: {name: values}}), also the `diagnosis` of each trial's curves
    (`suite.analysis.diagnosis`)."""
    records = []
    for r in rows:
        rec = {**{f"{k}": v for k, v in r["labels"].items()}, "seed": r["seed_index"],
               "status": r["status"], "config_hash": r["config_hash"]}
        if curves is not None:
            rec["diagnosis"] = diagnosis.of_trial(r, curves.get(r["trial_id"], {})).label
        rec |= {m: r["metrics"].get(m) for m in metrics}
        records.append(rec)
    return pd.DataFrame.from_records(records)


FAILED = ("diverged", "stalled")  # the failed outcomes, counted in every statistics table
COUNTING_RULE = ("A diverged trial (non-finite training loss) has undefined metrics and is "
                 "left out of every mean, interval and test; a stalled trial (its training "
                 "loss never fell below the untrained model's) keeps its metrics, which are "
                 "averaged like any other trial's; both are counted")


def counted(frame: pd.DataFrame, metrics) -> pd.DataFrame:
    """`frame` with every metric of a diverged trial undefined (NaN), whatever its task
    stored: the values the statistics use."""
    metrics = [m for m in metrics if m in frame.columns]
    if frame.empty or "status" not in frame.columns or not metrics:
        return frame
    out = frame.copy()
    out[metrics] = out[metrics].astype(float)
    out.loc[out["status"] == "diverged", metrics] = np.nan
    return out


def _failures(status: pd.Series) -> dict[str, int]:
    return {k: int((status == k).sum()) for k in FAILED}


def summary(frame: pd.DataFrame, axes: list[str], metrics) -> pd.DataFrame:
    """Per configuration: n seeds, diverged and stalled counts, and mean and std (ddof=1)
    of each metric over the seeds where it is defined (`counted`). Rows keep the plan's
    order."""
    if frame.empty:
        return frame
    grouped = counted(frame, metrics).groupby(axes, sort=False, dropna=False)
    out = grouped.agg(n=("seed", "size"),
                      diverged=("status", lambda s: int((s == "diverged").sum())),
                      stalled=("status", lambda s: int((s == "stalled").sum())))
    for m in metrics:
        values = grouped[m]
        out[f"{m}_mean"] = values.mean()
        out[f"{m}_std"] = values.std(ddof=1)
    if "diagnosis" in frame.columns:
        out["diagnosis"] = grouped["diagnosis"].agg(_most_common)
    return out.reset_index()


# -- statistics over seeds --------------------------------------------------------------
# The report states these choices next to every table (see INTERVAL_METHOD, TEST_METHOD).

LEVEL = 0.95
ALPHA = 0.05
INTERVAL_METHOD = ("95% Student t interval over seeds: mean ± t(0.975, n−1) · s / √n, where n "
                   "counts the seeds on which the metric is defined (undefined with n < 2)")
BOUNDED_INTERVAL_METHOD = (
    "For a metric with declared bounds [a, b] (accuracies, AUCs, shares: [0, 1]) the 95% "
    "interval is the same t interval on the logit scale (the method 'logit t'): with m the "
    "mean and s the standard deviation of the values rescaled to [0, 1], "
    "logit(m) ± t(0.975, n−1) · s / (√n · m (1 − m)), mapped back (the delta method, as for "
    "the logit-transformed interval of a Kaplan–Meier survival estimate). It always lies "
    "inside the bounds and contains the mean, and it is wider on the side of the nearer "
    "bound, where values bunch up. Values at exactly a bound need no treatment, since only "
    "the mean is transformed; when every seed gives the same value (all at 1.0, say) the "
    "seeds show no spread and the interval is that value alone, as the t interval is "
    "(method 'no spread'). Not a bootstrap: with 5 seeds a bootstrap interval is about a "
    "third narrower than the t interval and covers less than it says")
TEST_METHOD = ("Paired t-test (scipy.stats.ttest_rel) of the best configuration against each "
               "other one, over the seed indexes where both are defined (configurations of "
               "one seed index share data, initialisation stream and data order), with Holm's "
               "step-down correction over the comparisons; 'tied' means the Holm-adjusted p is "
               f"at least {ALPHA}. A t-test rather than Wilcoxon's signed-rank test because "
               "with 5 seeds the smallest two-sided Wilcoxon p is 0.0625, so it could never "
               "separate two configurations")

# Metrics where smaller is better; anything else is maximised. Tasks with other such
# metrics add them here (or end their names in one of LOWER_SUFFIXES).
LOWER_IS_BETTER: set[str] = set()
LOWER_SUFFIXES = ("loss", "error")

Bounds = dict[str, tuple[float, float]]  # metric -> (lowest, highest) possible value


def higher_is_better(metric: str) -> bool:
    return not (metric in LOWER_IS_BETTER or metric.endswith(LOWER_SUFFIXES))


def _defined(values) -> np.ndarray:
    v = np.asarray([np.nan if x is None else x for x in values], dtype=float)
    return v[np.isfinite(v)]


def t_interval(values, level: float = LEVEL) -> tuple[float, float]:
    """The Student t interval of the mean of the defined values; (nan, nan) when n < 2."""
    v = _defined(values)
    if len(v) < 2:
        return math.nan, math.nan
    half = _stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def logit_t_interval(values, bounds: tuple[float, float],
                     level: float = LEVEL) -> tuple[float, float]:
    """The t interval of the mean on the logit scale for values that lie in
    `bounds` = (a, b) (`BOUNDED_INTERVAL_METHOD`): always inside [a, b], always containing
    the mean; the mean alone when the values do not vary; (nan, nan) when n < 2.
    Raises ValueError for a value outside the bounds."""
    v = _defined(values)
    a, b = map(float, bounds)
    if not a < b:
        raise ValueError(f"bounds must be (low, high) with low < high; got {bounds!r}")
    if len(v) and (v.min() < a or v.max() > b):
        raise ValueError(f"values {v.tolist()} lie outside their declared bounds [{a}, {b}]")
    if len(v) < 2:
        return math.nan, math.nan
    u = (v - a) / (b - a)
    m, s = u.mean(), u.std(ddof=1)
    if s == 0 or not 0 < m < 1:  # no spread (values that differ have 0 < m < 1)
        return float(v.mean()), float(v.mean())
    half = _stats.t.ppf(0.5 + level / 2, len(v) - 1) * s / (math.sqrt(len(v)) * m * (1 - m))
    centre = _special.logit(m)
    low, high = _special.expit(centre - half), _special.expit(centre + half)
    return float(a + (b - a) * low), float(a + (b - a) * high)


def interval(values, bounds: tuple[float, float] | None = None,
             level: float = LEVEL) -> tuple[float, float, str]:
    """(low, high, method) of the mean of the defined values: `logit_t_interval` for a
    bounded metric, else `t_interval`; method is 't', 'logit t', 'no spread' (the values
    do not vary) or '' (fewer than 2 values: no interval)."""
    v = _defined(values)
    if len(v) < 2:
        return math.nan, math.nan, ""
    lo, hi = t_interval(v, level) if bounds is None else logit_t_interval(v, bounds, level)
    method = "no spread" if v.std(ddof=1) == 0 else ("t" if bounds is None else "logit t")
    return lo, hi, method


def seed_stats(frame: pd.DataFrame, axes: list[str], metrics,
               bounds: Bounds | None = None) -> pd.DataFrame:
    """Long table, one row per (configuration, metric): n seeds, diverged and stalled
    counts, the number of seeds where the metric is defined (`counted`: never a diverged
    trial), mean, std (ddof=1), and the interval and its method (`interval`; `bounds`
    declares the metrics that have them)."""
    bounds = bounds or {}
    records = []
    for key, group in counted(frame, metrics).groupby(axes, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        base = dict(zip(axes, key, strict=True))
        failures = _failures(group["status"])
        for m in metrics:
            v = _defined(group[m])
            lo, hi, method = interval(v, bounds.get(m))
            records.append({**base, "metric": m, "n": len(group), **failures,
                            "defined": len(v), "mean": float(v.mean()) if len(v) else math.nan,
                            "std": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
                            "ci_low": lo, "ci_high": hi, "interval": method})
    return pd.DataFrame.from_records(records)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN entries are left out and stay NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def paired_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p of a vs b; 1 when the differences are all zero, 0 when
    they are one non-zero constant, NaN with fewer than 2 pairs."""
    d = a - b
    if len(d) < 2:
        return math.nan
    if np.all(d == d[0]):
        return 1.0 if d[0] == 0 else 0.0
    return float(_stats.ttest_rel(a, b).pvalue)


def best_and_ties(frame: pd.DataFrame, axes: list[str], metric: str,
                  alpha: float = ALPHA) -> pd.DataFrame:
    """Per configuration (plan order): mean of `metric`, and against the best one (by mean,
    in the metric's direction) the number of paired seeds, the mean paired difference
    (this minus best), p, Holm p and a verdict: best, tied, worse, untested (< 2 paired
    seeds) or no data."""
    table = counted(frame, [metric]).pivot_table(index=axes, columns="seed", values=metric,
                                                 sort=False, dropna=False, aggfunc="first")
    table = table.reindex(frame.drop_duplicates(axes).set_index(axes).index)
    means = table.mean(axis=1, skipna=True)
    if means.notna().sum() == 0:
        raise ValueError(f"no defined values of {metric!r}")
    best = means.idxmax() if higher_is_better(metric) else means.idxmin()
    rows = []
    for key, values in table.iterrows():
        both = values.notna() & table.loc[best].notna()
        a, b = table.loc[best][both].to_numpy(float), values[both].to_numpy(float)
        rows.append({"n_pairs": int(both.sum()), "mean": means[key],
                     "minus_best": float(np.mean(b - a)) if len(a) else math.nan,
                     "p": math.nan if key == best else paired_p(a, b)})
    out = pd.DataFrame(rows, index=table.index)
    out["p_holm"] = holm(out["p"].to_numpy())
    out["verdict"] = [_verdict(k == best, r, alpha) for k, r in out.iterrows()]
    return out.reset_index()


def _verdict(is_best: bool, row, alpha: float) -> str:
    if is_best:
        return "best"
    if math.isnan(row["mean"]):
        return "no data"
    if math.isnan(row["p_holm"]):
        return "untested"
    return "tied" if row["p_holm"] >= alpha else "worse"


def reference_table(stats: pd.DataFrame, reference: dict, axis: str,
                    order: list[str] | None = None) -> pd.DataFrame:
    """The published values beside the suite's mean and interval of the same metric, per
    axis label (in `order`, else as given), with whether the interval contains the
    published number."""
    rows = []
    mine = stats[stats["metric"] == reference["metric"]].set_index(axis)
    values = reference["values"]
    labels = [k for k in order or [] if k in values] + [k for k in values if k not in (order or [])]
    for label in labels:
        published = values[label]
        row = {axis: label, "published": float(published)}
        if label in mine.index:
            r = mine.loc[label]
            row |= {"n": int(r["defined"]), "mean": r["mean"], "ci_low": r["ci_low"],
                    "ci_high": r["ci_high"]}
        rows.append(row | {"contains": _contains(row), "verdict": _ref_verdict(row)})
    out = pd.DataFrame.from_records(rows, columns=[axis, "published", "n", "mean", "ci_low",
                                                   "ci_high", "contains", "verdict"])
    return out.astype({"n": "Int64"})


def _contains(row) -> bool | None:
    lo, hi = row.get("ci_low", math.nan), row.get("ci_high", math.nan)
    if math.isnan(lo) or math.isnan(hi):
        return None
    return bool(lo <= row["published"] <= hi)


def _ref_verdict(row) -> str:
    if "mean" not in row:
        return "not run in this variant"
    contains = _contains(row)
    if contains is None:
        return "interval undefined (fewer than 2 seeds)"
    if contains:
        return "inside the interval"
    side = "above" if row["published"] > row["ci_high"] else "below"
    return f"outside: published is {side} the interval"


def _most_common(labels: pd.Series) -> str:
    """The most common label and its count, e.g. 'overfitting (3/5)'; ties go to the
    label that comes first in `suite.analysis.diagnosis.LABELS` (problems before 'good')."""
    order = diagnosis.LABELS
    counts = labels.value_counts()
    top = min(counts[counts == counts.max()].index,
              key=lambda x: (order.index(x) if x in order else len(order), x))
    return f"{top} ({counts[top]}/{len(labels)})"


def diagnosis_table(frame: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """Per configuration (plan order): the most common curve-diagnosis label with its
    count (as in `summary`) and the number of seeds with each label."""
    grouped = frame.groupby(axes, sort=False, dropna=False)["diagnosis"]
    out = grouped.agg(_most_common).rename("diagnosis").to_frame()
    for label in diagnosis.LABELS:
        out[label] = grouped.agg(lambda s, label=label: int((s == label).sum()))
    out = out.reset_index()
    empty = [label for label in diagnosis.LABELS if not out[label].any()]
    return out.drop(columns=empty)
