"""Typed parameters a task accepts, each with a default and a check.

A `Param` knows what a good value looks like and says so in words ("a positive float"),
which is the text validation errors quote.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from suite.errors import did_you_mean

# Upper bounds of the size parameters, by kind (README "Reliability"): far above every
# shipped study, low enough that a typo (epochs = 1000000000, n_neurons = 10**12) is
# refused at validation instead of training until killed or dying in the allocator.
SIZE_LIMITS = {
    "epochs": 100_000,        # training epochs (and early-stopping patience)
    "steps": 1_000_000,       # optimiser steps
    "points": 10_000_000,     # samples or points of a dataset, points per chunk
    "batch": 10_000_000,      # minibatch size
    "layers": 100,            # hidden layers
    "width": 10_000,          # neurons per layer, channels
    "images": 100_000,        # images of a split
    "pixels": 4_096,          # side of an image
    "count": 10_000,          # trials of a search, trainings per configuration, classes
}
# Weights of one model (hidden layers), refused above: 4e8 bytes in float32, before the
# optimiser's state and the activations.
MAX_PARAMETERS = 100_000_000


@dataclass(frozen=True)
class Param:
    default: Any
    expected: str
    check: Callable[[Any], bool]
    doc: str = ""
    choices: Mapping | None = field(default=None, compare=False)

    def normalise(self, value):
        """The value in canonical form (ints given for floats become floats)."""
        if isinstance(self.default, float) and _is_int(value):
            return float(value)
        return value

    def hint(self, value) -> str:
        return did_you_mean(value, self.choices) if self.choices is not None else ""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return _is_int(v) or isinstance(v, float)


def positive_float(default: float, doc: str = "") -> Param:
    return Param(default, "a positive float", lambda v: _is_num(v) and v > 0, doc)


def fraction(default: float, doc: str = "", *, upper_open: bool = True) -> Param:
    if upper_open:
        return Param(default, "a float in [0, 1)", lambda v: _is_num(v) and 0 <= v < 1, doc)
    return Param(default, "a float in [0, 1]", lambda v: _is_num(v) and 0 <= v <= 1, doc)


def non_negative_float(default: float, doc: str = "") -> Param:
    return Param(default, "a non-negative float", lambda v: _is_num(v) and v >= 0, doc)


def dataset_noise(doc: str = "dataset noise") -> Param:
    """Optional noise level: None keeps the dataset maker's own default."""
    return Param(None, "a non-negative float (or omitted for the dataset's own)",
                 lambda v: v is None or (_is_num(v) and v >= 0), doc)


def int_range(default: int, low: int, high: int | None = None, doc: str = "") -> Param:
    if high is None:
        return Param(default, f"an integer >= {low}", lambda v: _is_int(v) and v >= low, doc)
    return Param(
        default, f"an integer in [{low}, {high}]", lambda v: _is_int(v) and low <= v <= high, doc
    )


def size(kind: str, default: int, low: int = 1, doc: str = "") -> Param:
    """An integer size of the given kind, in [low, SIZE_LIMITS[kind]]."""
    return int_range(default, low, SIZE_LIMITS[kind], doc)


def hidden_parameters(n_inputs: int, widths: list[int]) -> int:
    """Weights and biases of a model's hidden layers (the output layer left out)."""
    sizes = [n_inputs, *widths]
    return sum((a + 1) * b for a, b in zip(sizes, sizes[1:], strict=False))


def check_model_size(n_inputs: int, widths: list[int], fail, key: str = "n_neurons") -> None:
    """Refuse a model whose hidden layers hold more than MAX_PARAMETERS weights."""
    n = hidden_parameters(n_inputs, widths)
    if n > MAX_PARAMETERS:
        fail(key, f"widths giving at most {MAX_PARAMETERS:,} weights in the hidden layers",
             f"{widths if len(widths) <= 4 else widths[:4] + ['...']} ({n:,} weights)")


def boolean(default: bool, doc: str = "") -> Param:
    return Param(default, "true or false", lambda v: isinstance(v, bool), doc)


def choice(default: str, table: Mapping, doc: str = "") -> Param:
    names = ", ".join(f"'{n}'" for n in sorted(table))
    return Param(default, f"one of {names}", lambda v: isinstance(v, str) and v in table, doc,
                 choices=table)


def widths(default, doc: str = "") -> Param:
    """A positive int (the same width for every hidden layer) or a list of them, each at
    most SIZE_LIMITS['width'], at most SIZE_LIMITS['layers'] long."""
    high, most = SIZE_LIMITS["width"], SIZE_LIMITS["layers"]

    def ok(v):
        if _is_int(v):
            return 1 <= v <= high
        return isinstance(v, list) and 0 < len(v) <= most and all(
            _is_int(x) and 1 <= x <= high for x in v)

    return Param(default, f"an integer in [1, {high:,}] or a list of at most {most} of them",
                 ok, doc)
