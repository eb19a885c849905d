"""Seed sweeps: whole trials of several seeds trained as one stacked model."""

import time

import torch

from suite.training.stacked_seeds import fit_batch

from . import baselines, fixtures

EPOCHS = 5


def sweep_config():
    return fixtures.spiral_config(epochs=EPOCHS, skip_last_hidden_activation=True)


class SeedSweep(fixtures.Bench):
    """`seeds` trials of the notebook's 3 x 10 spiral model (4000 points, 5 epochs) end to
    end through `fit_batch`: data, init, training, validation, final metrics."""

    params = [1, 8, 32]
    param_names = ["seeds"]

    def setup(self, n_seeds):
        super().setup()
        fit_batch(fixtures.spiral_config(epochs=1, n_train=64), fixtures.seeds(1), "cpu")

    def time_fit_batch(self, n_seeds):
        fit_batch(sweep_config(), fixtures.seeds(n_seeds), "cpu")

    def peakmem_fit_batch(self, n_seeds):
        fit_batch(sweep_config(), fixtures.seeds(n_seeds), "cpu")


class SweepSpeedup(fixtures.Bench):
    """Trials per second of a stacked sweep over the notebook's loop (a DataLoader, one
    model at a time), measured side by side here (CPU time; both do 5 epochs)."""

    params = [8, 32]
    param_names = ["seeds"]

    def track_speedup(self, n_seeds):
        x, y = fixtures.spiral_data()
        torch.manual_seed(0)
        model = baselines.NotebookMLP()
        t0 = time.process_time()
        baselines.notebook_train(model, x, y, EPOCHS)
        notebook = time.process_time() - t0
        t0 = time.process_time()
        fit_batch(sweep_config(), fixtures.seeds(n_seeds), "cpu")
        return n_seeds * notebook / (time.process_time() - t0)

    track_speedup.unit = "x"
