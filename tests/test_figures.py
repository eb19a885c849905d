"""Figure data (pure functions) and the registry; the drawings run in test_report.py."""

import io

import numpy as np
import pandas as pd
import pytest
import torch

from suite import figures
from suite.errors import UnknownNameError
from suite.figures import supervised as supervised_figures
from suite.tasks import supervised
from suite.training import decision_grid as grid
from suite.training.datasets import Points


def row(config, seed, value, plan_index=0):
    return {"labels": {"w": config}, "seed_index": seed, "plan_index": plan_index,
            "metrics": {"acc": value}, "trial_id": f"{config}{seed}"}


def test_the_default_figures_are_registered_and_unknown_names_are_listed():
    assert {"data", "metric_vs_axis", "loss_curves", "decision_boundary"} <= set(figures.FIGURES)
    with pytest.raises(UnknownNameError) as e:
        figures.draw("loss_curve", None)
    assert "Did you mean 'loss_curves'?" in str(e.value)
    assert "Registered figures: " in str(e.value)


def test_representative_is_the_seed_nearest_the_median():
    rows = [row("a", 0, 0.9), row("a", 1, 0.5), row("a", 2, 0.62), row("a", 3, 0.7)]
    # median 0.66: 0.62 and 0.7 are equally near (0.04); the lower seed index wins
    assert supervised_figures.representative(rows, "acc")["seed_index"] == 2
    rows = [row("a", 0, None), row("a", 1, 0.3), row("a", 2, 0.8), row("a", 3, 0.75)]
    assert supervised_figures.representative(rows, "acc")["seed_index"] == 3  # median 0.75 of 3
    assert supervised_figures.representative([row("a", 2, None), row("a", 1, None)], "acc")[
        "seed_index"] == 1


def test_by_config_keeps_plan_order_and_sorts_seeds():
    rows = [row("b", 1, 0, 3), row("a", 0, 0, 0), row("b", 0, 0, 2), row("a", 1, 0, 1)]
    groups = supervised_figures.by_config(rows)
    assert list(groups) == ["w=a", "w=b"]
    assert [r["seed_index"] for r in groups["w=b"]] == [0, 1]


def test_curve_band_handles_ragged_and_undefined_values():
    band = supervised_figures.curve_band([[1.0, 2.0, 3.0], [3.0, None], [2.0, 4.0, float("nan")]])
    assert band["epoch"].tolist() == [1, 2, 3]
    assert band["mean"].tolist() == [2.0, 3.0, 3.0]
    assert band["min"].tolist() == [1.0, 2.0, 3.0]
    assert band["max"].tolist() == [3.0, 4.0, 3.0]
    assert supervised_figures.curve_band([])["epoch"].size == 0


def test_metric_series_groups_by_the_other_axes():
    f = pd.DataFrame([{"lr": lr, "shape": sh, "seed": s, "acc": v}
                      for lr, sh, s, v in [("0.1", "3x5", 0, 0.5), ("0.1", "3x5", 1, 0.7),
                                           ("1", "3x5", 0, 0.9), ("1", "3x5", 1, None),
                                           ("0.1", "6x5", 0, 0.2), ("1", "6x5", 0, 0.4)]])
    series = supervised_figures.metric_series(f, ["lr", "shape"], "lr", "acc")
    assert [s["group"] for s in series] == ["shape=3x5", "shape=6x5"]
    first = series[0]["points"]
    assert [p["label"] for p in first] == ["0.1", "1"]
    assert first[0]["values"] == [0.5, 0.7] and first[0]["mean"] == pytest.approx(0.6)
    assert first[1]["values"] == [0.9] and np.isnan(first[1]["ci_low"])


def test_map_step_is_the_notebooks_h_except_in_quick_mode():
    box = (-12.0, 12.0, -11.0, 11.0)
    assert supervised_figures.map_step(box, quick=False) == 0.01
    assert supervised_figures.map_step(box, quick=True) == pytest.approx(
        24.0 / supervised_figures.QUICK_MAX_SIDE)
    assert supervised_figures.map_step((0, 1, 0, 1), quick=True) == 0.01  # already small: kept
    x = np.array([[0.0, -1.0], [2.0, 3.0]])
    assert supervised_figures.bounding_box(x) == (-1.0, 3.0, -2.0, 4.0)


def test_decision_map_of_a_known_linear_model():
    # No hidden layer, output sigmoid(x1 - x2): the map is that probability (compare_pred's
    # contours), class 1 exactly where x1 >= x2, the 0.1..0.9 band where |x1 - x2| < ln 9.
    config = {**supervised.TASK.defaults(), "n_hidden_layers": 0, "n_neurons": 1}
    state = {"out.weight": torch.tensor([[1.0, -1.0]]), "out.bias": torch.tensor([0.0])}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    points = Points(torch.tensor([[0.0, 0.0], [1.0, 1.5]]), torch.tensor([0, 1]))
    m = supervised_figures.decision_map(config, buffer.getvalue(), points, quick=False)
    assert m["box"] == (-1.0, 2.0, -1.0, 2.5) and m["h"] == 0.01 and m["n_classes"] == 2
    xs = np.arange(-1.0, 2.0, 0.01).astype(np.float32)
    ys = np.arange(-1.0, 2.5, 0.01).astype(np.float32)
    xx, yy = np.meshgrid(xs, ys)
    assert m["p"].shape == (350, 300) and m["p"].dtype == np.float32
    np.testing.assert_allclose(m["p"], 1 / (1 + np.exp(-(xx.astype(float) - yy))), atol=1e-6)
    np.testing.assert_array_equal(m["p"] >= 0.5, xx - yy >= 0)
    band = np.abs(xx.astype(float) - yy) < np.log(9)
    assert grid.boundary_share(m["p"]) == pytest.approx(band.mean(), abs=2 / band.size)
    assert 0.5 < band.mean() < 0.9  # the band is a real part of the box, not all or none


def test_figures_that_need_generated_data_say_why_not():
    with pytest.raises(figures.FigureUnavailable, match="no generated dataset"):
        supervised_figures.needs_supervised_data({"task": "surfaces"})
    points = Points(torch.zeros((3, 5)), torch.tensor([0, 1, 0]))
    with pytest.raises(figures.FigureUnavailable, match="5 features"):
        supervised_figures.decision_map(supervised.TASK.defaults(), b"", points, quick=True)
