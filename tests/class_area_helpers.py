"""Small trained models shared by the class-area tests (cached per process)."""

import functools

import torch

from suite.seeding import derive
from suite.tasks import class_area, segmentation_class_area
from suite.tasks.area import Grid, grid_setting

QUICK_MLP = {**class_area.TASK.defaults(), "epochs": 8, "n_neurons": 32, "grid_h": 0.25,
             "budget": 40, "curve_points": 11, "optuna_storage": "memory"}
QUICK_SEG = {**segmentation_class_area.TASK.defaults(), "n_train_images": 24, "epochs": 20,
             "n_val_images": 4, "n_area_images": 4, "area_image_size": 40, "budget": 40,
             "curve_points": 11, "optuna_storage": "memory"}


@functools.cache
def blob_mlp(seed: int):
    """(model, training points, grid) of a blobs MLP trained briefly, seed index `seed`."""
    torch.set_num_threads(1)
    model, tr, _va, _history = class_area.fit(QUICK_MLP, derive(11, seed), torch.device("cpu"))
    return model, tr, class_area.grid_of(QUICK_MLP, tr)


def mlp_setting(seed: int, chunk_size: int = 1000):
    model, _tr, grid = blob_mlp(seed)
    return grid_setting(model, grid, 1, chunk_size)


@functools.cache
def seg_net(seed: int):
    """(model, area images) of the small segmentation net trained briefly."""
    torch.set_num_threads(1)
    model, area_x, _tr, _va, _h = segmentation_class_area.fit_small(QUICK_SEG, derive(12, seed),
                                                                    torch.device("cpu"))
    return model, area_x


def tiny_grid() -> Grid:
    return Grid.around(torch.tensor([[0.0, 0.0], [1.0, 2.0]]), 0.5, 0.5)
