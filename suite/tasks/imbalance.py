"""Binary classification under class imbalance: the metrics, and the remedies.

Data (the optimisation notebook's, seed 002 section 4): `make_classification` with 1000
samples, 20 features (2 informative, 10 redundant), one cluster per class, class weights
(1 - minority, minority), no label noise, drawn from the trial's data seed. Splits
(`split`):
- `fit_val_test` (default): a stratified split keeps `test_fraction` (30%) as the test
  part; a second stratified split takes `val_fraction` (25%) of the rest as the validation
  part, and the model trains on the remainder (the fit part: 52.5% of the samples). The
  validation part gives the validation curves and can choose the decision threshold;
- `train_test`: the notebook's plain stratified 70/30 split; the model trains on the whole
  training part, and there is no validation part.
The test part is only used for the reported metrics. With `standardise` (default) the
features are standardised with the mean and standard deviation of the part the model is
fitted on (before any resampling; per fold under cross-validation).

Models (`estimator`):
- `torch`: `n_hidden_layers = 0` is logistic regression (one linear unit, a logit), more
  is a small MLP; both end in one logit trained with BCEWithLogits by minibatches (the
  suite's `training.train`);
- `liblinear`: the notebook's `LogisticRegression(solver="liblinear")` from scikit-learn
  (L2, inverse strength `C`, 1.0 by default), `random_state` from the trial's init seed.
  It records no loss curves (`initial_loss`, `final_loss` undefined, with the reason).

Remedies, all off by default and combinable:
- `class_weight = true`: the positive terms of the loss are weighted by n_negative /
  n_positive of the fit part (`pos_weight`, torch), or `class_weight="balanced"`
  (liblinear: n / (2 n_class) per class, the same ratio between the classes);
- `resample` (imbalanced-learn, applied to the part the model is fitted on only, never to
  the validation or test parts): `over` (RandomOverSampler: minority samples repeated
  until the classes are equal), `under` (RandomUnderSampler: majority samples dropped),
  `smote` (SMOTE: synthetic minority samples on the segments to its `k` nearest minority
  neighbours, k = 5, or fewer when the part has fewer than 6 minority samples; with fewer
  than 2 it falls back to random over-sampling, and the trial says so); seeded from the
  trial's sampler seed. `n_fit` and `n_fit_positive` count the samples fitted on;
- `threshold_rule`: `fixed` uses `fixed_threshold` (0.5); `val_f1` chooses the threshold
  on the predicted probability that maximises F1 on the validation part (candidates: the
  distinct validation scores; the highest of equally good ones; then moved halfway down
  to the next lower score, which leaves the validation predictions unchanged); `cv_f1`
  chooses it the same way on out-of-fold scores of a stratified `cv_folds`-fold
  cross-validation of the part the model is fitted on (each fold refitted with the same
  recipe, resampling included), for splits without a validation part. Without positives
  to choose on, both fall back to `fixed_threshold`, and the trial says so.

Metrics (on the test part): see `suite.training.binary_metrics`; undefined ones are None with the
reason in the artifacts (`undefined`), plus the confusion matrix and the test scores and
labels (for the ROC and PR figures).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, train_test_split

from suite.seeding import TrialSeeds
from suite.tasks import params as P
from suite.tasks.base import Task, TrialOutcome, unit_bounds
from suite.training import binary_metrics, components, datasets
from suite.training.models import MLP, init_, widths_of
from suite.training.recipe import History, train


def _num(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def best_f1_threshold(scores, labels) -> tuple[float | None, str]:
    """The threshold maximising F1 of `scores >= t` against `labels`, or (None, reason)."""
    if not np.asarray(labels).astype(bool).any():
        return None, "no positive sample to choose the threshold on"
    thresholds, precision, recall = binary_metrics.pr_points(labels, scores)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    k = int(np.argmax(f1))  # first maximum: the highest threshold among ties
    if k + 1 < len(thresholds):
        return float((thresholds[k] + thresholds[k + 1]) / 2), f"max F1 {f1[k]:.4f}"
    return float(thresholds[k]), f"max F1 {f1[k]:.4f}"


def _chosen(scores, labels, config, where: str) -> tuple[float, str]:
    threshold, why = best_f1_threshold(scores, labels)
    if threshold is None:
        return config["fixed_threshold"], f"fell back to the fixed threshold: {why} ({where})"
    return threshold, f"{why} on the {where}"


def fixed_rule(config, parts, seeds, device) -> tuple[float, str]:
    return config["fixed_threshold"], "fixed"


def val_f1_rule(config, parts, seeds, device) -> tuple[float, str]:
    fitted = parts["model"]
    return _chosen(fitted.scores(parts["val"]), parts["val"].y.numpy(), config,
                   "validation part")


def cv_f1_rule(config, parts, seeds, device) -> tuple[float, str]:
    scores, labels = out_of_fold_scores(config, parts["fit"], seeds, device)
    return _chosen(scores, labels, config,
                   f"out-of-fold scores of {config['cv_folds']}-fold cross-validation")


THRESHOLD_RULES = {"fixed": fixed_rule, "val_f1": val_f1_rule, "cv_f1": cv_f1_rule}
SPLITS = {"fit_val_test": "stratified test part, then a validation part of the rest",
          "train_test": "the notebook's plain stratified train / test split"}


def _over(seed, n_min):
    from imblearn.over_sampling import RandomOverSampler

    return RandomOverSampler(random_state=seed), ""


def _under(seed, n_min):
    from imblearn.under_sampling import RandomUnderSampler

    return RandomUnderSampler(random_state=seed), ""


def _smote(seed, n_min):
    from imblearn.over_sampling import SMOTE

    if n_min < 2:
        over, _ = _over(seed, n_min)
        return over, (f"SMOTE needs 2 minority samples, the part has {n_min}: random "
                      "over-sampling instead")
    k = min(5, n_min - 1)
    note = "" if k == 5 else f"SMOTE with k = {k} neighbours ({n_min} minority samples)"
    return SMOTE(k_neighbors=k, random_state=seed), note


# name -> (seed, minority count) -> (imbalanced-learn sampler, note); None: no resampling
RESAMPLERS: dict[str, Callable | None] = {"none": None, "over": _over, "under": _under,
                                          "smote": _smote}

PARAMS = {
    "n_samples": P.size("points", 1000, 10, doc="samples before the splits"),
    "minority": P.Param(0.05, "a float in (0, 0.5]", lambda v: _num(v) and 0 < v <= 0.5,
                        "share of the positive class"),
    "split": P.choice("fit_val_test", SPLITS, "fit / validation / test, or train / test"),
    "test_fraction": P.Param(0.3, "a float in (0, 1)", lambda v: _num(v) and 0 < v < 1,
                             "stratified test share"),
    "val_fraction": P.Param(0.25, "a float in (0, 1)", lambda v: _num(v) and 0 < v < 1,
                            "stratified validation share of the non-test part"),
    "standardise": P.boolean(True, "standardise the features with the fitted part's "
                             "mean and standard deviation"),
    "estimator": P.choice("torch", {"torch": None, "liblinear": None},
                          "torch logit/MLP, or scikit-learn's liblinear logistic regression"),
    "C": P.positive_float(1.0, "liblinear: inverse L2 regularisation strength"),
    "n_hidden_layers": P.int_range(0, 0, 10, "hidden layers (0: logistic regression)"),
    "n_neurons": P.widths(16, "neurons per hidden layer"),
    "activation": P.choice("relu", components.ACTIVATIONS, "hidden activation"),
    "optimizer": P.choice("adam", components.OPTIMIZERS, "optimiser"),
    "lr": P.positive_float(0.01, "learning rate"),
    "weight_decay": P.non_negative_float(0.0, "L2 penalty (the optimiser's weight_decay)"),
    "batch_size": P.size("batch", 32, 1, doc="minibatch size"),
    "epochs": P.size("epochs", 100, 1, doc="training epochs"),
    "class_weight": P.boolean(False, "weight the positive class by n_neg / n_pos"),
    "resample": P.choice("none", RESAMPLERS, "imbalanced-learn resampling of the fitted part"),
    "threshold_rule": P.choice("fixed", THRESHOLD_RULES, "how the threshold is chosen"),
    "cv_folds": P.size("count", 5, 2, doc="folds of the cv_f1 threshold rule"),
    "fixed_threshold": P.Param(0.5, "a float in (0, 1)", lambda v: _num(v) and 0 < v < 1,
                               "threshold on the probability for 'fixed'"),
}

METRICS = ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc",
           "balanced_accuracy", "tn", "fp", "fn", "tp", "threshold", "n_test_positive",
           "initial_loss", "final_loss", "n_fit", "n_fit_positive")
CURVES = ("train_loss", "val_loss", "val_accuracy")
FIGURES = ("confusion_matrix", "roc_pr_curves", "metric_vs_minority")


def minority_counts(config) -> tuple[float, float, float]:
    """Expected minority samples in the fit, validation and test parts (validation 0
    with the train_test split)."""
    n = config["n_samples"]
    n_min = n - int(n * (1 - config["minority"]))  # make_classification's class sizes
    rest = n_min * (1 - config["test_fraction"])
    test = n_min * config["test_fraction"]
    if config["split"] == "train_test":
        return rest, 0.0, test
    return rest * (1 - config["val_fraction"]), rest * config["val_fraction"], test


def check(config, fail) -> None:
    counts = minority_counts(config)
    needed = counts if config["split"] == "fit_val_test" else (counts[0], counts[2])
    if min(needed) < 1:
        fail("minority", "a share leaving at least one minority sample in each part the "
             "split makes (expected " + ", ".join(f"{c:.1f}" for c in needed) +
             f" of n_samples {config['n_samples']})", config["minority"])
    if config["threshold_rule"] == "val_f1" and config["split"] == "train_test":
        fail("threshold_rule", "'fixed' or 'cv_f1' with split 'train_test' (it has no "
             "validation part)", "val_f1")
    if config["threshold_rule"] == "cv_f1" and counts[0] < config["cv_folds"]:
        fail("cv_folds", f"at most the {counts[0]:.1f} minority samples expected in the "
             "fitted part (each fold needs one)", config["cv_folds"])
    n = config["n_neurons"]
    if isinstance(n, list) and len(n) != config["n_hidden_layers"]:
        fail("n_neurons", f"a list of {config['n_hidden_layers']} widths (one per hidden layer)",
             n)
    P.check_model_size(20, widths_of(config["n_hidden_layers"], n), fail)


def split_indices(y: np.ndarray, config, seeds: TrialSeeds) -> dict[str, np.ndarray]:
    """Stratified fit / validation / test indices (no validation with `train_test`), each
    split from its own derived seed."""
    _, s_test, s_val = seeds.split("data", 3)
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=config["test_fraction"], stratify=y,
                                  random_state=s_test % 2**32)
    if config["split"] == "train_test":
        return {"fit": rest, "test": test}
    fit, val = train_test_split(rest, test_size=config["val_fraction"], stratify=y[rest],
                                random_state=s_val % 2**32)
    return {"fit": fit, "val": val, "test": test}


def make_parts(config, seeds: TrialSeeds) -> dict[str, datasets.Points]:
    """The raw (unstandardised) parts of the split, on the CPU."""
    s_data = seeds.split("data", 3)[0]
    pts = datasets.imbalanced(config["n_samples"], s_data, minority=config["minority"])
    parts = split_indices(pts.y.numpy(), config, seeds)
    return {k: datasets.Points(pts.x[i], pts.y[i]) for k, i in parts.items()}


def standardiser(config, fit: datasets.Points) -> Callable[[torch.Tensor], torch.Tensor]:
    """x -> (x - mean) / std with the fitted part's statistics (identity when off)."""
    if not config["standardise"]:
        return lambda x: x
    mean, std = fit.x.mean(dim=0), fit.x.std(dim=0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return lambda x: (x - mean) / std


def resample(config, fit: datasets.Points, seeds: TrialSeeds) -> tuple[datasets.Points, str]:
    """The fitted part after the `resample` remedy (the part itself for 'none'), and a
    note when the sampler had to be adapted."""
    make = RESAMPLERS[config["resample"]]
    if make is None:
        return fit, ""
    n_min = int(fit.y.sum())
    sampler, note = make(seeds.sampler % 2**32, n_min)
    x, y = sampler.fit_resample(fit.x.numpy().astype(np.float64), fit.y.numpy())
    return datasets.Points(torch.as_tensor(x, dtype=torch.float32),
                           torch.as_tensor(y, dtype=torch.int64)), note


def build(config, fit: datasets.Points, seeds: TrialSeeds):
    """The initialised torch model (one logit) and its loss (class-weighted when asked)."""
    widths = widths_of(config["n_hidden_layers"], config["n_neurons"])
    model = init_(MLP(fit.x.shape[1], widths, 1, config["activation"], "identity"),
                  seeds.generator("init"))
    pos_weight = None
    if config["class_weight"]:
        n_pos = int(fit.y.sum())
        pos_weight = torch.tensor((len(fit.y) - n_pos) / n_pos, device=fit.x.device)
    return model, torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)


@dataclass
class Fitted:
    """A fitted model: `scores(points)` gives P(class 1) for raw points (standardised as
    the model was fitted); `history` (torch only) its curves."""

    scores: Callable[[datasets.Points], np.ndarray]
    history: History | None
    n_fit: int
    n_fit_positive: int
    notes: list[str] = field(default_factory=list)


def fit_torch(config, fit: datasets.Points, val, seeds, device, scale) -> Fitted:
    fit_d = datasets.Points(fit.x, fit.y).to(device)
    model, loss_fn = build(config, fit_d, seeds)
    model.to(device)
    optimizer = components.get("optimizer", config["optimizer"])(
        model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    val_d = None if val is None else datasets.Points(scale(val.x), val.y).to(device)
    history = train(model, loss_fn, "bce_with_logits", optimizer, fit_d, val_d,
                    config["epochs"], config["batch_size"], seeds.generator("order"))

    @torch.inference_mode()
    def scores(points):
        model.eval()
        out = model(scale(points.x).to(device)).view(-1)
        return torch.sigmoid(out).double().cpu().numpy()

    return Fitted(scores, history, len(fit.y), int(fit.y.sum()))


def fit_liblinear(config, fit: datasets.Points, val, seeds, device, scale) -> Fitted:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(solver="liblinear", C=config["C"],
                               class_weight="balanced" if config["class_weight"] else None,
                               random_state=seeds.init % 2**32)
    model.fit(fit.x.numpy().astype(np.float64), fit.y.numpy())

    def scores(points):
        return model.predict_proba(scale(points.x).numpy().astype(np.float64))[:, 1]

    return Fitted(scores, None, len(fit.y), int(fit.y.sum()))


ESTIMATORS = {"torch": fit_torch, "liblinear": fit_liblinear}


def fit_model(config, fit: datasets.Points, val, seeds: TrialSeeds, device) -> Fitted:
    """Standardise with `fit`'s statistics, resample, then fit the estimator."""
    scale = standardiser(config, fit)
    scaled, note = resample(config, datasets.Points(scale(fit.x), fit.y), seeds)
    fitted = ESTIMATORS[config["estimator"]](config, scaled, val, seeds, device, scale)
    fitted.notes += [note] if note else []
    return fitted


def out_of_fold_scores(config, fit: datasets.Points, seeds: TrialSeeds, device):
    """(scores, labels) of every sample of `fit`, each scored by the model fitted on the
    other folds of a stratified k-fold split (seeded from the data seed's 4th child)."""
    folds = StratifiedKFold(n_splits=config["cv_folds"], shuffle=True,
                            random_state=seeds.split("data", 4)[3] % 2**32)
    y = fit.y.numpy()
    scores = np.empty(len(y), dtype=np.float64)
    for train_idx, held_idx in folds.split(np.zeros(len(y)), y):
        part = datasets.Points(fit.x[train_idx], fit.y[train_idx])
        held = datasets.Points(fit.x[held_idx], fit.y[held_idx])
        scores[held_idx] = fit_model(config, part, None, seeds, device).scores(held)
    return scores, y


def run(config, seeds: TrialSeeds, device: torch.device) -> TrialOutcome:
    parts = make_parts(config, seeds)
    fitted = fit_model(config, parts["fit"], parts.get("val"), seeds, device)
    h = fitted.history
    base = {"n_test_positive": int(parts["test"].y.sum()), "n_fit": fitted.n_fit,
            "n_fit_positive": fitted.n_fit_positive}
    undefined = {}
    if h is not None:
        base |= {"initial_loss": h.initial_loss, "final_loss": h.train_loss[-1]}
    else:
        base |= {"initial_loss": None, "final_loss": None}
        undefined |= dict.fromkeys(("initial_loss", "final_loss"),
                                   "scikit-learn's liblinear fit records no loss")
    curves = h.curves() if h is not None else {}
    test_scores = fitted.scores(parts["test"])
    scored = [test_scores] + ([fitted.scores(parts["val"])] if "val" in parts else [])
    if not all(np.isfinite(s).all() for s in scored):
        nothing = dict.fromkeys(m for m in METRICS if m not in base)
        return TrialOutcome("diverged", base | nothing, curves,
                            note=(h.diverged if h else "") or "non-finite scores")
    threshold, why = THRESHOLD_RULES[config["threshold_rule"]](
        config, parts | {"model": fitted}, seeds, device)
    test_y = parts["test"].y.numpy()
    metrics, metric_undefined, cm = binary_metrics.report(test_y, test_scores, threshold)
    (tn, fp), (fn, tp) = cm
    metrics |= base | {"tn": tn, "fp": fp, "fn": fn, "tp": tp, "threshold": threshold}
    artifacts = {"undefined": undefined | metric_undefined, "confusion_matrix": cm,
                 "threshold_reason": why, "test_scores": test_scores.tolist(),
                 "test_labels": test_y.tolist(),
                 "minority_counts": {k: int(p.y.sum()) for k, p in parts.items()}}
    if fitted.notes:
        artifacts["resample_note"] = "; ".join(fitted.notes)
    status, note = (h.status, h.note) if h is not None else ("ok", "")
    return TrialOutcome(status, metrics, curves, artifacts, note=note)


TASK = Task(name="imbalance", description=__doc__.strip().splitlines()[0], params=PARAMS,
            metrics=METRICS, curves=CURVES, figures=FIGURES, run=run, check=check,
            bounds=unit_bounds("accuracy", "precision", "recall", "f1", "specificity",
                               "roc_auc", "pr_auc", "balanced_accuracy", "threshold"))
