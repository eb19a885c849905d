"""Supervised classification of a generated dataset by an MLP trained with minibatches.

The task behind the spiral studies (and any dataset in `suite.training.datasets`). Defaults are
the spiral notebook's: 4000 / 1000 / 500 points, noise 0.3, its `MultiLayerModel` (3 x 10
ReLU, no activation after the last hidden layer, so that layer and the output layer
compose into one linear map; `skip_last_hidden_activation = false` puts an activation
after every hidden layer, as scikit-learn's MLPClassifier does) with a sigmoid output,
MSE, SGD with lr 0.1, batch 32, 150 epochs. With no hidden layer either way it is the
notebook's first `Model`, one linear unit and a sigmoid.

Regularisers for the capacity studies, all off by default: `weight_decay` (L2, through the
optimiser), `l1` (a penalty on the weight matrices), `dropout`, and early stopping with
`patience` epochs on the validation loss (the validation split is its own draw of
`n_val` points; the best epoch's weights are restored and its numbers reported). With
`n_hidden_layers = 0` the model is a single linear unit (a perceptron-like logistic unit
trained by gradient descent). `gap` is train accuracy minus test accuracy.
"""

import copy
import io

import torch

from suite.seeding import TrialSeeds
from suite.tasks import params as P
from suite.tasks.base import Task, TrialOutcome, unit_bounds
from suite.training import components, datasets
from suite.training.models import MODELS, count_parameters, widths_of
from suite.training.recipe import accuracy, predict_labels
from suite.training.stacked_seeds import Fitted, fit_batch, make_splits, n_outputs

PARAMS = {
    "dataset": P.choice("spirals", datasets.DATASETS, "dataset maker"),
    "noise": P.dataset_noise(),
    "n_train": P.size("points", 4000, 2, doc="training points"),
    "n_val": P.size("points", 1000, 1, doc="validation points"),
    "n_test": P.size("points", 500, 1, doc="test points"),
    "model": P.choice("mlp", MODELS, "model family"),
    "n_hidden_layers": P.int_range(3, 0, 100, "hidden layers"),
    "n_neurons": P.widths(10, "neurons per hidden layer"),
    "activation": P.choice("relu", components.ACTIVATIONS, "hidden activation"),
    "output_activation": P.choice("sigmoid", components.ACTIVATIONS, "output activation"),
    "skip_last_hidden_activation": P.boolean(True, "seed 001's MultiLayerModel: no "
                                             "activation after the last hidden layer "
                                             "(false: an activation after every one)"),
    "dropout": P.fraction(0.0, "dropout probability after each hidden activation"),
    "loss": P.choice("mse", components.LOSSES, "training loss"),
    "optimizer": P.choice("sgd", components.OPTIMIZERS, "optimiser"),
    "lr": P.positive_float(0.1, "learning rate"),
    "weight_decay": P.non_negative_float(0.0, "L2 penalty (the optimiser's weight_decay)"),
    "batch_size": P.size("batch", 32, 1, doc="minibatch size"),
    "epochs": P.size("epochs", 150, 1, doc="training epochs"),
    "l1": P.non_negative_float(0.0, "L1 penalty on the weight matrices (0: off)"),
    "patience": P.size("epochs", 0, 0, doc="early stopping on the validation loss (0: off)"),
}

METRICS = ("val_accuracy", "test_accuracy", "train_accuracy", "final_loss", "final_val_loss",
           "initial_loss", "epochs_run", "n_parameters", "gap", "best_epoch", "boundary_width")
# `boundary_width`: the share of the validation data's box (+-1, compare_pred's grid) where
# the trained model's probability of class 1 lies inside decision_grid.BAND (0.1..0.9), on a grid of
# this step; seed 001's "thin"/"large" boundary as a number. 0.05 rather than the figure's
# 0.01: 25x fewer points, and the share moves by less than 0.005 (tests/test_report_contents.py).
BOUNDARY_H = 0.05
CURVES = ("train_loss", "val_loss", "val_accuracy")
FIGURES = ("data", "metric_vs_axis", "loss_curves", "decision_boundary", "gap_per_setting",
           "learning_curve", "isolation")


def check(config, fail) -> None:
    """Rules that span several parameters."""
    allowed = components.LOSS_OUTPUTS.get(config["loss"], set())
    if config["output_activation"] not in allowed:
        names = " or ".join(f"'{a}'" for a in sorted(allowed))
        fail("output_activation", f"{names} with loss '{config['loss']}'",
             config["output_activation"])
    n = config["n_neurons"]
    if isinstance(n, list) and len(n) != config["n_hidden_layers"]:
        fail("n_neurons", f"a list of {config['n_hidden_layers']} widths (one per hidden layer)",
             n)
    P.check_model_size(2, widths_of(config["n_hidden_layers"], n), fail)


def build(config, seeds: TrialSeeds, n_inputs: int, n_classes: int):
    """The initialised model, its loss function and its optimiser."""
    model = MODELS[config["model"]](config, n_inputs, n_outputs(config, n_classes),
                                    seeds.generator("init"))
    loss_fn = components.get("loss", config["loss"])()
    optimizer = components.get("optimizer", config["optimizer"])(
        model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    return model, loss_fn, optimizer


def fit(config, seeds: TrialSeeds, device: torch.device):
    """Train one trial (a batch of one); returns (model, loss_fn, splits on device, history)."""
    f = fit_batch(config, [seeds], device)[0]
    return f.model, components.get("loss", config["loss"])(), f.splits, f.history


def run(config, seeds: TrialSeeds, device: torch.device) -> TrialOutcome:
    return run_batch(config, [seeds], device)[0]


def run_batch(config, seeds_list: list[TrialSeeds], device: torch.device) -> list[TrialOutcome]:
    """Trials of one config under several seeds, trained together
    (`suite.training.stacked_seeds`); each trial's numbers are those it gets alone."""
    return [outcome(f, config) for f in fit_batch(config, seeds_list, device)]


def outcome(f: Fitted, config) -> TrialOutcome:
    history = f.history
    i = history.selected  # the last epoch, or the best one early stopping restored
    metrics = {"final_loss": history.train_loss[i], "initial_loss": history.initial_loss,
               "epochs_run": len(history.train_loss), "n_parameters": count_parameters(f.model),
               "best_epoch": history.best_epoch}
    finite = len(history.val_loss) == len(history.train_loss)
    if finite:
        metrics |= {"val_accuracy": history.val_accuracy[i], "test_accuracy": f.test_accuracy,
                    "train_accuracy": f.train_accuracy, "final_val_loss": history.val_loss[i]}
        metrics["gap"] = metrics["train_accuracy"] - metrics["test_accuracy"]
        metrics["boundary_width"] = boundary_width(f.model, f.splits[1], config["loss"])
    else:  # the weights are not finite: no prediction means anything
        metrics |= dict.fromkeys(("val_accuracy", "test_accuracy", "train_accuracy",
                                  "final_val_loss", "gap", "boundary_width"))
    artifacts = {} if history.best_epoch is not None else {"undefined": {
        "best_epoch": "no weights restored (early stopping off, or no finite validation loss)"}}
    return TrialOutcome(history.status, metrics, history.curves(),
                        artifacts, blobs={"state_dict": state_bytes(f.model)},
                        note=history.note)


def boundary_width(model: torch.nn.Module, points: datasets.Points, loss: str,
                   h: float = BOUNDARY_H) -> float | None:
    """The share of `points`' box (+-1) where the model's probability of class 1 is inside
    decision_grid.BAND; None unless the data is 2-D with two classes."""
    from suite.training import decision_grid as grid

    x = points.x.detach().cpu()
    if x.shape[1] != 2 or int(points.y.max()) > 1:
        return None
    if any(p.device.type != "cpu" for p in model.parameters()):
        model = copy.deepcopy(model).cpu()
    box = ((float(x[:, 0].min()) - 1, float(x[:, 0].max()) + 1),
           (float(x[:, 1].min()) - 1, float(x[:, 1].max()) + 1))
    return grid.boundary_share(grid.probability_map(model, loss, *box, h))


def state_bytes(model: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def load_model(config, state: bytes, n_inputs: int = 2, n_classes: int = 2) -> torch.nn.Module:
    """The trained model of a stored trial, rebuilt from its config and weights (CPU)."""
    model = MODELS[config["model"]](config, n_inputs, n_outputs(config, n_classes),
                                    torch.Generator().manual_seed(0))
    model.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
    return model.eval()


TASK = Task(name="supervised", description=__doc__.strip().splitlines()[0], params=PARAMS,
            metrics=METRICS, curves=CURVES, figures=FIGURES, run=run,
            check=check, run_batch=run_batch,
            bounds=unit_bounds("val_accuracy", "test_accuracy", "train_accuracy",
                               "boundary_width")
            | {"gap": (-1.0, 1.0)})

__all__ = ["TASK", "fit", "make_splits", "n_outputs", "predict_labels", "accuracy"]
