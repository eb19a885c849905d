"""suite: declare small deep-learning studies once, run them anywhere, report honestly."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("suite")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.1.0"
