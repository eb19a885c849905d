"""Tasks by name: the code that runs one trial of a study (see `suite.tasks.base`)."""

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
    """The task called `name`: shipped, or from an installed plug-in (`suite.plugins`)."""
    if name not in TASKS:
        from suite import plugins

        plugins.load_installed()
    if name not in TASKS:
        valid = ", ".join(sorted(TASKS))
        raise UnknownNameError(
            f"Unknown task '{name}'.{did_you_mean(name, TASKS)} Valid names: {valid}."
        )
    return TASKS[name]


__all__ = ["TASKS", "Task", "TrialOutcome", "get"]
