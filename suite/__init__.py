"""suite: declare small deep-learning studies once, run them anywhere, report honestly.

`import suite` is light (no torch): the notebook calls of `suite.api` (load, declare,
run, results, trials, curves, render_report, ...) are imported on first use.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("suite")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.2.0"

_API = ("load", "declare", "run", "trials", "summary", "results", "curves", "render_report",
        "verify_store", "publish_catalogue", "default_store")


def __getattr__(name: str):
    """The notebook calls (`suite.api`), imported when first used (PEP 562)."""
    if name in _API:
        from suite import api

        return getattr(api, name)
    raise AttributeError(f"module 'suite' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
