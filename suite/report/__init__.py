"""`suite report`: the static HTML site of a store (`site`, rendering `templates/`)."""

from suite.report import site
from suite.report.site import build_site

__all__ = ["build_site", "site"]
