"""Tasks by name: the code that runs one trial of a study (see `suite.tasks.base`).

- `base`: the seam between a study and its trials (`Task`, `TrialContext`, `TrialOutcome`);
  `params`: the typed parameters a task accepts.
- One module per task: `supervised`, `mnist`, `mnist_search`, `optimizer_paths`,
  `imbalance`, `class_area`, `segmentation_class_area`.
- The class-area tasks' internals: `area` (the area of one class, full and fast),
  `weight_path` (the final-layer weight family that moves it), `area_search` (searching
  the value that gives a target area) and `area_control` (one control trial).
- `_inner_map`: a search's batch of evaluations, on the caller's Dask cluster if any.
"""

from suite.errors import UnknownNameError, did_you_mean
from suite.tasks import (
    class_area,
    curve_scenarios,
    imbalance,
    mnist,
    mnist_search,
    optimizer_paths,
    segmentation_class_area,
    supervised,
    tabular,
)
from suite.tasks.base import Task, TrialOutcome

TASKS: dict[str, Task] = {
    "supervised": supervised.TASK,
    "tabular": tabular.TASK,
    "mnist": mnist.TASK,
    "mnist-search": mnist_search.TASK,
    "optimizer-path": optimizer_paths.TASK,
    "imbalance": imbalance.TASK,
    "class-area": class_area.TASK,
    "segmentation-class-area": segmentation_class_area.TASK,
    "curve-scenario": curve_scenarios.TASK,
}


def get(name: str) -> Task:
    """The task called `name`: shipped or registered by a plug-in already loaded
    (`suite.study.plugin_loading.get_task` also loads the installed plug-ins)."""
    if name not in TASKS:
        valid = ", ".join(sorted(TASKS))
        raise UnknownNameError(
            f"Unknown task '{name}'.{did_you_mean(name, TASKS)} Valid names: {valid}."
        )
    return TASKS[name]


__all__ = ["TASKS", "Task", "TrialOutcome", "class_area", "get", "imbalance", "mnist",
           "mnist_search", "optimizer_paths", "segmentation_class_area", "supervised"]
