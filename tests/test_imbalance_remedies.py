"""Issue 18's imbalance remedies: imbalanced-learn resampling on the fitted part only,
scikit-learn's liblinear logistic regression, the notebook's plain 70/30 split and the
threshold chosen by cross-validation on the training part; scikit-learn and
imbalanced-learn called directly are the oracles."""

import numpy as np
import pytest
import torch
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.under_sampling import RandomUnderSampler
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from test_imbalance import with_test_labels_flipped

from suite.errors import DeclarationError
from suite.seeding import derive
from suite.study import spec
from suite.tasks import imbalance as im
from suite.training.datasets import Points

CPU = torch.device("cpu")


def config(**kw):
    return {k: p.default for k, p in im.PARAMS.items()} | kw


def scaled_fit(c, seeds):
    parts = im.make_parts(c, seeds)
    scale = im.standardiser(c, parts["fit"])
    return parts, scale(parts["fit"].x).numpy().astype(np.float64), parts["fit"].y.numpy()


@pytest.mark.parametrize("name, sampler", [("over", RandomOverSampler),
                                           ("under", RandomUnderSampler), ("smote", SMOTE)])
def test_resampling_is_imbalanced_learns_on_the_fitted_part_only(name, sampler):
    c, seeds = config(minority=0.1, resample=name, estimator="liblinear"), derive(3, 0)
    parts, x, y = scaled_fit(c, seeds)
    got, note = im.resample(c, Points(torch.as_tensor(x, dtype=torch.float32),
                                      torch.as_tensor(y)), seeds)
    ex, ey = sampler(random_state=seeds.sampler % 2**32).fit_resample(
        x.astype(np.float32).astype(np.float64), y)
    assert note == "" and np.array_equal(got.y.numpy(), ey)
    assert np.allclose(got.x.numpy(), ex, atol=1e-6)
    n_pos = int(y.sum())
    assert int(got.y.sum()) == {"under": n_pos}.get(name, int((y == 0).sum()))
    out = im.run(c, seeds, CPU)
    assert (out.metrics["n_fit"], out.metrics["n_fit_positive"]) == (len(ey), int(ey.sum()))
    plain = im.run(c | {"resample": "none"}, seeds, CPU)
    # validation and test parts are untouched: same sizes, same minority counts
    assert out.artifacts["minority_counts"] == plain.artifacts["minority_counts"]
    assert out.metrics["n_test_positive"] == plain.metrics["n_test_positive"] == 30
    assert plain.metrics["n_fit"] == 525


def test_smote_with_few_minority_samples_uses_fewer_neighbours_and_says_so():
    c = config(minority=0.01, resample="smote", estimator="liblinear")
    out = im.run(c, derive(0, 0), CPU)
    assert out.artifacts["minority_counts"]["fit"] == 5
    assert out.artifacts["resample_note"] == "SMOTE with k = 4 neighbours (5 minority samples)"
    one = Points(torch.randn(10, 3), torch.tensor([1] + [0] * 9))
    pts, note = im.resample(c, one, derive(0, 0))
    assert "random over-sampling instead" in note and int(pts.y.sum()) == 9


def test_liblinear_on_the_notebooks_split_is_scikit_learns_own():
    """The notebook's baseline: plain stratified 70/30, no scaling, LogisticRegression
    (solver='liblinear'), threshold 0.5; scikit-learn run directly on the same parts."""
    c, seeds = config(split="train_test", standardise=False, estimator="liblinear"), derive(9, 1)
    parts = im.make_parts(c, seeds)
    assert {k: len(p.y) for k, p in parts.items()} == {"fit": 700, "test": 300}
    out = im.run(c, seeds, CPU)
    model = LogisticRegression(solver="liblinear", random_state=seeds.init % 2**32)
    model.fit(parts["fit"].x.numpy().astype(np.float64), parts["fit"].y.numpy())
    x_test, y_test = parts["test"].x.numpy().astype(np.float64), parts["test"].y.numpy()
    assert np.array_equal(out.artifacts["test_scores"], model.predict_proba(x_test)[:, 1])
    pred = model.predict(x_test)
    assert out.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y_test, pred), abs=1e-12)
    assert out.metrics["recall"] == pytest.approx(skm.recall_score(y_test, pred), abs=1e-12)
    assert out.curves == {} and out.metrics["final_loss"] is None
    assert "liblinear" in out.artifacts["undefined"]["final_loss"]
    weighted = im.run(c | {"class_weight": True}, seeds, CPU)
    model = LogisticRegression(solver="liblinear", random_state=seeds.init % 2**32,
                               class_weight="balanced")
    model.fit(parts["fit"].x.numpy().astype(np.float64), parts["fit"].y.numpy())
    assert np.array_equal(weighted.artifacts["test_scores"], model.predict_proba(x_test)[:, 1])


@pytest.mark.slow
def test_the_cross_validated_threshold_is_recomputed_by_hand():
    c = config(split="train_test", estimator="liblinear", threshold_rule="cv_f1",
               minority=0.1)
    seeds = derive(4, 0)
    out = im.run(c, seeds, CPU)
    parts = im.make_parts(c, seeds)
    x, y = parts["fit"].x.numpy().astype(np.float64), parts["fit"].y.numpy()
    folds = StratifiedKFold(5, shuffle=True, random_state=seeds.split("data", 4)[3] % 2**32)
    oof = np.empty(len(y))
    for tr, held in folds.split(x, y):
        mean, std = x[tr].astype(np.float32).mean(0), x[tr].astype(np.float32).std(0, ddof=1)
        m = LogisticRegression(solver="liblinear", random_state=seeds.init % 2**32)
        m.fit(((x[tr] - mean) / std), y[tr])
        oof[held] = m.predict_proba((x[held] - mean) / std)[:, 1]
    # the threshold maximising F1 over the out-of-fold scores, by brute force
    cands = np.unique(oof)
    f1 = [skm.f1_score(y, (oof >= t).astype(int)) for t in cands]
    best = cands[np.flatnonzero(np.isclose(f1, max(f1), rtol=0, atol=1e-12)).max()]
    below = cands[cands < best]
    expected = (best + below.max()) / 2 if below.size else best
    assert out.metrics["threshold"] == pytest.approx(expected, rel=1e-5)
    assert "5-fold cross-validation" in out.artifacts["threshold_reason"]


def test_the_cross_validated_threshold_never_sees_the_test_part(monkeypatch):
    c = config(split="train_test", epochs=5, threshold_rule="cv_f1", minority=0.1)
    plain, other = with_test_labels_flipped(monkeypatch, c, derive(42, 2))
    assert other.metrics["threshold"] == plain.metrics["threshold"] != 0.5
    assert plain.curves["val_loss"] == []  # no validation part, no validation curve


@pytest.mark.parametrize("fixed, key, words", [
    ({"split": "train_test", "threshold_rule": "val_f1"}, "threshold_rule",
     "'fixed' or 'cv_f1' with split 'train_test'"),
    ({"threshold_rule": "cv_f1", "cv_folds": 40, "minority": 0.05}, "cv_folds",
     "at most the 26.2 minority samples"),
])
def test_rules_of_the_new_options_are_checked_before_running(fixed, key, words):
    raw = {"name": "x", "task": {"kind": "imbalance"}, "fixed": fixed,
           "scientific": {"resample": ["none", "smote"]}}
    with pytest.raises(DeclarationError, match=key) as e:
        spec.parse(raw, "x.toml")
    assert words in str(e.value)
