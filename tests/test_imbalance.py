"""The imbalance task: stratified parts, the minority rule, undefined metrics, and a
threshold chosen without looking at the test set."""

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from suite.errors import DeclarationError
from suite.seeding import derive
from suite.study import spec
from suite.tasks import imbalance as im
from suite.training.datasets import Points

CPU = torch.device("cpu")


def config(**kw):
    return {k: p.default for k, p in im.PARAMS.items()} | kw


def test_parts_are_disjoint_stratified_and_standardised():
    c = config(minority=0.1)
    seeds = derive(5, 0)
    parts = im.make_parts(c, seeds)
    sizes = {k: len(p.y) for k, p in parts.items()}
    assert sizes == {"fit": 525, "val": 175, "test": 300}
    positives = {k: int(p.y.sum()) for k, p in parts.items()}
    assert positives["test"] == 30 and positives["fit"] + positives["val"] == 70
    assert positives["val"] in (17, 18)  # 25% of 70, rounded by the stratified split
    idx = im.split_indices(np.r_[np.zeros(900, int), np.ones(100, int)], c, seeds)
    assert sorted(np.concatenate(list(idx.values())).tolist()) == list(range(1000))
    x = im.standardiser(c, parts["fit"])(parts["fit"].x)
    assert torch.allclose(x.mean(0), torch.zeros(20), atol=1e-5)
    assert torch.allclose(x.std(0), torch.ones(20), atol=1e-5)


def test_a_share_too_small_for_three_parts_is_refused_before_running():
    raw = {"name": "tiny", "task": {"kind": "imbalance"}, "fixed": {"n_samples": 200},
           "scientific": {"minority": [0.5, 0.02]}}
    with pytest.raises(DeclarationError) as e:
        spec.parse(raw, "tiny.toml")
    msg = str(e.value)
    assert "tiny.toml: the 'minority' value of study 'tiny' must be a share leaving at least " \
           "one minority sample in each part the split makes" in msg
    assert "(expected 2.1, 0.7, 1.2 of n_samples 200)" in msg and "Got 0.02 instead." in msg


def test_no_positive_prediction_is_reported_as_undefined_with_its_reason():
    out = im.run(config(minority=0.01, epochs=5), derive(42, 0), CPU)
    assert out.status == "ok"
    assert out.metrics["tp"] == 0 and out.metrics["fp"] == 0
    assert out.metrics["precision"] is None
    assert out.artifacts["undefined"]["precision"] == "no positive predictions (tp + fp = 0)"
    assert out.metrics["recall"] == 0.0 and out.metrics["accuracy"] == pytest.approx(297 / 300)


def test_recorded_metrics_equal_scikit_learn_on_the_recorded_scores():
    out = im.run(config(minority=0.2, epochs=5, n_hidden_layers=1, class_weight=True),
                 derive(42, 1), CPU)
    y, s = np.array(out.artifacts["test_labels"]), np.array(out.artifacts["test_scores"])
    p = (s >= out.metrics["threshold"]).astype(int)
    assert out.metrics["f1"] == pytest.approx(skm.f1_score(y, p), abs=1e-12)
    assert out.metrics["precision"] == pytest.approx(skm.precision_score(y, p), abs=1e-12)
    assert out.metrics["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p))
    assert out.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert out.metrics["pr_auc"] == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    tn, fp, fn, tp = skm.confusion_matrix(y, p).ravel()
    assert [out.metrics[k] for k in ("tn", "fp", "fn", "tp")] == [tn, fp, fn, tp]
    assert out.artifacts["confusion_matrix"] == [[tn, fp], [fn, tp]]


def with_test_labels_flipped(monkeypatch, c, seeds):
    """The trial as it is, and again with every test label flipped (a threshold rule that
    looks at the test part would move)."""
    plain = im.run(c, seeds, CPU)
    real = im.make_parts

    def flipped(config, seeds):
        parts = real(config, seeds)
        parts["test"] = Points(parts["test"].x, 1 - parts["test"].y)
        return parts

    monkeypatch.setattr(im, "make_parts", flipped)
    return plain, im.run(c, seeds, CPU)


def test_the_threshold_is_chosen_without_the_test_set(monkeypatch):
    """Flipping every test label changes the test metrics but not the chosen threshold."""
    c, seeds = config(minority=0.1, epochs=5, threshold_rule="val_f1"), derive(42, 2)
    plain, other = with_test_labels_flipped(monkeypatch, c, seeds)
    assert other.metrics["threshold"] == plain.metrics["threshold"] != 0.5
    assert other.metrics["recall"] != plain.metrics["recall"]
    assert plain.artifacts["threshold_reason"].endswith("on the validation part")


def test_class_weighting_weights_the_positive_terms():
    fit = Points(torch.zeros(10, 20), torch.tensor([1, 1] + [0] * 8))
    _, loss = im.build(config(class_weight=True), fit, derive(0, 0))
    assert loss.pos_weight.item() == 4.0  # 8 negatives / 2 positives
    _, loss = im.build(config(), fit, derive(0, 0))
    assert loss.pos_weight is None


def test_a_trial_is_reproducible():
    c = config(minority=0.05, epochs=3, n_hidden_layers=1)
    a, b = im.run(c, derive(1, 0), CPU), im.run(c, derive(1, 0), CPU)
    assert a.metrics == b.metrics and a.curves == b.curves
