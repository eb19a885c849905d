"""Areas by the full forward pass, and the fast path against it at every point."""

import numpy as np
import pytest
import torch
from class_area_helpers import QUICK_SEG, blob_mlp, mlp_setting, seg_net, tiny_grid
from torch import nn

from suite import numerics
from suite.tasks import segmentation_class_area as seg
from suite.tasks.area import (
    FastArea,
    Grid,
    Setting,
    _round32,
    area_of_class1,
    class_fraction,
    class_map,
    grid_setting,
    input_rounding,
    survey,
)
from suite.tasks.weight_path import WeightPath
from suite.training.models import MLP


def fast_area(setting, cls=1):
    return FastArea(setting, lambda scale: WeightPath.of(setting.final, cls, scale))


def test_grid_by_hand():
    g = tiny_grid()  # box (0, 0)-(1, 2) widened by 0.5, step 0.5
    assert (g.x0, g.y0, g.nx, g.ny, g.n) == (-0.5, -0.5, 5, 7, 35)
    assert g.n_chunks(8) == 5
    points = torch.cat([g.chunk(i, 8) for i in range(g.n_chunks(8))])
    xs, ys = g.axes()
    mesh_y, mesh_x = torch.meshgrid(ys, xs, indexing="ij")
    expected = torch.stack([mesh_x.reshape(-1), mesh_y.reshape(-1)], dim=1).float()
    assert torch.equal(points, expected)


def test_area_of_class1_counts_like_one_big_forward_pass():
    model, _tr, _ = blob_mlp(0)
    g = Grid(-12.0, -12.0, 0.5, 49, 47)
    everything = g.chunk(0, g.n)
    with torch.inference_mode():
        expected = (model(everything).argmax(dim=1) == 1).double().mean().item()
    assert area_of_class1(model, g, chunk_size=100) == pytest.approx(expected, abs=2 / g.n)


def test_grid_setting_needs_logits():
    model = MLP(2, [4], 2, output_activation="sigmoid")
    with pytest.raises(ValueError, match="identity output"):
        grid_setting(model, tiny_grid(), 1, 10)


def test_survey_scale_is_the_largest_decision_value():
    setting = mlp_setting(0)
    s = survey(setting)
    with torch.inference_mode():
        z = torch.cat([setting.model(setting.chunk(i)) for i in range(setting.n_chunks)])
    d = (z[:, 1] - z[:, 0]).double()
    assert s.scale == (pytest.approx(float((-d).max())), pytest.approx(float(d.max())))
    assert s.hits == int((z.argmax(1) == 1).sum()) and s.n == z.shape[0]


VALUES = [-1.0, -0.5, -0.1, 0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.6, 1.0]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_path_equals_the_full_pass_at_every_grid_point(seed):
    setting = mlp_setting(seed, chunk_size=777)
    fast = fast_area(setting)
    assert fast.survey == survey(setting)
    for v in VALUES:
        full = class_map(setting, fast.path.at(v))
        assert torch.equal(fast.classes(v), full), v
        assert fast.area(v) == class_fraction(setting, fast.path.at(v))


def test_the_rounding_seen_is_within_half_the_screens_bound():
    """The screen's margin E is twice the rounding it accounts for: the difference between
    the full pass's float32 margin and the exact estimate stays under E / 2."""
    setting = mlp_setting(1, chunk_size=500)
    fast = fast_area(setting)
    h = torch.cat(fast.features).double()
    w, b = setting.final.weight.detach().double(), setting.final.bias.detach().double()
    with torch.inference_mode():
        z0 = torch.cat([setting.model(setting.chunk(i)) for i in range(setting.n_chunks)])
    d = (z0[:, 1] - z0[:, 0]).double()
    ra = h @ w[1].abs() + b[1].abs()
    pro, con = h @ torch.from_numpy(fast.path.pro), h @ torch.from_numpy(fast.path.con)
    worst = 0.0
    for v in (-0.7, -0.2, 0.0, 0.1, 0.3, 0.8):
        a, c, beta = fast.path.coefficients(v)
        params = fast.path.at(v)
        with torch.inference_mode():
            z = torch.cat([setting.model.body(setting.chunk(i)) for i in
                           range(setting.n_chunks)])
            z = torch.nn.functional.linear(z, *params)
        seen = ((z[:, 1] - z[:, 0]).double() - (d - a * pro + c * con + beta)).abs()
        bound = fast.kappa * (ra + abs(a) * pro + abs(c) * con + abs(beta))
        worst = max(worst, float((seen / bound).max()))
    assert 0 < worst < 0.5


@pytest.mark.slow
def test_fast_path_on_a_three_class_segmentation_net():
    model, area_x = seg_net(0)
    setting = seg.setting({**QUICK_SEG, "chunk_images": 3}, model, area_x, "cpu")
    fast = fast_area(setting)
    assert 0 < fast.survey.area < 0.5
    for v in VALUES:
        assert torch.equal(fast.classes(v), class_map(setting, fast.path.at(v))), v


@pytest.mark.slow
def test_fast_path_follows_deeplab_upsampling():
    """DeepLabV3 (random weights, no download) upsamples its logits after the final
    convolution; the fast path must follow that exactly too."""
    from torchvision.models.segmentation import deeplabv3_resnet50

    torch.manual_seed(0)
    model = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=4).eval()
    x = torch.randn(2, 3, 40, 48)
    config = {**QUICK_SEG, "model": "deeplabv3_resnet50", "chunk_images": 1,
              "target_class": 2}
    setting = seg.setting(config, model, x, "cpu")
    fast = fast_area(setting, cls=2)
    for v in (-1.0, -0.3, 0.0, 0.1, 0.4, 1.0):
        assert torch.equal(fast.classes(v), class_map(setting, fast.path.at(v))), v


def tie_model(equal_rows):
    """A 3-output MLP whose final rows `equal_rows` are identical: every point ties."""
    torch.manual_seed(0)
    model = MLP(2, [8, 8], 3, output_activation="identity")
    with torch.no_grad():
        a, b = equal_rows
        model.out.weight[b] = model.out.weight[a]
        model.out.bias[b] = model.out.bias[a]
        model.out.bias[3 - a - b] = -100.0  # the third class never wins
    return model.eval()


@pytest.mark.parametrize("rows, winner", [((0, 1), 0), ((1, 2), 1)])
def test_exact_ties_go_to_the_first_class_in_both_paths(rows, winner):
    model = tie_model(rows)
    setting = grid_setting(model, tiny_grid(), 1, 8)
    fast = fast_area(setting)
    assert fast.path.at(0.0)[0].equal(model.out.weight)
    full = class_map(setting)
    assert bool(full.all()) == (winner == 1) and bool((~full).all()) == (winner == 0)
    assert torch.equal(fast.classes(0.0), full)
    assert fast.replays == setting.n_chunks  # every chunk had to be replayed


def test_fast_path_refuses_negative_features():
    model = MLP(2, [4], 2, activation="identity", output_activation="identity").eval()
    with pytest.raises(ValueError, match="non-negative features"):
        fast_area(grid_setting(model, tiny_grid(), 1, 8))


def test_input_rounding_follows_torchs_precision_settings():
    """Set through torch's own switches, old and new, as a user would; numerics.preserved
    puts them back (monkeypatch cannot: torch's fp32_precision objects have no attribute
    to save, so its setattr fails after the assignment took effect)."""
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    with numerics.preserved():
        assert input_rounding(cpu, conv=False) == 0.0
        assert input_rounding(cuda, conv=True) == 2.0**-11  # cuDNN's default: TF32
        torch.backends.cudnn.allow_tf32 = False
        assert input_rounding(cuda, conv=True) == 0.0
        torch.backends.cudnn.allow_tf32 = True
        assert input_rounding(cuda, conv=True) == 2.0**-11
        assert input_rounding(cpu, conv=True) == 0.0
        assert input_rounding(cuda, conv=False) == 0.0
        torch.backends.cuda.matmul.allow_tf32 = True
        assert input_rounding(cuda, conv=False) == 2.0**-11
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"
        assert input_rounding(cpu, conv=False) == 2.0**-8
        assert input_rounding(cpu, conv=True) == 0.0
        torch.backends.fp32_precision = "bf16"  # the root: every oneDNN op follows it
        assert input_rounding(cpu, conv=True) == 2.0**-8
    with numerics.preserved():
        torch.set_float32_matmul_precision("medium")
        assert input_rounding(cpu, conv=False) == 2.0**-8
        assert input_rounding(cuda, conv=False) == 2.0**-11
    assert input_rounding(cpu, conv=False) == input_rounding(cuda, conv=False) == 0.0


def test_round32_rounds_outwards_within_two_float32_steps():
    x = torch.from_numpy(np.random.default_rng(0).normal(0, 100, 10_000))
    x[:3] = torch.tensor([0.5, -0.25, 0.0], dtype=torch.float64)  # exact float32 values
    down, up = _round32(x, down=True), _round32(x, down=False)
    assert down.dtype == up.dtype == torch.float32
    assert bool((down.double() < x).all()) and bool((up.double() > x).all())
    assert bool((up.double() - down.double() <= x.abs() * 2.0**-21 + 1e-44).all())


def test_setting_with_model_output_dict():
    class Wrapped(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return {"out": self.inner(x)}

    model, _tr, grid = blob_mlp(1)
    wrapped = Wrapped(model).eval()
    chunk = 2000
    setting = Setting(wrapped, "inner.out", 1, grid.n_chunks(chunk),
                      lambda i: grid.chunk(i, chunk), output=lambda out: out["out"])
    assert class_fraction(setting) == area_of_class1(model, grid, chunk_size=chunk)
