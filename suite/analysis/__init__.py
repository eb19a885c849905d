"""Analysis of stored trials: tables and statistics over seeds, diagnoses, findings.

- `tables`: one row per trial, per-configuration statistics over seeds (t intervals, on
  the logit scale for metrics with declared bounds; diverged trials left out, stalled ones
  counted; paired tests with Holm's correction, best and ties), reference tables.
- `diagnosis`: one training-curve label per trial, read off its stored curves.
- `mnist_findings`: figure data and findings text of the MNIST studies.
- `claims`: the notebooks' claims declared by studies, validated and checked (findings).
"""

from suite.analysis import claims, diagnosis, mnist_findings, tables
from suite.analysis.tables import (
    BOUNDED_INTERVAL_METHOD,
    COUNTING_RULE,
    FAILED,
    INTERVAL_METHOD,
    TEST_METHOD,
    best_and_ties,
    counted,
    higher_is_better,
    holm,
    interval,
    logit_t_interval,
    paired_p,
    reference_table,
    seed_stats,
    summary,
    t_interval,
    trials_frame,
)

__all__ = ["BOUNDED_INTERVAL_METHOD", "COUNTING_RULE", "FAILED", "INTERVAL_METHOD",
           "TEST_METHOD", "best_and_ties", "claims", "counted", "diagnosis", "higher_is_better",
           "holm", "interval", "logit_t_interval", "mnist_findings", "paired_p",
           "reference_table", "seed_stats", "summary", "t_interval", "tables", "trials_frame"]
