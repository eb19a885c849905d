"""Training: the parts every task builds its trials from, and the engines that train them.

- `components`: activations, losses and optimisers by name.
- `models`: the MLP family, initialised from its own seeded generator.
- `datasets`: generated 2-D datasets by name (`Points`); `mnist_data`: MNIST read from a
  data root; `shapes`: segmentation images and nets of the class-area studies.
- `recipe`: the minibatch training recipe (one model), its metrics and early stopping.
- `binary_metrics`: binary classification metrics that say when they are undefined.
- `decision_grid`: a model evaluated on a grid of the plane (the decision maps, and the
  supervised task's boundary_width metric).
- `stacked_seeds`: trials that differ only in their seeds trained together as one stacked
  model (`fit_batch`), built on `stacked_mlp` (stacked weights, batched matrix products)
  and `stacked_heads` (the losses' per-sample gradients).
"""

from suite.training import (
    binary_metrics,
    components,
    datasets,
    decision_grid,
    mnist_data,
    models,
    recipe,
    shapes,
    stacked_heads,
    stacked_mlp,
    stacked_seeds,
)
from suite.training.datasets import Points
from suite.training.models import MLP
from suite.training.recipe import train
from suite.training.stacked_seeds import fit_batch, make_splits

__all__ = ["MLP", "Points", "binary_metrics", "components", "datasets", "decision_grid",
           "fit_batch",
           "make_splits", "mnist_data", "models", "recipe", "shapes", "stacked_heads",
           "stacked_mlp", "stacked_seeds", "train"]
