"""Training-curve diagnosis: one label per trial, read off its stored curves.

Labels, checked in this order (the first rule that fires wins):

1. `lr_too_high` - the run diverged or the training loss oscillates:
   - diverged: the trial's status is `diverged`, or a training-loss value is missing or
     not finite, or the last training loss is above the first (L_end > L_0);
   - oscillating: over the second half of the curve, the mean rise of the loss above its
     running minimum is more than OSC_OF_GAIN (0.15) of the total gain L_0 - min(L) and
     more than OSC_OF_LEVEL (0.1) of the loss level |min(L)| (the second condition spares
     curves that are merely noisy on a small gain, such as an underfit plateau).
2. `underfitting` - the training loss stays high: the smoothed final training loss has
   come down by less than UNDERFIT_GAIN (0.3) of |L_0| (accuracy is not used here, since
   its floor depends on the class balance).
3. `overfitting` - the validation gap grows: with a validation loss curve V, the gap is
   V - L; with accuracy curves only (training A and validation B), the gap is A - B. With
   t* the epoch of the best smoothed validation value, the gap at the last epoch minus the
   gap at t* exceeds OVERFIT_LOSS (0.1) of the gain L_0 - min(L) for losses, or
   OVERFIT_ACCURACY (0.05, in accuracy) for accuracies. Without validation curves this
   rule cannot fire.
4. `good` - none of the above.

When early stopping restored the weights of an earlier epoch (`best_epoch`), the curves
are cut there: the label describes the model that was kept. `unknown` is given when there
is no training-loss curve at all. Smoothed means a centred moving average over about a
tenth of the curve (`smooth`), so that epoch-to-epoch noise does not decide. L_0 is the
untrained model's loss when the trial records it (`initial_loss`), else the curve's first
value. The training-loss curve is `train_loss`, or `loss` for tasks that record a single
objective (optimiser paths). The thresholds were set on the notebook's curve shapes
(tests/test_diagnosis.py), not fitted to the studies' results.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# In the order a tie between seeds is resolved in summaries: problems first.
LABELS = ("lr_too_high", "overfitting", "underfitting", "good", "unknown")

OSC_OF_GAIN = 0.15
OSC_OF_LEVEL = 0.1
UNDERFIT_GAIN = 0.3
OVERFIT_LOSS = 0.1
OVERFIT_ACCURACY = 0.05


@dataclass(frozen=True)
class Diagnosis:
    label: str
    reason: str


def diagnose(curves: Mapping[str, Sequence], status: str = "ok",
             initial_loss: float | None = None, best_epoch: int | None = None) -> Diagnosis:
    """The label of one trial from its curves (lists of per-epoch values, None = missing)."""
    if best_epoch:
        curves = {k: list(v)[:int(best_epoch)] for k, v in curves.items()}
    raw = curves.get("train_loss") or curves.get("loss")
    if not raw:
        return Diagnosis("unknown", "no training-loss curve")
    loss = _array(raw)
    l0 = float(initial_loss) if initial_loss is not None and np.isfinite(initial_loss) \
        else loss[0]
    for rule in (_diverged, _oscillating, _underfit):
        reason = rule(loss, l0, status)
        if reason:
            return Diagnosis("underfitting" if rule is _underfit else "lr_too_high", reason)
    reason = _overfit(curves, loss, l0)
    if reason:
        return Diagnosis("overfitting", reason)
    return Diagnosis("good", "loss fell, no oscillation, no growing validation gap")


# Seed 002, section 3 ("Debugging: Interpreting Loss and Accuracy Curves"), Task 3: the
# table it asks for, filled in (characteristics as these rules read them).
SCENARIOS = {
    "good": ("Good convergence",
             "Training loss falls steadily and flattens; training and validation accuracy rise "
             "together and stay close.",
             "Keep the recipe; stop when the validation curve flattens."),
    "overfitting": ("Overfitting",
                    "Training loss keeps falling and training accuracy nears 1, while "
                    "validation accuracy stagnates or falls: the gap grows after its best "
                    "epoch.",
                    "More data or augmentation; L2/L1 penalties, dropout; early stopping on "
                    "the validation loss; a smaller model."),
    "lr_too_high": ("High learning rate",
                    "The loss oscillates (or rises, or becomes non-finite) instead of "
                    "settling.",
                    "Lower the learning rate (or decay it); an adaptive optimiser; gradient "
                    "clipping; normalised inputs."),
    "underfitting": ("Underfitting",
                     "Training loss stays high and flat; training and validation accuracy are "
                     "both low and close.",
                     "A bigger model (width, depth); train longer or with a larger learning "
                     "rate; less regularisation; better features."),
}


def of_trial(row: Mapping, curves: Mapping[str, Sequence]) -> Diagnosis:
    """The diagnosis of a stored trial (a store row) from its stored curves."""
    metrics = row.get("metrics") or {}
    return diagnose(curves, row.get("status", "ok"), metrics.get("initial_loss"),
                    metrics.get("best_epoch"))


def _array(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def smooth(x: np.ndarray) -> np.ndarray:
    """Centred moving average: point i is the mean of x[i - h .. i + h], h = n // 20
    (so the window spans about a tenth of the curve), cut short at both ends."""
    h = len(x) // 20
    c = np.cumsum(np.insert(x, 0, 0.0))
    idx = np.arange(len(x))
    lo, hi = np.maximum(idx - h, 0), np.minimum(idx + h + 1, len(x))
    return (c[hi] - c[lo]) / (hi - lo)


def _diverged(loss, l0, status) -> str:
    if status == "diverged":
        return "the trial diverged"
    if not np.isfinite(loss).all() or not np.isfinite(l0):
        return "the training loss is not finite"
    if loss[-1] > l0:
        return f"the training loss ended above its start ({loss[-1]:.4g} > {l0:.4g})"
    return ""


def _oscillating(loss, l0, status) -> str:
    half = loss[len(loss) // 2:]
    rise = (half - np.minimum.accumulate(loss)[len(loss) // 2:]).mean()
    gain, level = l0 - loss.min(), abs(loss.min())
    if rise > OSC_OF_GAIN * gain and rise > OSC_OF_LEVEL * level:
        return (f"the loss oscillates: mean rise {rise:.3g} above its running minimum, "
                f"against a gain of {gain:.3g} and a level of {level:.3g}")
    return ""


def _underfit(loss, l0, status) -> str:
    drop = (l0 - smooth(loss)[-1]) / abs(l0) if l0 != 0 else np.inf
    if drop < UNDERFIT_GAIN:
        return f"the training loss fell by only {drop:.0%} of its start"
    return ""


def _overfit(curves, loss, l0) -> str:
    if curves.get("val_loss"):
        val = _array(curves["val_loss"])
        if len(val) != len(loss) or not np.isfinite(val).all():
            return ""
        return _gap_growth(smooth(val) - smooth(loss), smooth(val).argmin(),
                           OVERFIT_LOSS * (l0 - loss.min()), "validation loss")
    if curves.get("train_accuracy") and curves.get("val_accuracy"):
        a, b = _array(curves["train_accuracy"]), _array(curves["val_accuracy"])
        if len(a) != len(b) or not (np.isfinite(a).all() and np.isfinite(b).all()):
            return ""
        return _gap_growth(smooth(a) - smooth(b), smooth(b).argmax(), OVERFIT_ACCURACY,
                           "validation accuracy")
    return ""


def _gap_growth(gap: np.ndarray, best: int, threshold: float, what: str) -> str:
    growth = gap[-1] - gap[best]
    if growth > threshold:
        return (f"the gap grew by {growth:.3g} (> {threshold:.3g}) after the best {what} "
                f"at epoch {best + 1}")
    return ""
