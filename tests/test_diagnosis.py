"""Curve diagnosis on synthetic curves shaped like the optimisation notebook's scenarios,
and the diagnosis column of the results tables."""

import numpy as np
import pytest

from suite import analysis
from suite.analysis import diagnosis

EPOCHS = np.arange(1, 101)


def scenario(name: str, rng: np.random.Generator) -> dict:
    """The notebook's curve shapes (good, overfitting, high learning rate), uniform noise
    included, and an underfitting one of our own (it leaves that as an exercise)."""
    e, u = EPOCHS, lambda scale: rng.random(100) * scale
    curves = {
        "good": {"train_loss": 1 / e**0.5 + u(0.1),
                 "train_accuracy": 0.95 - 0.4 / e**0.5 + u(0.02),
                 "val_accuracy": 0.90 - 0.3 / e**0.5 + u(0.02)},
        "overfitting": {"train_loss": 0.5 / e**0.7 + u(0.05),
                        "train_accuracy": 0.98 - 0.2 / e**0.8 + u(0.01),
                        "val_accuracy": 0.75 + 0.1 * np.sin(e / 20) + u(0.03)},
        "lr_too_high": {"train_loss": 0.5 + np.abs(0.5 * np.sin(e / 5) + u(0.2)) + 1 / e},
        "underfitting": {"train_loss": 0.9 - 0.1 * (1 - np.exp(-e / 20)) + u(0.02),
                         "train_accuracy": 0.55 + 0.05 * (1 - np.exp(-e / 20)) + u(0.02),
                         "val_accuracy": 0.53 + 0.05 * (1 - np.exp(-e / 20)) + u(0.02)},
    }[name]
    return {k: v.tolist() for k, v in curves.items()}


@pytest.mark.parametrize("name", ["good", "overfitting", "lr_too_high", "underfitting"])
def test_the_four_notebook_scenarios_get_their_label(name):
    for seed in range(50):
        d = diagnosis.diagnose(scenario(name, np.random.default_rng(seed)))
        assert d.label == name, (seed, d)


def test_losses_with_a_rising_validation_loss_are_overfitting():
    train = 1 / EPOCHS**0.5
    val = 0.6 + 0.0002 * (EPOCHS - 30) ** 2  # lowest at epoch 30, then rising
    d = diagnosis.diagnose({"train_loss": train.tolist(), "val_loss": val.tolist()})
    assert d.label == "overfitting" and "epoch 30" in d.reason
    d = diagnosis.diagnose({"train_loss": train.tolist(), "val_loss": (train + 0.05).tolist()})
    assert d.label == "good"


def test_divergence_is_a_too_high_learning_rate():
    flat = [0.5] * 10
    assert diagnosis.diagnose({"train_loss": flat}, status="diverged").label == "lr_too_high"
    assert diagnosis.diagnose({"train_loss": [0.7, 0.5, None]}).label == "lr_too_high"
    assert diagnosis.diagnose({"train_loss": [0.7, 0.5, float("inf")]}).label == "lr_too_high"
    d = diagnosis.diagnose({"train_loss": [0.3, 0.4, 0.45]}, initial_loss=0.25)
    assert d.label == "lr_too_high" and "ended above its start" in d.reason


def test_the_initial_loss_decides_underfitting_when_given():
    curve = [0.24, 0.23, 0.22, 0.21, 0.2]  # 17% below its first value, 20% below 0.25
    assert diagnosis.diagnose({"train_loss": curve}).label == "underfitting"
    assert diagnosis.diagnose({"train_loss": curve}, initial_loss=0.5).label == "good"


def test_early_stopping_cuts_the_curves_at_the_restored_epoch():
    train = (1 / EPOCHS**0.5)[:60]
    val = (0.6 + 0.0002 * (EPOCHS - 30) ** 2)[:60]
    curves = {"train_loss": train.tolist(), "val_loss": val.tolist()}
    assert diagnosis.diagnose(curves).label == "overfitting"
    assert diagnosis.diagnose(curves, best_epoch=30).label == "good"


def test_no_curve_is_unknown():
    assert diagnosis.diagnose({}).label == "unknown"
    assert diagnosis.diagnose({"w1": [1.0]}).label == "unknown"


def test_smoothing_is_a_trailing_mean():
    x = np.arange(20, dtype=float)
    assert diagnosis.smooth(x)[:3].tolist() == [0.5, 1.0, 2.0]  # h = 1: x[i-1 .. i+1]
    assert diagnosis.smooth(x)[-1] == 18.5
    assert diagnosis.smooth(np.array([3.0, 5.0])).tolist() == [3.0, 5.0]  # h = 0


def _row(i, status="ok", seed=0, label="a"):
    return {"trial_id": f"t{i}", "labels": {"axis": label}, "seed_index": seed,
            "status": status, "config_hash": label, "metrics": {"m": float(i)}}


def test_trials_frame_gets_a_diagnosis_column_from_the_curves():
    rng = np.random.default_rng(0)
    rows = [_row(0), _row(1, seed=1), _row(2, seed=2), _row(3, label="b")]
    curves = {"t0": scenario("good", rng), "t1": scenario("overfitting", rng),
              "t2": scenario("overfitting", rng), "t3": {}}
    frame = analysis.trials_frame(rows, ["m"], curves)
    assert frame["diagnosis"].tolist() == ["good", "overfitting", "overfitting", "unknown"]
    assert "diagnosis" not in analysis.trials_frame(rows, ["m"]).columns  # old call unchanged
    summary = analysis.summary(frame, ["axis"], ["m"])
    assert summary["diagnosis"].tolist() == ["overfitting (2/3)", "unknown (1/1)"]


def test_a_tie_between_seeds_shows_the_problem():
    rng = np.random.default_rng(1)
    rows = [_row(0), _row(1, seed=1)]
    curves = {"t0": scenario("good", rng), "t1": scenario("underfitting", rng)}
    summary = analysis.summary(analysis.trials_frame(rows, ["m"], curves), ["axis"], ["m"])
    assert summary["diagnosis"].tolist() == ["underfitting (1/2)"]
