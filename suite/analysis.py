"""Tables of results: one row per trial, and per configuration statistics over seeds."""

import pandas as pd


def trials_frame(rows: list[dict], metrics) -> pd.DataFrame:
    """One row per trial: the scientific labels, seed, status and every metric."""
    records = []
    for r in rows:
        rec = {**{f"{k}": v for k, v in r["labels"].items()}, "seed": r["seed_index"],
               "status": r["status"], "config_hash": r["config_hash"]}
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
    return out.reset_index()
