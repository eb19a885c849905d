"""Classification of your own table (CSV or Parquet) by the suite's MLPs, no code needed.

`path` names the file (relative paths are read under `data_root`, a run-time setting
given by `suite run --data-root DIR`, else from the working folder; the folder is not
part of a trial's identity, the path is). The file's SHA-256, rows, classes and features
are recorded in every trial's `artifacts["data"]`; a file edited under the same name is
not noticed by resume (use a new name or store), but `suite verify` sees other numbers.
`label` is the class column (any values: classes are its sorted distinct values),
`features` the numeric input columns (empty: every other column). Each seed splits the
rows (stratified by class unless `stratify` is false) into test (`test_fraction`),
validation (`val_fraction`) and training parts from its data seed; features are
standardised with the training part's mean and std. The model, losses and optimisers are
the `supervised` task's (trained as one stacked model per configuration). Metrics:
accuracy, balanced accuracy and macro F1 on every class count; with two classes also the
binary metrics of `suite.training.binary_metrics` (precision, recall, F1, specificity, ROC AUC,
PR AUC) for the larger label value as the positive class, at the model's own threshold.
A file that cannot serve (missing, empty, a column absent, a non-numeric or missing
feature value, one class only, too few rows for the split) is refused with one sentence
before any trial runs.
"""

import functools
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import torch

from suite.errors import SuiteError
from suite.seeding import TrialSeeds
from suite.tasks import params as P
from suite.tasks import supervised
from suite.tasks.base import Task, TrialOutcome, unit_bounds
from suite.tasks.params import Param
from suite.training import binary_metrics, components
from suite.training.datasets import Points
from suite.training.models import count_parameters
from suite.training.recipe import predict_labels
from suite.training.stacked_seeds import fit_batch

MLP_PARAMS = {k: v for k, v in supervised.PARAMS.items()
              if k not in ("dataset", "noise", "n_train", "n_val", "n_test")}


def _text(default, expected):
    return Param(default, expected, lambda v: isinstance(v, str) and v != "")


def _names(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) and x for x in v) and \
        len(set(v)) == len(v)


PARAMS = {
    "path": _text("data.csv", "a path to a .csv or .parquet file"),
    "data_root": Param(None, "a folder (or omitted)", lambda v: v is None or isinstance(v, str),
                       "folder that relative paths are read under"),
    "label": _text("label", "the name of the class column"),
    "features": Param([], "a list of distinct column names (empty: every other column)",
                      _names, "input columns"),
    "val_fraction": Param(0.2, "a float in (0, 1)", lambda v: P._is_num(v) and 0 < v < 1,
                          "share of the rows for validation"),
    "test_fraction": Param(0.2, "a float in (0, 1)", lambda v: P._is_num(v) and 0 < v < 1,
                           "share of the rows for the test"),
    "stratify": P.boolean(True, "keep each class's share in every split"),
    **MLP_PARAMS,
    # an activation after every hidden layer: seed 001's MultiLayerModel (the supervised
    # task's default) would make a one-hidden-layer network linear
    "skip_last_hidden_activation": P.boolean(False, "no activation after the last hidden "
                                             "layer (seed 001's MultiLayerModel)"),
    "n_hidden_layers": P.int_range(1, 0, 100, "hidden layers"),
    "n_neurons": P.widths(16, "neurons per hidden layer"),
    "output_activation": P.choice("identity", components.ACTIVATIONS, "output activation"),
    "loss": P.choice("cross_entropy", components.LOSSES, "training loss"),
    "optimizer": P.choice("adam", components.OPTIMIZERS, "optimiser"),
    "lr": P.positive_float(0.01, "learning rate"),
    "epochs": P.size("epochs", 50, 1, doc="training epochs"),
}
BINARY = ("precision", "recall", "f1", "specificity", "roc_auc", "pr_auc")
METRICS = ("test_accuracy", "val_accuracy", "train_accuracy", "test_balanced_accuracy",
           "test_macro_f1", *(f"test_{m}" for m in BINARY), "final_loss", "final_val_loss",
           "epochs_run", "best_epoch", "n_parameters")
CURVES = ("train_loss", "val_loss", "val_accuracy")
FIGURES = ("metric_vs_axis", "loss_curves")


def check(config, fail) -> None:
    supervised.check(config, fail)
    if config["val_fraction"] + config["test_fraction"] >= 1:
        fail("test_fraction", f"less than 1 - val_fraction ({1 - config['val_fraction']:g}), "
             "so that rows are left for training", config["test_fraction"])
    if config["label"] in config["features"]:
        fail("features", f"columns other than the label '{config['label']}'", config["label"])


# -- the table --------------------------------------------------------------------------
def resolve(config) -> Path:
    path = Path(os.path.expanduser(config["path"]))
    if not path.is_absolute() and config.get("data_root"):
        path = Path(os.path.expanduser(config["data_root"])) / path
    return path


def prepare(config) -> None:
    """Read and check the file once before any trial (the sentence for a bad one)."""
    classes = table(str(resolve(config)), config["label"], tuple(config["features"]))[2]
    if len(classes) > 2 and config["loss"] != "cross_entropy":
        raise SuiteError(f"The label column '{config['label']}' of {resolve(config)} has "
                         f"{len(classes)} classes, but the loss '{config['loss']}' takes two; "
                         "use loss = \"cross_entropy\" (with output_activation = \"identity\").")


@functools.lru_cache(maxsize=4)
def table(path: str, label: str, features: tuple[str, ...]):
    """(x float32 [n, d], y int64 [n], classes, feature names, sha256) of a checked file."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise SuiteError(f"The tabular data file {file} does not exist (task parameter "
                         "'path', read under --data-root when relative and given).")
    raw = file.read_bytes()
    try:
        if file.suffix.lower() == ".parquet":
            frame = pd.read_parquet(io.BytesIO(raw))
        else:
            frame = pd.read_csv(io.BytesIO(raw))
    except ImportError:
        raise SuiteError(f"Reading {file} needs pyarrow; run pip install 'suite[parquet]'.") \
            from None
    except Exception as e:  # pandas' parser errors: EmptyDataError, ParserError, ...
        raise SuiteError(f"The tabular data file {file} could not be read as "
                         f"{'Parquet' if file.suffix.lower() == '.parquet' else 'CSV'} "
                         f"({type(e).__name__}: {str(e).strip().splitlines()[0]}).") from None
    if frame.empty:
        raise SuiteError(f"The tabular data file {file} has no rows.")
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    wanted = list(features) or [c for c in columns if c != label]
    for name, role in [(label, "label"), *((f, "features") for f in wanted)]:
        if name not in columns:
            raise SuiteError(f"The tabular data file {file} has no column '{name}' (task "
                             f"parameter '{role}'); its columns are: {', '.join(columns)}.")
    if not wanted:
        raise SuiteError(f"The tabular data file {file} has no feature column besides the "
                         f"label '{label}'.")
    for name in wanted:
        _check_numeric(frame[name], name, file)
    if frame[label].isna().any():
        row = int(np.flatnonzero(frame[label].isna().to_numpy())[0])
        raise SuiteError(f"The label column '{label}' of {file} has no value in data row "
                         f"{row + 1}.")
    classes, y = np.unique(frame[label].to_numpy(), return_inverse=True)
    if len(classes) < 2:
        raise SuiteError(f"The label column '{label}' of {file} holds one class only "
                         f"({classes[0]!r}); classification needs at least two.")
    x = frame[wanted].to_numpy(dtype=np.float64).astype(np.float32)
    return (x, y.astype(np.int64), [_plain(c) for c in classes], wanted,
            hashlib.sha256(raw).hexdigest())


def _check_numeric(column, name: str, file: Path) -> None:
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SuiteError(f"The feature column '{name}' of {file} is not numeric ("
                         f"{column.iloc[row]!r} in data row {row + 1}); encode it as numbers "
                         "or leave it out of 'features'.")
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise SuiteError(f"The feature column '{name}' of {file} has no value in data row "
                         f"{row + 1}; fill or drop such rows first.")
    if not np.isfinite(values.to_numpy(dtype=np.float64)).all():
        raise SuiteError(f"The feature column '{name}' of {file} holds an infinite value.")


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def split_indices(y: np.ndarray, config, seeds: TrialSeeds) -> tuple[np.ndarray, ...]:
    """(train, validation, test) row indices for this seed, stratified by class."""
    from sklearn.model_selection import train_test_split

    first, second = seeds.split("data", 2)
    rows = np.arange(len(y))
    test_size, val_size = config["test_fraction"], config["val_fraction"]
    try:
        rest, test = train_test_split(rows, test_size=test_size, random_state=first % 2**32,
                                      stratify=y if config["stratify"] else None)
        train, val = train_test_split(rest, test_size=val_size / (1 - test_size),
                                      random_state=second % 2**32,
                                      stratify=y[rest] if config["stratify"] else None)
    except ValueError as e:
        raise SuiteError(f"The {len(y)} rows of the tabular data file {resolve(config)} "
                         f"cannot be split with val_fraction {val_size:g} and test_fraction "
                         f"{test_size:g}{' (stratified)' if config['stratify'] else ''}: "
                         f"{e}") from None
    return train, val, test


def make_splits(config, seeds: TrialSeeds) -> tuple[Points, Points, Points]:
    x, y, *_ = table(str(resolve(config)), config["label"], tuple(config["features"]))
    parts = split_indices(y, config, seeds)
    mean = x[parts[0]].mean(axis=0)
    std = x[parts[0]].std(axis=0)
    std[std == 0] = 1.0
    z = (x - mean) / std
    return tuple(Points(torch.as_tensor(z[i]), torch.as_tensor(y[i])) for i in parts)


# -- trials -----------------------------------------------------------------------------
def run(config, seeds: TrialSeeds, device: torch.device) -> TrialOutcome:
    return run_batch(config, [seeds], device)[0]


def run_batch(config, seeds_list: list[TrialSeeds], device) -> list[TrialOutcome]:
    """Trials of one config under several seeds, trained as one stacked model."""
    x, y, classes, names, sha = table(str(resolve(config)), config["label"],
                                      tuple(config["features"]))
    fitted = fit_batch(config, seeds_list, device, make_splits, n_classes=len(classes))
    data = {"file": resolve(config).name, "sha256": sha, "rows": len(y), "classes": classes,
            "features": names}
    return [outcome(config, f, data, len(classes)) for f in fitted]


@torch.inference_mode()
def _scores(model, config, points: Points) -> tuple[np.ndarray, np.ndarray]:
    """(predicted labels, score of the positive class) on a split: a probability for
    cross-entropy (softmax) and BCE with logits (sigmoid), the output itself otherwise;
    each loss's own labels are `score >= 0.5`."""
    out = model(points.x)
    labels = predict_labels(config["loss"], out).cpu().numpy()
    if config["loss"] == "cross_entropy":
        score = torch.softmax(out, dim=1)[:, -1]
    elif config["loss"] == "bce_with_logits":
        score = torch.sigmoid(out.view(-1))
    else:
        score = out.view(-1)
    return labels, score.cpu().numpy()


def classification_metrics(y_true, y_pred, scores, n_classes: int, threshold: float):
    """(metrics, undefined reasons) on the test split: sklearn's accuracy, balanced
    accuracy and macro F1; for two classes the suite's binary metrics."""
    from sklearn import metrics as skm

    labels = list(range(n_classes))
    out = {"test_accuracy": float(skm.accuracy_score(y_true, y_pred)),
           "test_balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
           "test_macro_f1": float(skm.f1_score(y_true, y_pred, labels=labels, average="macro",
                                               zero_division=0.0))}
    undefined = {}
    if n_classes == 2:
        binary, why, _ = binary_metrics.report(y_true, scores, threshold)
        out |= {f"test_{m}": binary.get(m) for m in BINARY}
        undefined |= {f"test_{m}": r for m, r in why.items() if m in BINARY}
    else:
        out |= {f"test_{m}": None for m in BINARY}
        undefined |= {f"test_{m}": f"{n_classes} classes: binary metrics need two"
                      for m in BINARY}
    return out, undefined


def outcome(config, f, data: dict, n_classes: int) -> TrialOutcome:
    history, i = f.history, f.history.selected
    metrics = {"final_loss": history.train_loss[i], "epochs_run": len(history.train_loss),
               "best_epoch": history.best_epoch, "n_parameters": count_parameters(f.model),
               **{m: None for m in METRICS if m.startswith("test_")},
               "val_accuracy": None, "train_accuracy": None, "final_val_loss": None}
    undefined = {}
    if len(history.val_loss) == len(history.train_loss):  # finite weights
        train, _, test = (s.to("cpu") for s in f.splits)
        model = f.model.to("cpu")
        y_pred, scores = _scores(model, config, test)  # scores: the positive class's
        test_metrics, undefined = classification_metrics(test.y.numpy(), y_pred, scores,
                                                         n_classes, 0.5)
        metrics |= test_metrics
        metrics |= {"val_accuracy": history.val_accuracy[i], "train_accuracy":
                    float((_scores(model, config, train)[0] == train.y.numpy()).mean()),
                    "final_val_loss": history.val_loss[i]}
    else:
        undefined = {m: "the weights are not finite" for m in metrics if metrics[m] is None}
    if history.best_epoch is None:
        undefined["best_epoch"] = "no weights restored (early stopping off)"
    return TrialOutcome(history.status, metrics, history.curves(),
                        {"data": data, "undefined": undefined},
                        blobs={"state_dict": supervised.state_bytes(f.model)},
                        note=history.note)


TASK = Task(name="tabular", description=__doc__.strip().splitlines()[0], params=PARAMS,
            metrics=METRICS, curves=CURVES, figures=FIGURES, run=run, check=check,
            run_batch=run_batch, runtime=("data_root",), prepare=prepare,
            bounds=unit_bounds("test_accuracy", "val_accuracy", "train_accuracy",
                               "test_balanced_accuracy", "test_macro_f1",
                               *(f"test_{m}" for m in BINARY)))
