"""Tables of results: one row per trial, and per configuration statistics over seeds."""

import pandas as pd

from suite import diagnosis


def trials_frame(rows: list[dict], metrics, curves: dict | None = None) -> pd.DataFrame:
    """One row per trial: the scientific labels, seed, status and every metric. With
    `curves` ({trial_id: {name: values}}), also the `diagnosis` of each trial's curves
    (`suite.diagnosis`)."""
    records = []
    for r in rows:
        rec = {**{f"{k}": v for k, v in r["labels"].items()}, "seed": r["seed_index"],
               "status": r["status"], "config_hash": r["config_hash"]}
        if curves is not None:
            rec["diagnosis"] = diagnosis.of_trial(r, curves.get(r["trial_id"], {})).label
        rec |= {m: r["metrics"].get(m) for m in metrics}
        records.append(rec)
    return pd.DataFrame.from_records(records)


def summary(frame: pd.DataFrame, axes: list[str], metrics) -> pd.DataFrame:
    """Per configuration: n seeds, diverged count, and mean and std (ddof=1) of each
    metric over the seeds where it is defined. Rows keep the plan's order."""
    if frame.empty:
        return frame
    grouped = frame.groupby(axes, sort=False, dropna=False)
    out = grouped.agg(n=("seed", "size"),
                      diverged=("status", lambda s: int((s == "diverged").sum())))
    for m in metrics:
        values = grouped[m]
        out[f"{m}_mean"] = values.mean()
        out[f"{m}_std"] = values.std(ddof=1)
    if "diagnosis" in frame.columns:
        out["diagnosis"] = grouped["diagnosis"].agg(_most_common)
    return out.reset_index()


def _most_common(labels: pd.Series) -> str:
    """The most common label and its count, e.g. 'overfitting (3/5)'; ties go to the
    label that comes first in `suite.diagnosis.LABELS` (problems before 'good')."""
    order = diagnosis.LABELS
    counts = labels.value_counts()
    top = min(counts[counts == counts.max()].index,
              key=lambda x: (order.index(x) if x in order else len(order), x))
    return f"{top} ({counts[top]}/{len(labels)})"
