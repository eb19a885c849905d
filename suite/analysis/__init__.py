"""Analysis of stored trials: tables and statistics over seeds, diagnoses, findings.

- `tables`: one row per trial, per-configuration statistics over seeds (t intervals,
  paired tests with Holm's correction, best and ties), reference tables.
- `diagnosis`: one training-curve label per trial, read off its stored curves.
- `mnist_findings`: figure data and findings text of the MNIST studies.
- `claims`: the notebooks' claims declared by studies, validated and checked (findings).
"""

from suite.analysis import claims, diagnosis, mnist_findings, tables
from suite.analysis.tables import (
    INTERVAL_METHOD,
    TEST_METHOD,
    best_and_ties,
    higher_is_better,
    holm,
    paired_p,
    reference_table,
    seed_stats,
    summary,
    t_interval,
    trials_frame,
)

__all__ = ["INTERVAL_METHOD", "TEST_METHOD", "best_and_ties", "claims", "diagnosis",
           "higher_is_better", "holm", "mnist_findings", "paired_p", "reference_table",
           "seed_stats", "summary", "t_interval", "tables", "trials_frame"]
