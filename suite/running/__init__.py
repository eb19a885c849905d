"""Running a study: trials not yet in the store are run, where the executor says, and stored.

- `runner`: plan the study, skip finished trials, run the rest, store each at once.
- `executors`: where trials run (this process, a local process pool, a Dask cluster).
- `environment`: the fingerprint (device, versions, code digest) recorded with every run.
- `verify`: re-run stored trials and compare them with the store bit for bit.
"""

from suite.running import environment, executors, runner, verify
from suite.running.executors import EXECUTORS, make_executor
from suite.running.runner import run_study

__all__ = ["EXECUTORS", "environment", "executors", "make_executor", "run_study", "runner",
           "verify"]
