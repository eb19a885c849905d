"""Simulated learning curves (seed 002, section 3) and the suite's diagnosis of them.

One trial is one scenario drawn with one seed: the notebook's formulas over epochs
e = 1..E (E = 100 in the notebook), with its uniform noise `rand(E) * scale` drawn from the
trial's data seed instead of the global NumPy state:

- `good`:         loss 1/e^0.5 + U*0.1, train accuracy 0.95 - 0.4/e^0.5 + U*0.02,
                  validation accuracy 0.90 - 0.3/e^0.5 + U*0.02;
- `overfitting`:  loss 0.5/e^0.7 + U*0.05, train accuracy 0.98 - 0.2/e^0.8 + U*0.01,
                  validation accuracy 0.75 + 0.1 sin(e/20) + U*0.03;
- `lr_too_high`:  loss 0.5 + |0.5 sin(e/5) + U*0.2| + 1/e (the notebook draws the loss only);
- `underfitting`: the notebook leaves it as an exercise ("the model is too simple or training
                  is insufficient"); ours: loss 0.9 - 0.1 (1 - exp(-e/20)) + U*0.02, train
                  accuracy 0.55 + 0.05 (1 - exp(-e/20)) + U*0.02, validation 0.53 + the same.

The trial's curves are stored under the names the diagnosis reads (`train_loss`,
`train_accuracy`, `val_accuracy`), so `suite results` labels them like any trained
model's. Metrics: `diagnosed_as_named` (1 when `suite.analysis.diagnosis` gives the scenario its
own name, else 0), the final training loss and the final validation accuracy (undefined
for `lr_too_high`, which has no accuracy curves). The label and its reason are in the
trial's artifacts.
"""

import numpy as np
import torch

from suite.analysis import diagnosis
from suite.seeding import TrialSeeds
from suite.tasks import params as P
from suite.tasks.base import Task, TrialOutcome, unit_bounds


def _good(e, u):
    return {"train_loss": 1.0 / e**0.5 + u(0.1),
            "train_accuracy": 0.95 - 0.4 / e**0.5 + u(0.02),
            "val_accuracy": 0.90 - 0.3 / e**0.5 + u(0.02)}


def _overfitting(e, u):
    return {"train_loss": 0.5 / e**0.7 + u(0.05),
            "train_accuracy": 0.98 - 0.2 / e**0.8 + u(0.01),
            "val_accuracy": 0.75 + 0.1 * np.sin(e / 20) + u(0.03)}


def _lr_too_high(e, u):
    return {"train_loss": 0.5 + np.abs(0.5 * np.sin(e / 5) + u(0.2)) + 1.0 / e}


def _underfitting(e, u):
    rise = 1 - np.exp(-e / 20)
    return {"train_loss": 0.9 - 0.1 * rise + u(0.02),
            "train_accuracy": 0.55 + 0.05 * rise + u(0.02),
            "val_accuracy": 0.53 + 0.05 * rise + u(0.02)}


SCENARIOS = {"good": _good, "overfitting": _overfitting, "lr_too_high": _lr_too_high,
             "underfitting": _underfitting}

PARAMS = {
    "scenario": P.choice("good", SCENARIOS, "the simulated learning-curve scenario"),
    "epochs": P.size("epochs", 100, 10, doc="epochs simulated (the notebook's 100)"),
}
METRICS = ("diagnosed_as_named", "final_train_loss", "final_val_accuracy")
CURVES = ("train_loss", "train_accuracy", "val_accuracy")
FIGURES = ("curve_scenarios",)


def simulate(scenario: str, epochs: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The scenario's curves over epochs 1..epochs, noise drawn from `rng` in the
    notebook's order (loss, train accuracy, validation accuracy)."""
    e = np.arange(1, epochs + 1, dtype=np.float64)
    return SCENARIOS[scenario](e, lambda scale: rng.random(epochs) * scale)


def run(config, seeds: TrialSeeds, device: torch.device) -> TrialOutcome:
    curves = {k: v.tolist() for k, v in
              simulate(config["scenario"], config["epochs"], seeds.numpy("data")).items()}
    d = diagnosis.diagnose(curves)
    val = curves.get("val_accuracy")
    metrics = {"diagnosed_as_named": float(d.label == config["scenario"]),
               "final_train_loss": curves["train_loss"][-1],
               "final_val_accuracy": val[-1] if val else None}
    artifacts = {"diagnosis": d.label, "reason": d.reason, "expected": config["scenario"]}
    if not val:
        artifacts["undefined"] = {"final_val_accuracy": "the scenario has no accuracy curves"}
    return TrialOutcome("ok", metrics, curves, artifacts)


TASK = Task(name="curve-scenario", description=__doc__.strip().splitlines()[0], params=PARAMS,
            metrics=METRICS, curves=CURVES, figures=FIGURES, run=run,
            bounds=unit_bounds("diagnosed_as_named", "final_val_accuracy"))
