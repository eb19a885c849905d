"""Figures by name: `registry` holds them; one module per family registers its own.

- `registry`: `FigureContext`, `FIGURES`, `register`, `draw`, `png_bytes`.
- `supervised`: the supervised studies' data, metric-vs-axis, loss-curve and
  decision-boundary figures (their maps computed by `suite.training.decision_grid`).
- `catalogue_studies`: the optimiser-path, imbalance and capacity studies' figures.
- `class_area`: the class-area studies' figures.
- `mnist`: the MNIST studies' confusion matrices and search histories.

Each family computes its figure data in pure functions (tested) and keeps drawing thin.
Importing this package registers every family's figures.
"""

from suite.figures import (  # noqa: I001  (registry first: the families import it)
    catalogue_studies,
    class_area,
    mnist,
    registry,
    supervised,
)
from suite.figures.registry import (
    FIGURES,
    FigureContext,
    FigureUnavailable,
    draw,
    png_bytes,
    register,
)

__all__ = ["FIGURES", "FigureContext", "FigureUnavailable", "catalogue_studies", "class_area",
           "draw", "mnist", "png_bytes", "register", "registry", "supervised"]
