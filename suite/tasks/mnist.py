"""MNIST digits classified by an MLP or a small CNN, ending in 10 logits.

Architectures (`architecture`): `mlp`, Flatten -> hidden ReLU layers -> 10 logits (the
notebook's model); `cnn`, the layers the notebook names for images (seed 003: `Conv2D`,
`MaxPooling2D`) in Keras' usual order: per entry f of `conv_filters`, Conv2D(f, 3 x 3,
'valid' padding) -> ReLU -> MaxPooling2D(2 x 2), then Flatten -> the `hidden` ReLU layers
-> 10 logits ([32, 64] and [128]: 28 -> 26 -> 13 -> 11 -> 5 pixels a side, 1,600 features).
The notebook's recipe: Adam (lr 1e-3), cross-entropy, batch 32 (Keras' default), 10
epochs, pixels scaled to [0, 1]. Data and splits as in `suite.training.mnist_data` (the standard
60,000 / 10,000 split, or the documented offline split of the official test set). The
trial stores test accuracy, per-class accuracy and the confusion matrix, and the split it
used (`artifacts["split"]`).
"""

import io

import torch
from torch import nn

from suite.analysis import mnist_findings
from suite.seeding import TrialSeeds
from suite.tasks import params as P
from suite.tasks.base import Task, TrialOutcome, unit_bounds
from suite.training import components, mnist_data
from suite.training.datasets import Points
from suite.training.models import MLP, count_parameters, init_
from suite.training.recipe import evaluate, predict_labels, train

LOSS = "cross_entropy"

# Where and how the data is read. data_root and download are run-time settings: they say
# where the bytes come from, not what is computed, so they are left out of the trial's
# identity (RUNTIME); the split that was used is recorded in each trial's artifacts.
DATA_PARAMS = {
    "data_root": P.Param(None, "a folder path (or omitted: --data-root, $SUITE_DATA_ROOT, "
                         "~/.cache/suite/data, else the shipped test set)", lambda v: v is None or
                         (isinstance(v, str) and v != ""), "folder with the MNIST IDX files"),
    "download": P.boolean(False, "fetch the files with torchvision when missing (internet)"),
    "split": P.choice("auto", mnist_data.SPLITS, "standard, offline, or auto (standard when the "
                      "training files are present)"),
    "val_fraction": P.Param(0.2, "a float in (0, 1)", lambda v: isinstance(v, int | float)
                            and not isinstance(v, bool) and 0 < v < 1,
                            "share of the development set held out for validation"),
    "offline_test": P.int_range(2000, 1, 9999, "offline split: test digits held out of the "
                                "10,000"),
}
RUNTIME = ("data_root", "download")

def _filters_ok(v) -> bool:
    return isinstance(v, list) and 1 <= len(v) <= 3 and all(
        isinstance(f, int) and not isinstance(f, bool) and 1 <= f <= P.SIZE_LIMITS["width"]
        for f in v)


ARCHITECTURES = {"mlp": "Flatten -> hidden ReLU layers -> 10",
                 "cnn": "[Conv2D 3x3 -> ReLU -> MaxPooling 2x2] per conv_filters entry, "
                        "Flatten -> hidden ReLU layers -> 10"}

PARAMS = {
    **DATA_PARAMS,
    "architecture": P.choice("mlp", ARCHITECTURES, "mlp, or cnn (Conv2D and MaxPooling)"),
    "conv_filters": P.Param([32, 64], "a list of 1 to 3 integers in [1, 10,000] (filters of "
                            "each Conv2D block)", _filters_ok, "cnn: filters per Conv2D block"),
    "hidden": P.widths([128], "widths of the hidden layers, e.g. [256, 128]"),
    "activation": P.choice("relu", components.ACTIVATIONS, "hidden activation"),
    "optimizer": P.choice("adam", components.OPTIMIZERS, "optimiser"),
    "lr": P.positive_float(1e-3, "learning rate (Keras' Adam default)"),
    "batch_size": P.size("batch", 32, 1, doc="minibatch size (Keras' default)"),
    "epochs": P.size("epochs", 10, 1, doc="training epochs"),
}

METRICS = ("test_accuracy", "val_accuracy", "train_accuracy", "final_loss", "final_val_loss",
           "initial_loss", "epochs_run", "n_parameters", "n_train", "n_test")
CURVES = ("train_loss", "val_loss", "val_accuracy")
FIGURES = ("confusion_matrix", "metric_vs_axis", "loss_curves")


def widths(hidden) -> list[int]:
    return [hidden] if isinstance(hidden, int) else list(hidden)


def prepare(config) -> None:
    """Run once in the driver before any trial: fetch the files if asked, and fail early,
    with one clear sentence, when they are missing or broken."""
    root = mnist_data.resolve_root(config["data_root"], download=config["download"])
    if config["download"]:
        mnist_data.download(root)
    mode = mnist_data.resolve_split(root, config["split"])
    mnist_data.check_torchvision()
    for part in ("test", "train") if mode == "standard" else ("test",):
        mnist_data.read_part(*mnist_data.locate(root, part))


def load(config, seeds: TrialSeeds) -> mnist_data.Split:
    root = mnist_data.resolve_root(config["data_root"])
    return mnist_data.load_split(root, config["split"], seeds.split("data", 2),
                            config["val_fraction"], config["offline_test"])


class CNN(nn.Module):
    """Flattened 28 x 28 digits -> [Conv2D(f, 3) -> activation -> MaxPool(2)] per filter
    count -> Flatten -> an MLP head (hidden layers -> logits)."""

    def __init__(self, filters: list[int], hidden: list[int], n_outputs: int, activation: str):
        super().__init__()
        blocks, channels, side = [], 1, mnist_data.SHAPE[0]
        for f in filters:
            blocks += [nn.Conv2d(channels, f, 3), components.get("activation", activation)(),
                       nn.MaxPool2d(2)]
            channels, side = f, (side - 2) // 2
        self.conv = nn.Sequential(*blocks)
        self.head = MLP(channels * side * side, hidden, n_outputs, activation, "identity")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x.view(-1, 1, *mnist_data.SHAPE)).flatten(1))


def model_of(config, hidden: list[int]) -> nn.Module:
    """The uninitialised network the config describes (MLP unless architecture 'cnn')."""
    if config.get("architecture", "mlp") == "cnn":
        return CNN(config["conv_filters"], hidden, mnist_data.N_CLASSES, config["activation"])
    return MLP(28 * 28, hidden, mnist_data.N_CLASSES, config["activation"], "identity")


def build(config, seeds: TrialSeeds, hidden: list[int], lr: float, init_seed: int | None = None):
    """The seeded network (784 pixels -> ... -> 10 logits), its loss and its optimiser."""
    model = model_of(config, hidden)
    gen = seeds.generator("init") if init_seed is None else torch.Generator().manual_seed(init_seed)
    init_(model, gen)
    optimizer = components.get("optimizer", config["optimizer"])(model.parameters(), lr=lr)
    return model, components.get("loss", LOSS)(), optimizer


@torch.inference_mode()
def confusion(model, data: Points) -> torch.Tensor:
    """Counts[true, predicted] over `data` (rows: true digits)."""
    model.eval()
    pred = predict_labels(LOSS, model(data.x))
    k = mnist_data.N_CLASSES
    return torch.bincount(data.y * k + pred, minlength=k * k).reshape(k, k).cpu()


def class_report(counts: torch.Tensor) -> dict:
    """Accuracy overall and per true class (None for a class absent from the data)."""
    per_class = [None if int(row.sum()) == 0 else float(row[i]) / float(row.sum())
                 for i, row in enumerate(counts)]
    total = int(counts.sum())
    return {"accuracy": float(counts.trace()) / total if total else None,
            "per_class_accuracy": per_class, "confusion_matrix": counts.tolist()}


def run(config, seeds: TrialSeeds, device: torch.device) -> TrialOutcome:
    data = load(config, seeds)
    tr, va, te = (p.to(device) for p in (data.train, data.val, data.test))
    model, loss_fn, optimizer = build(config, seeds, widths(config["hidden"]), config["lr"])
    model.to(device)
    history = train(model, loss_fn, LOSS, optimizer, tr, va, config["epochs"],
                    config["batch_size"], seeds.generator("order"))
    metrics = {"final_loss": history.train_loss[-1], "initial_loss": history.initial_loss,
               "epochs_run": len(history.train_loss), "n_parameters": count_parameters(model),
               "n_train": len(tr.y), "n_test": len(te.y)}
    artifacts = {"split": data.info}
    if len(history.val_loss) == len(history.train_loss):
        report = class_report(confusion(model, te))
        metrics |= {"test_accuracy": report["accuracy"], "val_accuracy": history.val_accuracy[-1],
                    "train_accuracy": evaluate(model, loss_fn, LOSS, tr)[1],
                    "final_val_loss": history.val_loss[-1]}
        artifacts |= {k: report[k] for k in ("per_class_accuracy", "confusion_matrix")}
    else:  # the weights are not finite: no prediction means anything
        metrics |= dict.fromkeys(("test_accuracy", "val_accuracy", "train_accuracy",
                                  "final_val_loss"))
    return TrialOutcome(history.status, metrics, history.curves(),
                        artifacts, {"state_dict": state_bytes(model)}, history.note)


def state_bytes(model: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def check(config, fail) -> None:
    """The model's size (784 pixels in)."""
    P.check_model_size(784, widths(config["hidden"]), fail, "hidden")


TASK = Task(name="mnist", description=__doc__.strip().splitlines()[0], params=PARAMS,
            metrics=METRICS, curves=CURVES, figures=FIGURES, run=run, runtime=RUNTIME,
            prepare=prepare, check=check, findings=mnist_findings.architectures_findings,
            bounds=unit_bounds("test_accuracy", "val_accuracy", "train_accuracy"))
