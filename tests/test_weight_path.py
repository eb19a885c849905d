"""The weight path's geometry and its contract (identity at 0, monotone, area 0 at +1)."""

import numpy as np
import pytest
import torch
from class_area_helpers import blob_mlp, mlp_setting
from scipy.interpolate import interp1d
from torch import nn

from suite.tasks.area import class_fraction, survey
from suite.tasks.area_search import is_monotone
from suite.tasks.weight_path import (
    VALUE_RANGE,
    WeightPath,
    augmented,
    final_layer,
    final_layer_weight_modifier,
    interpfun,
    knots,
    neuron_projection,
)

W = torch.tensor([[1.0, -2.0, 0.5], [0.5, 1.0, -1.0]])
B = torch.tensor([0.1, 0.3])


def test_neuron_projection_by_hand():
    p = neuron_projection(W, B, cls=1)
    # u = row 1 - row 0 = (0.5 - 1, 1 + 2, -1 - 0.5, 0.3 - 0.1), bias last
    np.testing.assert_allclose(p.decision, [-0.5, 3.0, -1.5, 0.2], atol=1e-7)
    np.testing.assert_allclose(p.projection, [0.0, 3.0, 0.0, 0.2], atol=1e-7)
    np.testing.assert_allclose(p.endpoint, [-0.5, 0.0, -1.5, 0.0], atol=1e-7)
    assert p.length == pytest.approx(np.sqrt(9 + 0.04), rel=1e-6)
    assert p.nonneg.tolist() == [1, 3]
    assert p.projection @ p.endpoint == 0.0  # orthogonal parts of u
    np.testing.assert_array_equal(p.projection + p.endpoint, p.decision)


def test_reference_is_the_mean_of_the_other_rows():
    w = torch.arange(12.0).reshape(4, 3)
    p = neuron_projection(w, torch.zeros(4), cls=2)
    np.testing.assert_allclose(p.reference[:-1], (w[0] + w[1] + w[3]).numpy() / 3)
    with pytest.raises(ValueError, match="class 4"):
        neuron_projection(w, torch.zeros(4), cls=4)


def test_conv_weight_counts_as_rows():
    conv = nn.Conv2d(3, 2, 1)
    rows = augmented(conv.weight, conv.bias)
    assert rows.shape == (2, 4)
    np.testing.assert_array_equal(rows[:, :3], conv.weight.detach().reshape(2, 3).double())


def test_pchip_keeps_monotone_knots_where_a_cubic_spline_overshoots():
    x, y = [0, 1, 2, 3, 4], [0.0, 0.0, 0.0, 1.0, 1.0]
    dense = np.linspace(0, 4, 401)
    spline = interp1d(x, y, kind="cubic")(dense)
    assert spline.min() < -1e-3 or spline.max() > 1 + 1e-3  # why the path avoids it
    pchip = interpfun(x, np.array(y)[:, None])(dense)[:, 0]
    assert np.all(np.diff(pchip) >= 0) and pchip.min() >= 0 and pchip.max() <= 1


def test_knots_are_non_increasing_in_every_component():
    p = neuron_projection(W, B, cls=1)
    k = knots(p, (2.0, 3.0))
    assert np.all(np.diff(k, axis=0) <= 0)
    np.testing.assert_array_equal(k[1], 0.0)
    assert k[0, -1] == pytest.approx(2.0) and k[2, -1] == pytest.approx(-0.2 - 3.0)


@pytest.mark.parametrize("layer", [nn.Linear(5, 2), nn.Linear(7, 3), nn.Conv2d(4, 3, 1)])
def test_value_zero_is_the_original_layer_exactly(layer):
    path = WeightPath.of(layer, 1, (1.5, 2.5))
    weight, bias = path.at(0.0)
    assert torch.equal(weight, layer.weight) and torch.equal(bias, layer.bias)


def test_only_the_class_row_changes():
    layer = nn.Linear(6, 3)
    weight, bias = WeightPath.of(layer, 2, (1.0, 1.0)).at(0.4)
    assert torch.equal(weight[:2], layer.weight[:2]) and torch.equal(bias[:2], layer.bias[:2])
    assert not torch.equal(weight[2], layer.weight[2])


def test_path_components_are_non_increasing_and_match_the_coefficients():
    layer = nn.Linear(9, 2)
    path = WeightPath.of(layer, 1, (0.7, 1.3))
    values = np.linspace(*VALUE_RANGE, 201)
    changes = np.stack([path.change(v) for v in values])
    assert np.all(np.diff(changes, axis=0) <= 1e-15)
    for v, change in zip(values, changes, strict=True):
        a, c, beta = path.coefficients(v)
        np.testing.assert_allclose(change[:-1], -a * path.pro + c * path.con, atol=1e-12)
        assert change[-1] == pytest.approx(beta, abs=1e-12)


def test_bad_values_scales_and_layers_are_refused():
    path = WeightPath.of(nn.Linear(3, 2), 1, (1.0, 1.0))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        path.at(1.5)
    with pytest.raises(ValueError, match="sweep scale"):
        WeightPath.of(nn.Linear(3, 2), 1, (-1.0, 1.0))
    with pytest.raises(ValueError, match="needs one"):
        WeightPath.of(nn.Linear(3, 2, bias=False), 1, (1.0, 1.0))


def test_default_scale_is_the_projection_lengths():
    path = WeightPath(W, B, 1)
    assert path.scale == (pytest.approx(np.hypot(0.5, 1.5)), pytest.approx(np.sqrt(9.04)))
    model, _tr, _grid = blob_mlp(0)
    weight, bias = final_layer_weight_modifier(model, 0.0)
    assert torch.equal(weight, model.out.weight) and torch.equal(bias, model.out.bias)


def test_modifier_finds_the_final_layer():
    model, _tr, _grid = blob_mlp(0)
    assert final_layer(model) is model.out
    weight, bias = final_layer_weight_modifier(model, 0.3, (1.0, 2.0))
    expected = WeightPath.of(model.out, 1, (1.0, 2.0)).at(0.3)
    assert torch.equal(weight, expected[0]) and torch.equal(bias, expected[1])
    with pytest.raises(ValueError, match="no final"):
        final_layer(nn.Sequential(nn.ReLU()))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_area_contract_on_trained_mlps(seed):
    """Monotone over the documented range, original at 0, 0 at +1, 1 at -1, and the
    target (0.8 x the original) bracketed, on several seeds (full forward passes)."""
    setting = mlp_setting(seed)
    s = survey(setting)
    path = WeightPath.of(setting.final, 1, s.scale)
    values = np.linspace(-1, 1, 41)
    areas = [class_fraction(setting, path.at(v)) for v in values]
    assert is_monotone(areas)
    assert areas[20] == s.area and 0.2 < s.area < 0.8
    assert areas[-1] == 0.0 and areas[0] == 1.0
    target = 0.8 * s.area
    assert max(a for a in areas if a <= target) > 0.5 * target  # no single jump over it
