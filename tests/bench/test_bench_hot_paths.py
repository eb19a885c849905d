"""pytest-benchmark micro-benchmarks of the hot paths, small enough to run as tests.

The normal test run passes --benchmark-disable (pyproject.toml), so each runs its body
once and checks the result; `nox -s bench` enables the timing and keeps the JSON
(.benchmarks/). The asv suite (benchmarks/) measures the same paths at full size.
"""

import pytest
import torch

from benchmarks import baselines, fixtures
from suite.tasks.supervised import make_splits
from suite.training import decision_grid
from suite.training.stacked_seeds import Run, fit_batch

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained():
    t = fixtures.trained(width=10, epochs=5, skip_last_hidden_activation=True)
    return fixtures.model_of(t), *fixtures.ranges(t)


@pytest.mark.slow
def test_class_map(benchmark, trained):
    model, xr, yr = trained
    z = benchmark(decision_grid.class_map, model, "mse", xr, yr, 0.05)
    assert (z == baselines.notebook_classes(model, xr, yr, 0.05)).all()


def test_notebook_grid(benchmark, trained):
    model, xr, yr = trained
    z = benchmark(baselines.notebook_classes, model, xr, yr, 0.05)
    assert z.shape[0] > 300 and z.shape[1] > 300


@pytest.mark.parametrize("n_seeds", [1, 8])
def test_stacked_step(benchmark, n_seeds):
    config = fixtures.spiral_config(n_train=256)
    seeds = fixtures.seeds(n_seeds)
    run = Run(config, seeds, [make_splits(config, s) for s in seeds], 2, torch.device("cpu"))
    x, t, _ = run.data[0]
    before = run.net.flat.clone()
    out = benchmark(run.step, x[:, :32], t[:, :32])
    assert out.shape == (n_seeds, 32, 4) and not torch.equal(before, run.net.flat)


@pytest.mark.parametrize("n_seeds", [1, 8])
def test_sweep_of_two_epochs(benchmark, n_seeds):
    config = fixtures.spiral_config(n_train=1000, n_val=200, n_test=100, epochs=2)
    fitted = benchmark(fit_batch, config, fixtures.seeds(n_seeds), "cpu")
    assert len(fitted) == n_seeds and all(len(f.history.train_loss) == 2 for f in fitted)


def test_notebook_epoch(benchmark):
    x, y = fixtures.spiral_data(1000)
    torch.manual_seed(0)
    curve = benchmark(baselines.notebook_train, baselines.NotebookMLP(), x, y, 1)
    assert len(curve) == 1 and 0 < curve[0] < 1
