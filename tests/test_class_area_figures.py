"""The class-area figures: their data functions by hand, and each drawing once."""

import numpy as np
import pytest
import torch
from class_area_helpers import QUICK_MLP, QUICK_SEG, blob_mlp, seg_net

from suite import figures
from suite.figures import FIGURES, FigureContext
from suite.figures.class_area import (
    chosen_value,
    curve_data,
    drawing_grid,
    history_data,
    mask_data,
    region_data,
)
from suite.seeding import derive
from suite.tasks import class_area, segmentation_class_area
from suite.tasks.area import Grid, class_map, grid_setting
from suite.tasks.weight_path import WeightPath

ARTIFACTS = {"columns": ["value", "area", "error", "seconds"],
             "evaluations": {"tpe": [[0.5, 0.1, 0.3, 0.1], [0.2, 0.35, 0.05, 0.2],
                                     [0.1, 0.41, 0.01, 0.3]],
                             "brentq": [[0.0, 0.5, 0.1, 0.01], [1.0, 0.0, 0.4, 0.02]]},
             "curve": {"values": [-1.0, 0.0, 1.0], "areas": [1.0, 0.5, 0.0]}}


def test_figures_are_registered():
    for name in ("class_area_regions", "class_area_masks", "class_area_curve",
                 "class_area_history"):
        assert name in FIGURES
    assert set(class_area.FIGURES) | set(segmentation_class_area.FIGURES) <= set(FIGURES)


def test_chosen_value_prefers_tpe():
    assert chosen_value({"tpe_value": 0.2, "brentq_value": 0.3}) == ("tpe", 0.2)
    assert chosen_value({"tpe_value": None, "brentq_value": 0.3}) == ("brentq", 0.3)
    assert chosen_value({}) is None


def test_history_data_by_hand():
    h = history_data(ARTIFACTS, target=0.4)
    n, rel, best = h["tpe"]
    assert n.tolist() == [1, 2, 3]
    np.testing.assert_allclose(rel, [0.75, 0.125, 0.025])
    np.testing.assert_allclose(best, [0.75, 0.125, 0.025])
    np.testing.assert_allclose(history_data(ARTIFACTS, 0.4)["brentq"][2], [0.25, 0.25])


def test_curve_data_by_hand():
    c = curve_data(ARTIFACTS)
    assert c["areas"].tolist() == [1.0, 0.5, 0.0]
    values, areas = c["evaluations"]["tpe"]
    assert values.tolist() == [0.5, 0.2, 0.1] and areas.tolist() == [0.1, 0.35, 0.41]


def test_drawing_grid_keeps_the_box_and_caps_the_side():
    g = drawing_grid({"x0": -1.0, "y0": 2.0, "h": 0.01, "nx": 1001, "ny": 501}, max_side=300)
    assert (g.x0, g.y0) == (-1.0, 2.0) and g.h == pytest.approx(0.04)
    assert g.nx == 251 and g.ny == 126 and max(g.nx, g.ny) <= 300
    small = drawing_grid({"x0": 0.0, "y0": 0.0, "h": 0.5, "nx": 10, "ny": 20})
    assert (small.h, small.nx, small.ny) == (0.5, 10, 20)


def test_region_data_matches_the_class_maps():
    model, _tr, grid = blob_mlp(0)
    g = Grid(grid.x0, grid.y0, grid.h * 2, grid.nx // 2, grid.ny // 2)
    data = region_data(model, g, (5.0, 20.0), 0.3)
    setting = grid_setting(model, g, 1, 500)
    after = class_map(setting, WeightPath.of(model.out, 1, (5.0, 20.0)).at(0.3))
    assert data["before"].shape == (g.ny, g.nx)
    assert np.array_equal(data["after"].reshape(-1), after.numpy())
    assert data["after"].sum() <= data["before"].sum()  # value > 0 shrinks class 1


def test_mask_data_shapes_and_shrinking():
    model, area_x = seg_net(0)
    setting = segmentation_class_area.setting(QUICK_SEG, model, area_x, "cpu")
    data = mask_data(setting, (1.0, 4.0), 0.5, n_images=2)
    assert data["images"].shape == data["before"].shape == (2, 40, 40)
    assert data["after"].sum() < data["before"].sum()


class FakeStore:
    def __init__(self, blobs):
        self.blobs = blobs

    def blob(self, trial_id, name):
        return self.blobs.get((trial_id, name))


@pytest.mark.slow
@pytest.mark.parametrize("task, names", [
    (class_area, ("class_area_regions", "class_area_curve", "class_area_history")),
    (segmentation_class_area, ("class_area_masks", "class_area_curve", "class_area_history")),
])
def test_every_figure_draws_from_a_trial(task, names):
    config = {**(QUICK_MLP if task is class_area else QUICK_SEG), "budget": 6,
              "task": task.TASK.name}
    seeds = derive(11, 0)
    out = task.run(config, seeds, torch.device("cpu"))
    row = {"trial_id": "t0", "status": "ok", "seed_index": 0, "config": config,
           "seeds": seeds.as_dict(), "metrics": out.metrics, "artifacts": out.artifacts}
    ctx = FigureContext(study=None, trials=[row],
                        store=FakeStore({("t0", "state_dict"): out.blobs["state_dict"]}))
    for name in names:
        fig = figures.FIGURES[name](ctx)
        assert fig.axes, name
