"""A one-parameter family of final-layer weights that moves the area of one class.

The class-area notebook names the pieces (`neuron_projection`, `interpfun`,
`final_layer_weight_modifier`) but leaves their geometry open. This module is the suite's
choice; `GEOMETRY` below is the same text in the short form the report shows.

Setting. The final layer (a Linear, or a 1x1 convolution applied at every pixel) maps
non-negative features h (the outputs of a ReLU) to one logit per class. Append a constant
feature 1 so that the bias is one more weight: h~ = (h, 1) >= 0, row j is w~_j = (w_j, b_j).

1. Decision neuron. For the class k whose area is controlled, u = w~_k - r, with r the mean of
   the other rows (for two classes: the other row). u . h~ = logit_k - (mean of the other
   logits), the class-k decision value of a point.
2. Neuron projection. u+ = max(u, 0) is the projection of u onto the non-negative orthant:
   the votes for class k (on non-negative features these components can only raise logit_k).
   The endpoint u - u+ = min(u, 0) = -u- is its projection onto the non-positive orthant,
   what remains when those votes are removed (u = u+ + (u - u+) with the two parts
   orthogonal). `length` = ||u+|| is how far that removal moves the neuron.
3. Knots, at values -1, 0 and 1 (e_b is the bias axis):
       value -1:  u+ + S- e_b    votes against k removed, bias raised by S-
       value  0:  u              the original
       value +1:  -u- - S+ e_b   votes for k removed (the endpoint), bias lowered by S+
   S+ (S-) is the sweep scale: the largest class-k decision value (the largest opposite)
   over the points where the area is measured, so a unit of value moves the bias by about
   the spread of decision values there (the area responds smoothly, not only near the ends).
4. `interpfun` is scipy's PchipInterpolator (a piecewise cubic Hermite interpolant) through
   the knots, component by component. Not interp1d(kind="cubic"): a cubic spline can
   overshoot between monotone knots, and the contract below needs every component monotone.
5. At value v, row k becomes w~_k + (u(v) - u); no other row changes. Values outside
   [-1, 1] are refused (PCHIP would extrapolate a cubic).

Contract (tested). Each component of u(v) is non-increasing in v (its knots are, and PCHIP
keeps that), the features are non-negative and the other rows stay put, so at every point
logit_k(v) is non-increasing and the class-k area is non-increasing in v. Value 0 returns
the original tensors exactly (the change u(0) - u is exactly zero). At value 1,
logit_k <= (mean of the others) - S+ everywhere, so the area is 0; with two classes, at
value -1 every point has logit_k >= logit_other + S-, so the area is 1. Any target area
between is bracketed. Points whose features are all zero share one decision value and flip
together: the area jumps by their share at one value, so how closely a target can be hit
depends on the model (the searches report the error they reach).

Exact structure. On the non-bias components the change is u(v) - u = -a(v) u+ + c(v) u-,
with a = PCHIP(0, 0, 1) (share of the votes for k removed) and c = PCHIP(1, 0, 0) (share of
the votes against k removed), and the bias moves by beta(v) = PCHIP(u-_b + S-, 0,
-u+_b - S+). `WeightPath.coefficients` returns (a, c, beta): the fast area path in
`suite.tasks.area` needs only two cached numbers per point for the weights part.
"""

from dataclasses import dataclass

import numpy as np
import torch
from scipy.interpolate import PchipInterpolator
from torch import nn

KNOT_VALUES = (-1.0, 0.0, 1.0)
VALUE_RANGE = (-1.0, 1.0)

GEOMETRY = (
    "Weight path (suite.tasks.weight_path). Features h >= 0 (ReLU) with a constant 1 appended, so "
    "the bias is a weight. The decision neuron u = (row k, bias k) - mean of the other rows; "
    "u . h = logit_k - mean of the other logits. Its projection onto the non-negative orthant "
    "u+ = max(u, 0) holds the votes for class k; the endpoint -u- = min(u, 0) is what remains "
    "without them. Knots: value -1 -> u+ + S- on the bias (votes against k removed, bias "
    "raised), 0 -> u, +1 -> -u- - S+ on the bias (votes for k removed, bias lowered), with S+ "
    "(S-) the largest decision value (its opposite) over the measured points. A shape-"
    "preserving cubic (scipy PCHIP) interpolates each component between the knots, so every "
    "weight is non-increasing in the value: the class-k area is non-increasing on [-1, 1], "
    "exactly the original at 0, 0 at +1 (and 1 at -1 for two classes)."
)


@dataclass(frozen=True)
class NeuronProjection:
    """The decision neuron of class `cls` and its projections (bias last, float64)."""

    cls: int
    decision: np.ndarray  # u = row k - mean of the other rows
    reference: np.ndarray  # r, the mean of the other rows
    projection: np.ndarray  # u+ = max(u, 0): projection onto the non-negative orthant
    endpoint: np.ndarray  # u - u+ = min(u, 0): projection onto the non-positive orthant
    length: float  # ||u+||
    nonneg: np.ndarray  # indexes i with u_i >= 0 (the bias is index len(u) - 1)


def augmented(weight: torch.Tensor, bias: torch.Tensor | None) -> np.ndarray:
    """The layer's rows with the bias appended, (classes, features + 1), float64. A 1x1
    convolution's weight (classes, features, 1, 1) counts as (classes, features)."""
    w = weight.detach().to("cpu", torch.float64).reshape(weight.shape[0], -1).numpy()
    b = (np.zeros(w.shape[0]) if bias is None
         else bias.detach().to("cpu", torch.float64).numpy())
    return np.concatenate([w, b[:, None]], axis=1)


def neuron_projection(weight: torch.Tensor, bias: torch.Tensor | None,
                      cls: int) -> NeuronProjection:
    """Project class `cls`'s decision neuron onto the two orthants (see the module text)."""
    rows = augmented(weight, bias)
    if rows.shape[0] < 2 or not 0 <= cls < rows.shape[0]:
        raise ValueError(f"class {cls} of a layer with {rows.shape[0]} outputs: need two or "
                         "more outputs and a class among them")
    reference = np.delete(rows, cls, axis=0).mean(axis=0)
    u = rows[cls] - reference
    plus = np.maximum(u, 0.0)
    return NeuronProjection(cls=cls, decision=u, reference=reference, projection=plus,
                            endpoint=u - plus, length=float(np.linalg.norm(plus)),
                            nonneg=np.flatnonzero(u >= 0))


def interpfun(values, knots) -> PchipInterpolator:
    """The shape-preserving cubic through `knots` (one row per value), each column on its
    own: monotone knots give a monotone column, with no overshoot."""
    return PchipInterpolator(np.asarray(values, float), np.asarray(knots, float), axis=0)


def knots(proj: NeuronProjection, scale: tuple[float, float]) -> np.ndarray:
    """The changes u(v) - u at values -1, 0, 1 (rows), from the sweep scale (S-, S+)."""
    s_minus, s_plus = _check_scale(scale)
    bias_axis = np.zeros_like(proj.decision)
    bias_axis[-1] = 1.0
    low = proj.projection + s_minus * bias_axis - proj.decision  # = u- + S- e_b
    high = proj.endpoint - s_plus * bias_axis - proj.decision  # = -u+ - S+ e_b
    return np.stack([low, np.zeros_like(low), high])


def _check_scale(scale) -> tuple[float, float]:
    s_minus, s_plus = (float(s) for s in scale)
    if not (np.isfinite(s_minus) and np.isfinite(s_plus) and s_minus >= 0 and s_plus >= 0):
        raise ValueError(f"the sweep scale (S-, S+) must be two finite non-negative numbers, "
                         f"got {scale!r}")
    return s_minus, s_plus


class WeightPath:
    """The family for one final layer, class and sweep scale; `at(value)` gives its tensors."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, cls: int,
                 scale: tuple[float, float] | None = None):
        if bias is None:
            raise ValueError("the weight path moves the bias: the final layer needs one")
        self.weight, self.bias, self.cls = weight.detach(), bias.detach(), cls
        self.projection = neuron_projection(weight, bias, cls)
        if scale is None:
            scale = (float(np.linalg.norm(self.projection.endpoint)), self.projection.length)
        self.scale = _check_scale(scale)
        self.knots = knots(self.projection, self.scale)
        self.interp = interpfun(KNOT_VALUES, self.knots)
        u = self.projection.decision[:-1]
        self._unit = {"a": interpfun(KNOT_VALUES, [0.0, 0.0, 1.0]),
                      "c": interpfun(KNOT_VALUES, [1.0, 0.0, 0.0])}
        self._beta = interpfun(KNOT_VALUES, self.knots[:, -1])
        self.pro = np.maximum(u, 0.0)  # votes for k (non-bias part of u+)
        self.con = np.maximum(-u, 0.0)  # votes against k (non-bias part of u-)

    @classmethod
    def of(cls, layer: nn.Module, target: int, scale=None) -> "WeightPath":
        return cls(layer.weight, layer.bias, target, scale)

    def change(self, value: float) -> np.ndarray:
        """u(value) - u (float64, bias last); exactly zero at value 0."""
        return self.interp(check_value(value))

    def at(self, value: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer's (weight, bias) at `value`, float32 on the layer's device; only row
        `cls` differs from the original, and value 0 gives the original values exactly."""
        delta = torch.from_numpy(self.change(value))
        weight, bias = self.weight.clone(), self.bias.clone()
        row = weight[self.cls].reshape(-1).to("cpu", torch.float64)
        weight[self.cls] = (row + delta[:-1]).to(weight.dtype).reshape(weight[self.cls].shape)
        bias[self.cls] = (bias[self.cls].to("cpu", torch.float64) + delta[-1]).to(bias.dtype)
        return weight, bias

    def coefficients(self, value: float) -> tuple[float, float, float]:
        """(a, c, beta) with u(value) - u = -a u+ + c u- on the features and beta on the bias."""
        v = check_value(value)
        return float(self._unit["a"](v)), float(self._unit["c"](v)), float(self._beta(v))


def check_value(value) -> float:
    v = float(value)
    if not VALUE_RANGE[0] <= v <= VALUE_RANGE[1]:
        raise ValueError(f"the weight path is defined on [-1, 1]; got value {v!r}")
    return v


def final_layer(model: nn.Module) -> nn.Module:
    """The layer whose weights the path changes: `model.out` (suite MLPs), `model.final`
    (suite segmentation nets) or DeepLabV3's last classifier convolution."""
    for name in ("out", "final"):
        layer = getattr(model, name, None)
        if isinstance(layer, nn.Linear | nn.Conv2d):
            return layer
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Sequential) and isinstance(classifier[-1], nn.Conv2d):
        return classifier[-1]
    raise ValueError(f"no final Linear or 1x1 Conv2d found in {type(model).__name__}")


def final_layer_weight_modifier(model: nn.Module, value: float, scale=None, cls: int = 1):
    """The notebook's entry point: the final layer's (weight, bias) at `value` on the path
    of class `cls` with sweep scale (S-, S+) (default: the projections' lengths); value 0
    gives the original tensors' values."""
    return WeightPath.of(final_layer(model), cls, scale).at(value)
