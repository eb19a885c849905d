"""Figures by name. Each is `draw(ctx) -> matplotlib Figure`, fed by pure functions that
compute its data (tests check the data; drawing stays thin). Tasks list the figure names
they support; a study declares which it wants; the report draws them.
"""

from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from suite.spec import Study  # noqa: E402


@dataclass
class FigureContext:
    study: Study
    trials: list[dict]  # store rows (labels, config, seeds, status, metrics, artifacts, ...)
    store: object  # suite.store.Store: curves(trial_id), blob(trial_id, name)


FIGURES: dict[str, Callable[[FigureContext], Figure]] = {}


def register(name: str):
    """Decorator: add a drawing function to FIGURES under `name`."""

    def wrap(fn):
        FIGURES[name] = fn
        return fn

    return wrap


from suite import class_area_figures  # noqa: E402,F401  (registers the class-area figures)
