"""Training: one epoch of stacked models, the notebook's epoch, and a fixed-seed model
whose numbers are tracked for drift."""

import torch

from suite.tasks.supervised import make_splits
from suite.training import stacked_seeds

from . import baselines, fixtures


class TrainingEpoch(fixtures.Bench):
    """One epoch (4000 points, batch 32) of `seeds` stacked 3 x width spiral models."""

    params = ([1, 8, 32], [10, 100])
    param_names = ["seeds", "width"]

    def setup(self, n_seeds, width):
        super().setup()
        config = fixtures.spiral_config(n_neurons=width)
        seeds = fixtures.seeds(n_seeds)
        self.run = stacked_seeds.Run(config, seeds, [make_splits(config, s) for s in seeds], 2,
                             torch.device("cpu"))
        self.run.epoch()  # buffers are made on the first pass

    def time_epoch(self, n_seeds, width):
        self.run.epoch()

    def peakmem_epoch(self, n_seeds, width):
        self.run.epoch()


class NotebookEpoch(fixtures.Bench):
    """One epoch of the notebook's DataLoader loop for one 3 x width model."""

    params = [10, 100]
    param_names = ["width"]

    def setup(self, width):
        super().setup()
        self.x, self.y = fixtures.spiral_data()
        torch.manual_seed(0)
        self.model = baselines.NotebookMLP(3, width)
        baselines.notebook_train(self.model, self.x[:64], self.y[:64], 1)  # lazy imports

    def time_epoch(self, width):
        baselines.notebook_train(self.model, self.x, self.y, 1)


class FixedSeedModel(fixtures.Bench):
    """A fixed-seed 3 x 10 model trained 50 epochs on 4000 points (validation accuracy
    0.998 when written): its numbers change only when the training code changes them."""

    def setup_cache(self):
        return fixtures.trained(width=10, epochs=50, n_train=4000)

    def track_val_accuracy(self, cache):
        return cache["val_accuracy"]

    def track_test_accuracy(self, cache):
        return cache["test_accuracy"]

    def track_final_loss(self, cache):
        return cache["final_loss"]

    track_val_accuracy.unit = track_test_accuracy.unit = "fraction"
    track_final_loss.unit = "loss"
