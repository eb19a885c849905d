"""Figures by name. Each is `draw(ctx) -> matplotlib Figure`, fed by pure functions that
compute its data (tests check the data; drawing stays thin). Tasks list the figure names
they support; a study declares which it wants; the report draws them. The figure modules
of each family (`suite.figures.supervised`, ...) add theirs with `register`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from suite.errors import UnknownNameError, did_you_mean  # noqa: E402

if TYPE_CHECKING:  # (figures sit below the study layer: the type only)
    from suite.study.spec import Study


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


class FigureUnavailable(Exception):
    """The figure does not apply to this study's trials (the reason is shown instead)."""


def png_bytes(fig: Figure, dpi: int = 96) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def draw(name: str, ctx: FigureContext) -> Figure:
    """The figure `name` for `ctx`; UnknownNameError lists the registered names."""
    if name not in FIGURES:
        raise UnknownNameError(f"Unknown figure '{name}'.{did_you_mean(name, FIGURES)} "
                               f"Registered figures: {', '.join(sorted(FIGURES))}.")
    return FIGURES[name](ctx)
