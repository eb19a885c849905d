"""Fixed-seed configs and trained models shared by the benchmarks, so that a benchmark of
another module (the class-1 area, a report) is one class: train with `trained(...)` in
its `setup_cache`, rebuild with `model_of(...)` in its `setup`, time what it needs.
"""

import time

import numpy as np
import torch

from suite.seeding import derive
from suite.tasks import supervised
from suite.training.stacked_seeds import fit_batch

ROOT_SEED = 2026  # the benchmarks' own seeds: a fixed model whatever the studies declare


class Bench:
    """Base of the benchmark classes: CPU time (this machine is shared, so wall-clock
    time measures the neighbours too), one torch thread, a generous timeout."""

    timer = time.process_time
    timeout = 300

    def setup(self, *args):
        torch.set_num_threads(1)


def spiral_config(**over) -> dict:
    """The supervised task's defaults (the notebook's recipe) with `over` applied."""
    return {"task": "supervised", **supervised.TASK.defaults(), **over}


def seeds(n: int) -> list:
    return [derive(ROOT_SEED, i) for i in range(n)]


def trained(width: int = 10, epochs: int = 20, n_train: int = 1000, **over) -> dict:
    """A fixed-seed 3 x width spiral model, trained here and returned in picklable form
    (as asv's setup_cache must): config, state_dict bytes, the validation data's box
    +-1 (the decision map's), and the numbers a drift check tracks."""
    torch.set_num_threads(1)
    config = spiral_config(n_neurons=width, epochs=epochs, n_train=n_train, n_val=500,
                           n_test=500, **over)
    f = fit_batch(config, seeds(1), "cpu")[0]
    x = f.splits[1].x.numpy()
    box = (float(x[:, 0].min() - 1), float(x[:, 0].max() + 1),
           float(x[:, 1].min() - 1), float(x[:, 1].max() + 1))
    return {"config": config, "state": supervised.state_bytes(f.model), "box": box,
            "val_accuracy": f.history.val_accuracy[-1], "final_loss": f.history.train_loss[-1],
            "test_accuracy": f.test_accuracy}


def model_of(t: dict) -> torch.nn.Module:
    """The trained model of `trained(...)`, in eval mode."""
    return supervised.load_model(t["config"], t["state"])


def ranges(t: dict) -> tuple[tuple[float, float], tuple[float, float]]:
    x0, x1, y0, y1 = t["box"]
    return (x0, x1), (y0, y1)


def spiral_data(n: int = 4000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    from suite.training.datasets import spirals

    p = spirals(n, seed)
    return p.x, p.y


def fraction(z: np.ndarray, value: int = 1) -> float:
    return float(np.mean(z == value))
