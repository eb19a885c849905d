"""The fast decision-map grids (suite.training.decision_grid): same classes as the
notebook's way, the meshgrid layout whatever the chunk, a plain path for models it cannot
speed up."""

import numpy as np
import pytest
import torch

from benchmarks import baselines
from suite.seeding import derive
from suite.tasks import supervised
from suite.training import decision_grid as grid
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
    z = grid.class_map(model, loss, xr, yr, 0.04)
    reference = notebook_way(model, loss, xr, yr, 0.04)
    assert z.shape == reference.shape and z.size > 250_000
    assert 0 < np.mean(reference) < 1  # a map with a boundary to get wrong
    assert np.array_equal(z, reference)


def test_the_notebook_baseline_of_the_benchmarks_is_this_way_too(trained):
    loss, model, (xr, yr) = trained["notebook 3x10"]
    assert np.array_equal(baselines.notebook_classes(model, xr, yr, 0.1),
                          notebook_way(model, loss, xr, yr, 0.1))


class Opaque(torch.nn.Module):
    """A module torch.fx cannot trace (control flow on the input): the generic path."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, points):
        return self.inner(points) if points.shape[0] else points


@pytest.mark.parametrize("chunk", [1, 999, 50_000, 10_000_000, None])
def test_an_untraceable_module_gets_the_notebooks_classes_whatever_the_chunk(trained, chunk):
    loss, model, (xr, yr) = trained["3x10 relu"]
    assert grid.mlp_plan(Opaque(model)) is None and grid.mlp_plan(model) is not None
    assert np.array_equal(grid.class_map(Opaque(model), loss, xr, yr, 0.02, chunk),
                          notebook_way(model, loss, xr, yr, 0.02))


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
    z = grid.evaluate_grid(fn, (-1.0, 1.0), (0.0, 0.5), 0.25, chunk=chunk)
    xx, yy = np.meshgrid(np.arange(-1.0, 1.0, 0.25), np.arange(0.0, 0.5, 0.25))
    assert z.shape == (2, 8)
    np.testing.assert_array_equal(z, xx.astype(np.float32) + 10 * yy.astype(np.float32))


def test_bad_steps_and_chunks_are_refused():
    for h, chunk in ((0.0, 10), (-1.0, 10), (0.1, 0)):
        with pytest.raises(ValueError):
            grid.evaluate_grid(plane, (0, 1), (0, 1), h, chunk)


def test_a_model_it_cannot_speed_up_takes_its_own_forward_pass():
    class Ring(torch.nn.Module):  # not an MLP chain: class 1 inside the unit circle
        def forward(self, p):
            return (p.pow(2).sum(1, keepdim=True) < 1).float()

    assert grid.mlp_plan(Ring()) is None
    z = grid.class_map(Ring(), "mse", (-2.0, 2.0), (-2.0, 2.0), 0.5)
    xx, yy = np.meshgrid(np.arange(-2.0, 2.0, 0.5), np.arange(-2.0, 2.0, 0.5))
    np.testing.assert_array_equal(z, (xx ** 2 + yy ** 2 < 1).astype(np.uint8))


# -- the notebook's own model ------------------------------------------------------------

MultiLayerModel = baselines.NotebookMLP  # seeds/001's MultiLayerModel, as written there


@pytest.fixture(scope="module")
def notebook_models():
    """The notebook's 3 x 10 model trained its way (MSE, SGD 0.1, batch 32) from three
    seeds, each with the suite MLP holding the same weights and the validation box +-1."""
    from suite.training.datasets import spirals
    from suite.training.models import MLP

    out = []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        nb = MultiLayerModel(3, 10)
        data = spirals(1000, seed)
        baselines.notebook_train(nb, data.x, data.y, epochs=30)
        suite_mlp = MLP(2, [10, 10, 10], 1, skip_last_hidden_activation=True)
        linears = [m for m in suite_mlp.modules() if isinstance(m, torch.nn.Linear)]
        sources = [nb.layer_1, nb.layer_2, nb.layer_3, nb.out]
        with torch.no_grad():
            for dst, src in zip(linears, sources, strict=True):
                dst.weight.copy_(src.weight)
                dst.bias.copy_(src.bias)
        val = spirals(1000, seed + 100).x
        box = ((float(val[:, 0].min()) - 1, float(val[:, 0].max()) + 1),
               (float(val[:, 1].min()) - 1, float(val[:, 1].max()) + 1))
        out.append((nb.eval(), suite_mlp.eval(), box))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("i", [0, 1, 2])
def test_the_notebooks_model_copied_into_the_suites_mlp_gets_its_classes(notebook_models, i):
    """compare_pred's own map (h = 0.01, the notebook's module, one forward pass) against
    the suite's MLP holding its weights, and against the notebook's module handed to
    class_map as it is (torch.fx finds the chain): no point of another class."""
    nb, suite_mlp, (xr, yr) = notebook_models[i]
    reference = baselines.notebook_classes(nb, xr, yr, 0.01)
    assert reference.size > 1_000_000 and 0.1 < reference.mean() < 0.9
    stats: dict = {}
    assert np.array_equal(grid.class_map(suite_mlp, "mse", xr, yr, 0.01, stats=stats),
                          reference)
    assert stats["points_evaluated"] > 0 and stats["tiles_evaluated"] < stats["tiles"]
    assert grid.mlp_plan(nb) is not None
    assert np.array_equal(grid.class_map(nb, "mse", xr, yr, 0.01), reference)


def test_the_bounds_hold_every_float32_evaluation(trained):
    """On random boxes: every point's output from the model's own forward and from the
    fast path lies within the box's bounds, and the two differ by at most the bound."""
    g = torch.Generator().manual_seed(0)
    for name, (_, model, _) in trained.items():
        plan = grid.mlp_plan(model)
        corner = torch.rand(2, 40, generator=g) * 8 - 4
        size = torch.rand(2, 40, generator=g) * 0.5
        x = corner[0, :, None] + size[0, :, None] * torch.linspace(0, 1, grid.TILE)
        y = corner[1, :, None] + size[1, :, None] * torch.linspace(0, 1, grid.TILE)
        lo, hi, diff = grid.tile_bounds(plan, torch.stack([x[:, 0], y[:, 0]]).double(),
                                        torch.stack([x[:, -1], y[:, -1]]).double())
        with torch.no_grad():
            fast = grid._chain_forward(plan, x, y, {}).double()
            pts = torch.stack([x[:, None, :].expand(-1, grid.TILE, -1),
                               y[:, :, None].expand(-1, -1, grid.TILE)], -1).reshape(-1, 2)
            ref = model(pts).double().T
        per_point = grid.TILE * grid.TILE
        for bound, values in ((lo, fast), (lo, ref)):
            assert torch.all(values >= bound.repeat_interleave(per_point, 1)), name
        for bound, values in ((hi, fast), (hi, ref)):
            assert torch.all(values <= bound.repeat_interleave(per_point, 1)), name
        assert torch.all((fast - ref).abs() <= diff.repeat_interleave(per_point, 1)), name
        assert torch.any(fast != ref) or name.startswith("3x50"), name


def test_the_cache_size_is_the_machines():
    assert grid.l2_bytes() >= 64 * 1024
