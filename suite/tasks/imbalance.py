"""Binary classification under class imbalance: the metrics, and two remedies.

Data (the optimisation notebook's): `make_classification` with 1000 samples, 20 features
(2 informative, 10 redundant), one cluster per class, class weights (1 - minority,
minority), no label noise, drawn from the trial's data seed. A stratified split keeps
`test_fraction` (30%) as the test part; a second stratified split takes `val_fraction`
(25%) of the rest as the validation part, and the model trains on the remainder (the fit
part: 52.5% of the samples). The validation part gives the validation curves and chooses
the decision threshold; the test part is only used for the reported metrics. Features are
standardised with the fit part's mean and standard deviation.

Models: `n_hidden_layers = 0` is logistic regression (one linear unit, a logit), more is a
small MLP; both end in one logit trained with BCEWithLogits by minibatches (the suite's
`training.train`). Remedies:
- `class_weight = true`: the positive terms of the loss are weighted by n_negative /
  n_positive of the fit part (`pos_weight`), which is scikit-learn's 'balanced' weighting
  up to a constant factor;
- `threshold_rule = "val_f1"`: the threshold on the predicted probability is the one
  that maximises F1 on the validation part (candidates: the distinct validation scores;
  the highest of equally good ones; then moved halfway down to the next lower score,
  which leaves the validation predictions unchanged); without validation positives it
  falls back to `fixed_threshold`, and the trial says so. `threshold_rule = "fixed"`
  uses `fixed_threshold` (0.5).

Metrics (on the test part): see `suite.binary_metrics`; undefined ones are None with the
reason in the artifacts (`undefined`), plus the confusion matrix and the test scores and
labels (for the ROC and PR figures).
"""

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from suite import binary_metrics, catalogue, datasets
from suite import params as P
from suite.models import MLP, init_, widths_of
from suite.seeding import TrialSeeds
from suite.tasks.base import Task, TrialOutcome
from suite.training import train


def _num(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def fixed_rule(scores, labels, config) -> tuple[float, str]:
    return config["fixed_threshold"], "fixed"


def best_f1_threshold(scores, labels) -> tuple[float | None, str]:
    """The threshold maximising F1 of `scores >= t` against `labels`, or (None, reason)."""
    if not np.asarray(labels).astype(bool).any():
        return None, "no positive sample in the validation part"
    thresholds, precision, recall = binary_metrics.pr_points(labels, scores)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    k = int(np.argmax(f1))  # first maximum: the highest threshold among ties
    if k + 1 < len(thresholds):
        return float((thresholds[k] + thresholds[k + 1]) / 2), f"max validation F1 {f1[k]:.4f}"
    return float(thresholds[k]), f"max validation F1 {f1[k]:.4f}"


def val_f1_rule(scores, labels, config) -> tuple[float, str]:
    threshold, why = best_f1_threshold(scores, labels)
    if threshold is None:
        return config["fixed_threshold"], f"fell back to the fixed threshold: {why}"
    return threshold, why


THRESHOLD_RULES = {"fixed": fixed_rule, "val_f1": val_f1_rule}

PARAMS = {
    "n_samples": P.size("points", 1000, 10, doc="samples before the splits"),
    "minority": P.Param(0.05, "a float in (0, 0.5]", lambda v: _num(v) and 0 < v <= 0.5,
                        "share of the positive class"),
    "test_fraction": P.Param(0.3, "a float in (0, 1)", lambda v: _num(v) and 0 < v < 1,
                             "stratified test share"),
    "val_fraction": P.Param(0.25, "a float in (0, 1)", lambda v: _num(v) and 0 < v < 1,
                            "stratified validation share of the non-test part"),
    "n_hidden_layers": P.int_range(0, 0, 10, "hidden layers (0: logistic regression)"),
    "n_neurons": P.widths(16, "neurons per hidden layer"),
    "activation": P.choice("relu", catalogue.ACTIVATIONS, "hidden activation"),
    "optimizer": P.choice("adam", catalogue.OPTIMIZERS, "optimiser"),
    "lr": P.positive_float(0.01, "learning rate"),
    "weight_decay": P.non_negative_float(0.0, "L2 penalty (the optimiser's weight_decay)"),
    "batch_size": P.size("batch", 32, 1, doc="minibatch size"),
    "epochs": P.size("epochs", 100, 1, doc="training epochs"),
    "class_weight": P.boolean(False, "weight the positive class by n_neg / n_pos"),
    "threshold_rule": P.choice("fixed", THRESHOLD_RULES, "how the threshold is chosen"),
    "fixed_threshold": P.Param(0.5, "a float in (0, 1)", lambda v: _num(v) and 0 < v < 1,
                               "threshold on the probability for 'fixed'"),
}

METRICS = ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc",
           "balanced_accuracy", "tn", "fp", "fn", "tp", "threshold", "n_test_positive",
           "initial_loss", "final_loss")
CURVES = ("train_loss", "val_loss", "val_accuracy")
FIGURES = ("confusion_matrix", "roc_pr_curves", "metric_vs_minority")


def minority_counts(config) -> tuple[float, float, float]:
    """Expected minority samples in the fit, validation and test parts."""
    n = config["n_samples"]
    n_min = n - int(n * (1 - config["minority"]))  # make_classification's class sizes
    rest = n_min * (1 - config["test_fraction"])
    return rest * (1 - config["val_fraction"]), rest * config["val_fraction"], \
        n_min * config["test_fraction"]


def check(config, fail) -> None:
    counts = minority_counts(config)
    if min(counts) < 1:
        fail("minority", "a share leaving at least one minority sample in each of the fit, "
             "validation and test parts (expected " +
             ", ".join(f"{c:.1f}" for c in counts) + f" of n_samples {config['n_samples']})",
             config["minority"])
    n = config["n_neurons"]
    if isinstance(n, list) and len(n) != config["n_hidden_layers"]:
        fail("n_neurons", f"a list of {config['n_hidden_layers']} widths (one per hidden layer)",
             n)
    P.check_model_size(20, widths_of(config["n_hidden_layers"], n), fail)


def split_indices(y: np.ndarray, config, seeds: TrialSeeds) -> dict[str, np.ndarray]:
    """Stratified fit / validation / test indices, each split from its own derived seed."""
    _, s_test, s_val = seeds.split("data", 3)
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=config["test_fraction"], stratify=y,
                                  random_state=s_test % 2**32)
    fit, val = train_test_split(rest, test_size=config["val_fraction"], stratify=y[rest],
                                random_state=s_val % 2**32)
    return {"fit": fit, "val": val, "test": test}


def make_parts(config, seeds: TrialSeeds) -> dict[str, datasets.Points]:
    """The standardised fit, validation and test parts."""
    s_data = seeds.split("data", 3)[0]
    pts = datasets.imbalanced(config["n_samples"], s_data, minority=config["minority"])
    parts = split_indices(pts.y.numpy(), config, seeds)
    x_fit = pts.x[parts["fit"]]
    mean, std = x_fit.mean(dim=0), x_fit.std(dim=0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return {k: datasets.Points((pts.x[i] - mean) / std, pts.y[i]) for k, i in parts.items()}


def build(config, fit: datasets.Points, seeds: TrialSeeds):
    """The initialised model (one logit) and its loss (class-weighted when asked)."""
    widths = widths_of(config["n_hidden_layers"], config["n_neurons"])
    model = init_(MLP(fit.x.shape[1], widths, 1, config["activation"], "identity"),
                  seeds.generator("init"))
    pos_weight = None
    if config["class_weight"]:
        n_pos = int(fit.y.sum())
        pos_weight = torch.tensor((len(fit.y) - n_pos) / n_pos, device=fit.x.device)
    return model, torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)


@torch.inference_mode()
def scores_of(model, data: datasets.Points) -> np.ndarray:
    model.eval()
    return torch.sigmoid(model(data.x).view(-1)).double().cpu().numpy()


def run(config, seeds: TrialSeeds, device: torch.device) -> TrialOutcome:
    parts = {k: p.to(device) for k, p in make_parts(config, seeds).items()}
    model, loss_fn = build(config, parts["fit"], seeds)
    model.to(device)
    optimizer = catalogue.get("optimizer", config["optimizer"])(
        model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    history = train(model, loss_fn, "bce_with_logits", optimizer, parts["fit"], parts["val"],
                    config["epochs"], config["batch_size"], seeds.generator("order"))
    base = {"initial_loss": history.initial_loss, "final_loss": history.train_loss[-1],
            "n_test_positive": int(parts["test"].y.sum())}
    val_scores, test_scores = scores_of(model, parts["val"]), scores_of(model, parts["test"])
    if not (np.isfinite(val_scores).all() and np.isfinite(test_scores).all()):
        undefined = dict.fromkeys(m for m in METRICS if m not in base)
        return TrialOutcome("diverged", base | undefined, history.curves(),
                            note=history.diverged or "non-finite scores")
    threshold, why = THRESHOLD_RULES[config["threshold_rule"]](
        val_scores, parts["val"].y.cpu().numpy(), config)
    test_y = parts["test"].y.cpu().numpy()
    metrics, undefined, cm = binary_metrics.report(test_y, test_scores, threshold)
    (tn, fp), (fn, tp) = cm
    metrics |= base | {"tn": tn, "fp": fp, "fn": fn, "tp": tp, "threshold": threshold}
    artifacts = {"undefined": undefined, "confusion_matrix": cm, "threshold_reason": why,
                 "test_scores": test_scores.tolist(), "test_labels": test_y.tolist(),
                 "minority_counts": {k: int(p.y.sum()) for k, p in parts.items()}}
    return TrialOutcome("diverged" if history.diverged else "ok", metrics, history.curves(),
                        artifacts, note=history.diverged)


TASK = Task(name="imbalance", description=__doc__.strip().splitlines()[0], params=PARAMS,
            metrics=METRICS, curves=CURVES, figures=FIGURES, run=run, check=check)
