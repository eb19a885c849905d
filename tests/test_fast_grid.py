"""The fast decision-map grids (suite.figures.decision_grid): same classes as the
notebook's way, the meshgrid layout whatever the chunk, a plain path for models it cannot
speed up."""

import numpy as np
import pytest
import torch

from benchmarks import baselines
from suite.figures import decision_grid
from suite.seeding import derive
from suite.tasks import supervised
from suite.training.recipe import predict_labels
from suite.training.stacked_seeds import fit_batch

torch.set_num_threads(1)

MODELS = {
    "notebook 3x10": {"skip_last_hidden_activation": True},
    "3x10 relu": {},
    "tanh, bce with logits": {"activation": "tanh", "loss": "bce_with_logits",
                              "output_activation": "identity"},
    "elu, cross-entropy": {"activation": "elu", "loss": "cross_entropy",
                           "output_activation": "identity"},
    "sigmoid, bce, adam": {"activation": "sigmoid", "loss": "bce", "optimizer": "adam",
                           "lr": 0.01},
    "3x50": {"n_neurons": 50},
}


@pytest.fixture(scope="module")
def trained():
    """Each model trained 15 epochs on 1000 spiral points, with its validation box +-1."""
    out = {}
    for name, over in MODELS.items():
        cfg = {"task": "supervised", **supervised.TASK.defaults(), "n_train": 1000,
               "n_val": 300, "n_test": 50, "epochs": 15, **over}
        f = fit_batch(cfg, [derive(3, 0)], "cpu")[0]
        x = f.splits[1].x
        box = ((float(x[:, 0].min()) - 1, float(x[:, 0].max()) + 1),
               (float(x[:, 1].min()) - 1, float(x[:, 1].max()) + 1))
        out[name] = (cfg["loss"], f.model.eval(), box)
    return out


def notebook_way(model, loss, x_range, y_range, h) -> np.ndarray:
    """compare_pred's grid: a float64 meshgrid, one forward pass over all of it."""
    xx, yy = np.meshgrid(np.arange(*x_range, h), np.arange(*y_range, h))
    with torch.no_grad():
        out = model(torch.from_numpy(np.c_[xx.ravel(), yy.ravel()]).type(torch.float32))
    return predict_labels(loss, out).numpy().reshape(xx.shape)


@pytest.mark.parametrize("name", MODELS)
def test_every_point_gets_the_class_the_notebooks_way_gives(trained, name):
    loss, model, (xr, yr) = trained[name]
    z = decision_grid.class_map(model, loss, xr, yr, 0.04)
    reference = notebook_way(model, loss, xr, yr, 0.04)
    assert z.shape == reference.shape and z.size > 250_000
    assert 0 < np.mean(reference) < 1  # a map with a boundary to get wrong
    assert np.array_equal(z, reference)


def test_the_notebook_baseline_of_the_benchmarks_is_this_way_too(trained):
    loss, model, (xr, yr) = trained["notebook 3x10"]
    assert np.array_equal(baselines.notebook_classes(model, xr, yr, 0.1),
                          notebook_way(model, loss, xr, yr, 0.1))


@pytest.mark.parametrize("chunk", [1, 999, 50_000, 10_000_000])
def test_the_map_does_not_depend_on_the_chunk(trained, chunk):
    loss, model, (xr, yr) = trained["3x10 relu"]
    assert np.array_equal(decision_grid.class_map(model, loss, xr, yr, 0.1, chunk),
                          decision_grid.class_map(model, loss, xr, yr, 0.1))


def plane(points: torch.Tensor) -> torch.Tensor:
    assert points.dtype == torch.float32 and torch.is_inference_mode_enabled()
    return points[:, 0] + 10 * points[:, 1]


def plane_rows(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    assert torch.is_inference_mode_enabled()
    return xs[None, :] + 10 * ys[:, None]


plane_rows.on_rows = True


@pytest.mark.parametrize("fn", [plane, plane_rows])
@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_meshgrid_layout_whatever_the_chunk_and_protocol(fn, chunk):
    z = decision_grid.evaluate_grid(fn, (-1.0, 1.0), (0.0, 0.5), 0.25, chunk=chunk)
    xx, yy = np.meshgrid(np.arange(-1.0, 1.0, 0.25), np.arange(0.0, 0.5, 0.25))
    assert z.shape == (2, 8)
    np.testing.assert_array_equal(z, xx.astype(np.float32) + 10 * yy.astype(np.float32))


def test_bad_steps_and_chunks_are_refused():
    for h, chunk in ((0.0, 10), (-1.0, 10), (0.1, 0)):
        with pytest.raises(ValueError):
            decision_grid.evaluate_grid(plane, (0, 1), (0, 1), h, chunk)


def test_a_model_it_cannot_speed_up_takes_its_own_forward_pass():
    class Ring(torch.nn.Module):  # not an MLP chain: class 1 inside the unit circle
        def forward(self, p):
            return (p.pow(2).sum(1, keepdim=True) < 1).float()

    assert decision_grid.rows_forward(Ring()) is None
    z = decision_grid.class_map(Ring(), "mse", (-2.0, 2.0), (-2.0, 2.0), 0.5)
    xx, yy = np.meshgrid(np.arange(-2.0, 2.0, 0.5), np.arange(-2.0, 2.0, 0.5))
    np.testing.assert_array_equal(z, (xx ** 2 + yy ** 2 < 1).astype(np.uint8))
