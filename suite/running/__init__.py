"""Running a study: trials not yet in the store are run, where the executor says, and stored.

- `runner`: plan the study, skip finished trials, run the rest, store each at once.
- `executors`: where trials run (this process, a local process pool, a Dask cluster).
- `environment`: the fingerprint (device, versions, code digest) recorded with every run.
- `verify`: re-run stored trials and compare them with the store bit for bit.
- `compare`: two outcomes of one trial compared bit for bit (verify, a plug-in's run_batch).

The names below are imported on first use (PEP 562), so that the command line can read
`executors` without importing torch.
"""

__all__ = ["EXECUTORS", "compare", "environment", "executors", "make_executor", "run_study",
           "runner", "verify"]


def __getattr__(name: str):
    if name in ("EXECUTORS", "make_executor"):
        from suite.running import executors

        return getattr(executors, name)
    if name == "run_study":
        from suite.running.runner import run_study

        return run_study
    if name in __all__:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
