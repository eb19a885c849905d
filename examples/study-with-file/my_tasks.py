# my_tasks.py: a task in one file beside its study
"""Polynomial fits of a noisy sine (numpy only): a task in one file beside its study."""

import numpy as np

from suite.plugins import Task, TrialOutcome, int_range, non_negative_float


def run(config, seeds, device):
    """Fit a polynomial of the given degree by least squares; every draw from the seeds."""
    rng = seeds.numpy("data")  # one generator per purpose, from the trial's seeds
    x = rng.uniform(-1, 1, 2 * config["n_points"])
    y = np.sin(3 * x) + rng.normal(0, config["noise"], x.size)
    train, test = slice(0, config["n_points"]), slice(config["n_points"], None)
    coef = np.polynomial.polynomial.polyfit(x[train], y[train], config["degree"])

    def error(part):
        return float(np.mean((np.polynomial.polynomial.polyval(x[part], coef) - y[part]) ** 2))

    return TrialOutcome("ok", {"train_error": error(train), "test_error": error(test)})


TASK = Task(
    name="sine-fit",
    description="Polynomial least squares on a noisy sine.",
    params={"degree": int_range(3, 0, 20, "polynomial degree"),
            "n_points": int_range(30, 2, 100_000, "training points (as many test points)"),
            "noise": non_negative_float(0.2, "noise standard deviation")},
    metrics=("test_error", "train_error"),
    curves=(),
    figures=("metric_vs_axis",),
    run=run,
)
