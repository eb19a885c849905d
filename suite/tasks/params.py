"""Typed parameters a task accepts, each with a default and a check.

A `Param` knows what a good value looks like and says so in words ("a positive float"),
which is the text validation errors quote.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from suite.errors import did_you_mean


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


def boolean(default: bool, doc: str = "") -> Param:
    return Param(default, "true or false", lambda v: isinstance(v, bool), doc)


def choice(default: str, table: Mapping, doc: str = "") -> Param:
    names = ", ".join(f"'{n}'" for n in sorted(table))
    return Param(default, f"one of {names}", lambda v: isinstance(v, str) and v in table, doc,
                 choices=table)


def widths(default, doc: str = "") -> Param:
    """A positive int (the same width for every hidden layer) or a list of them."""

    def ok(v):
        if _is_int(v):
            return v >= 1
        return isinstance(v, list) and len(v) > 0 and all(_is_int(x) and x >= 1 for x in v)

    return Param(default, "a positive integer or a list of positive integers", ok, doc)
