"""Class-area control of an MLP: reach a target area of class 1 by moving its final layer.

The class-area notebook's first study: two Gaussian blobs (1000 training points, 2
features), an MLP of four linear layers (three hidden ReLU layers) with 2 logits, trained
with cross-entropy and Adam. The area of class 1 is the fraction of a grid over the
training data's bounding box (widened by `grid_margin`, step `grid_h`) that the model
assigns to class 1. A one-parameter family of final-layer weights (`suite.tasks.weight_path`)
moves that area; TPE (Optuna) and brentq search the value that gives target_ratio (0.8)
x the original area (`suite.tasks.area_control`, `suite.tasks.area_search`). `tpe_parallel` (default
1) makes TPE ask, evaluate and tell that many trials per round: batch-parallel TPE, a
different search from sequential TPE, evaluated in-process (each evaluation takes
milliseconds on features too large to ship), so it is for studying parallel TPE, not for
speed; the shipped studies keep 1.

The training and validation points come from one draw of the dataset (split after it):
for blobs, separate draws would put the blobs' centres elsewhere in each split.
"""

import io

import torch

from suite.errors import SuiteError
from suite.seeding import TrialSeeds
from suite.tasks import area_control
from suite.tasks import params as P
from suite.tasks._search_notes import tpe_rounds
from suite.tasks.area import Grid, grid_setting
from suite.tasks.base import Task, TrialContext, TrialOutcome, unit_bounds
from suite.training import components, datasets
from suite.training.datasets import Points
from suite.training.models import MLP, init_, widths_of
from suite.training.recipe import train

NONNEGATIVE = {"relu": "max(x, 0)", "sigmoid": "in (0, 1)"}

PARAMS = {
    "dataset": P.choice("blobs", datasets.DATASETS, "dataset maker"),
    "noise": P.dataset_noise(),
    "n_points": P.size("points", 1000, 2, doc="training points"),
    "n_val": P.size("points", 500, 1, doc="validation points (same draw, split off)"),
    "n_hidden_layers": P.int_range(3, 1, 100, "hidden layers (3: four linear layers)"),
    "n_neurons": P.widths(64, "neurons per hidden layer"),
    "activation": P.choice("relu", NONNEGATIVE, "hidden activation (non-negative outputs)"),
    "optimizer": P.choice("adam", components.OPTIMIZERS, "optimiser"),
    "lr": P.positive_float(0.01, "learning rate"),
    "batch_size": P.size("batch", 32, 1, doc="minibatch size"),
    "epochs": P.size("epochs", 30, 1, doc="training epochs"),
    "grid_margin": P.non_negative_float(1.0, "widening of the data's bounding box"),
    "grid_h": P.positive_float(0.02, "grid step"),
    "chunk_size": P.size("points", 4096, 1, doc="grid points per forward pass"),
    **area_control.PARAMS,
}

METRICS = (*area_control.METRICS, "train_accuracy", "val_accuracy", "final_loss")
CURVES = ("train_loss", "val_loss", "val_accuracy")
FIGURES = ("class_area_regions", "class_area_curve", "class_area_history")
MAX_GRID_POINTS = 50_000_000


def check(config, fail) -> None:
    features = datasets.make(config["dataset"], 40, 0).x.shape[1]
    if features != 2:
        fail("dataset", "a dataset of 2 features (the area is measured on a plane)",
             config["dataset"])
    n = config["n_neurons"]
    if isinstance(n, list) and len(n) != config["n_hidden_layers"]:
        fail("n_neurons", f"a list of {config['n_hidden_layers']} widths (one per hidden layer)",
             n)
    P.check_model_size(2, widths_of(config["n_hidden_layers"], n), fail)


def data(config, seeds: TrialSeeds) -> tuple[Points, Points]:
    """Training and validation points from one draw of the dataset."""
    n = config["n_points"]
    pts = datasets.make(config["dataset"], n + config["n_val"], seeds.data, config["noise"])
    return Points(pts.x[:n], pts.y[:n]), Points(pts.x[n:], pts.y[n:])


def build(config, generator: torch.Generator) -> MLP:
    model = MLP(2, widths_of(config["n_hidden_layers"], config["n_neurons"]), 2,
                config["activation"], "identity")
    return init_(model, generator)


def grid_of(config, train_points: Points) -> Grid:
    grid = Grid.around(train_points.x, config["grid_margin"], config["grid_h"])
    if grid.n > MAX_GRID_POINTS:
        raise SuiteError(f"the grid would have {grid.n} points (> {MAX_GRID_POINTS}); raise "
                         "grid_h")
    return grid


def fit(config, seeds: TrialSeeds, device: torch.device):
    tr, va = (p.to(device) for p in data(config, seeds))
    model = build(config, seeds.generator("init")).to(device)
    optimizer = components.get("optimizer", config["optimizer"])(model.parameters(),
                                                                lr=config["lr"])
    history = train(model, torch.nn.CrossEntropyLoss(), "cross_entropy", optimizer, tr, va,
                    config["epochs"], config["batch_size"], seeds.generator("order"))
    return model.eval(), tr, va, history


def run(config, seeds: TrialSeeds, device: torch.device,
        context: TrialContext | None = None) -> TrialOutcome:
    model, tr, va, history = fit(config, seeds, device)
    grid = grid_of(config, tr.to("cpu"))
    setting = grid_setting(model, grid, 1, config["chunk_size"], device)
    metrics, artifacts = area_control.control(setting, 1, config, seeds, context)
    with torch.inference_mode():
        metrics["train_accuracy"] = _accuracy(model, tr)
        metrics["val_accuracy"] = _accuracy(model, va)
    metrics["final_loss"] = history.train_loss[-1]
    artifacts["grid"] = {"x0": grid.x0, "y0": grid.y0, "h": grid.h, "nx": grid.nx,
                         "ny": grid.ny, "n": grid.n}
    return TrialOutcome(history.status, metrics, history.curves(),
                        artifacts, {"state_dict": state_bytes(model)}, note=history.note)


def _accuracy(model, pts: Points) -> float:
    return (model(pts.x).argmax(dim=1) == pts.y).double().mean().item()


def state_bytes(model: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def load_model(config, state: bytes) -> MLP:
    """A stored trial's trained model on the CPU."""
    model = build(config, torch.Generator().manual_seed(0))
    model.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
    return model.eval()


TASK = Task(name="class-area", description=__doc__.strip().splitlines()[0], params=PARAMS,
            metrics=METRICS, curves=CURVES, figures=FIGURES, run=run, check=check,
            timings=area_control.TIMINGS, report_notes=tpe_rounds,
            bounds=unit_bounds("original_area", "target_area", "monotone", "train_accuracy",
                               "val_accuracy"))
