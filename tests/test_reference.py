"""Validation of a study's [reference] table (the published numbers)."""

import copy

import pytest

from suite.errors import DeclarationError
from suite.study import shipped, spec

BASE = {
    "name": "ref-test",
    "metrics": ["val_accuracy", "test_accuracy"],
    "task": {"kind": "supervised"},
    "scientific": {"n_hidden_layers": [1, 2]},
    "quick": {"scientific": {"n_hidden_layers": [1]}},
    "reference": {"metric": "val_accuracy", "source": "a paper",
                  "values": {"1": 0.5, "2": 0.75}},
}


def parse(**changes):
    raw = copy.deepcopy(BASE)
    for key, value in changes.items():
        raw["reference"][key] = value
    return spec.parse(raw, "ref.toml")


def message(**changes) -> str:
    with pytest.raises(DeclarationError) as e:
        parse(**changes)
    return str(e.value)


def test_every_shipped_reference_validates():
    with_reference = [n for n in shipped.names() if shipped.load(n).reference]
    assert len(with_reference) >= 6
    for name in with_reference:
        study = shipped.load(name, quick=True)
        assert study.reference["metric"] in study.metrics


def test_a_valid_reference_is_kept_in_both_variants():
    assert parse().reference["values"] == {"1": 0.5, "2": 0.75}
    quick = spec.parse(copy.deepcopy(BASE), "ref.toml", quick=True)
    assert quick.reference == BASE["reference"]
    # the quick variant keeps the file's declaration, so it parses back the same
    assert spec.parse(quick.declaration, "ref.toml", quick=True) == quick


def test_metric_must_be_one_of_the_studys_metrics():
    assert message(metric="val_acc") == (
        "ref.toml: the 'reference.metric' value of study 'ref-test' must be one of the "
        "study's metrics ('val_accuracy', 'test_accuracy'). Got 'val_acc' instead. "
        "Did you mean 'val_accuracy'?")


def test_keys_must_be_labels_of_the_axis():
    assert message(values={"1": 0.5, "3": 0.9}) == (
        "ref.toml: the 'reference.values.3' value of study 'ref-test' must be a label of "
        "the axis 'n_hidden_layers' ('1', '2'). Got '3' instead.")


def test_values_must_be_numbers_and_keys_known():
    assert "must be a number. Got 'high' instead." in message(values={"1": "high"})
    assert "'reference.value'" in message(value={})
    assert "must be a string saying where" in message(source=3)


def test_a_reference_needs_a_single_axis():
    raw = copy.deepcopy(BASE)
    raw["scientific"]["lr"] = [0.1, 1.0]
    with pytest.raises(DeclarationError) as e:
        spec.parse(raw, "ref.toml")
    assert str(e.value) == (
        "ref.toml: the 'reference' value of study 'ref-test' must be given only for a study "
        "with one scientific axis (this one has 2: 'n_hidden_layers', 'lr'). "
        "Got '[reference]' instead.")
