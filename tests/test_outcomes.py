"""One rule for failed trials: `diverged` (a non-finite loss: metrics undefined) and
`stalled` (the training loss never fell below the untrained model's: metrics kept)."""

import math

import pytest
import torch
from scipy import stats

from suite import catalogue
from suite.seeding import derive
from suite.sweep import fit_batch
from suite.tasks import supervised
from suite.training import History, prior_loss, stall_reason, train

torch.set_num_threads(1)

SMALL = {"n_train": 120, "n_val": 60, "n_test": 40, "epochs": 4}


def config(**over) -> dict:
    return {"task": "supervised", **supervised.TASK.defaults(), **SMALL, **over}


def test_stall_rule_by_hand():
    assert stall_reason(History(0.25, [0.26, 0.25, 0.27])) != ""  # never below 0.25
    assert stall_reason(History(0.25, [0.26, 0.2474, 0.3])) == ""  # fell 1% below once
    assert stall_reason(History(0.25, [0.26, 0.2499, 0.3])) != ""  # noise at chance
    assert stall_reason(History(0.25, [0.1, 0.05])) == ""
    h = History(0.25, [0.26, 0.27])
    h.stalled = stall_reason(h)
    assert (h.status, h.note) == ("stalled", h.stalled) and "0.25" in h.note
    h.diverged = "non-finite training loss at epoch 3"
    assert h.status == "diverged"  # a non-finite loss decides, whatever else
    assert History(0.25, [0.2]).status == "ok"
    # the untrained model's loss is the lower of the initial one and the class shares' loss
    assert stall_reason(History(0.2624, [0.2555, 0.266]), prior=0.25) != ""
    assert stall_reason(History(0.2624, [0.2555, 0.266])) == ""  # 2.6% below the init
    assert stall_reason(History(0.24, [0.245, 0.241]), prior=0.25) != ""  # init decides


def test_prior_loss_is_the_best_constant_outputs_loss():
    y = torch.tensor([0, 1, 1, 1])
    assert prior_loss(None, "mse", y) == 0.75 * 0.25
    assert prior_loss(None, "bce", y) == pytest.approx(stats.entropy([0.25, 0.75]))
    assert prior_loss(torch.nn.CrossEntropyLoss(), "cross_entropy",
                      torch.tensor([0, 1, 2, 2])) == pytest.approx(stats.entropy([1, 1, 2]))
    weighted = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(3.0))
    assert prior_loss(weighted, "bce_with_logits", y) is None  # not computed: init only
    # no constant does better: MSE of c on these labels is minimal at c = 0.75
    cs = torch.linspace(0, 1, 101)
    assert min(float(((c - y.float()) ** 2).mean()) for c in cs) == pytest.approx(0.1875)


def test_learning_rate_ten_stalls_with_its_metrics_kept():
    cfg = config(lr=10.0, n_hidden_layers=3, n_neurons=5, n_train=400)
    outcomes = supervised.run_batch(cfg, [derive(1, i) for i in range(4)], "cpu")
    for o in outcomes:
        assert o.status == "stalled" and "never fell 1% below" in o.note
        assert o.metrics["val_accuracy"] is not None  # kept: averaged like any trial's
        assert o.metrics["test_accuracy"] is not None


def test_a_non_finite_loss_diverges_with_its_accuracies_undefined():
    # activated after every hidden layer: with these seeds some diverge and some go on
    cfg = config(loss="mse", output_activation="identity", lr=0.5, n_neurons=20, epochs=6,
                 skip_last_hidden_activation=False)
    outcomes = supervised.run_batch(cfg, [derive(5, i) for i in range(8)], "cpu")
    diverged = [o for o in outcomes if o.status == "diverged"]
    assert diverged and all("non-finite" in o.note for o in diverged)
    for o in diverged:
        assert all(o.metrics[m] is None for m in ("val_accuracy", "test_accuracy",
                                                   "train_accuracy", "gap"))
    assert {o.status for o in outcomes} - {"diverged"}  # its neighbours went on


def test_the_module_recipe_applies_the_same_rule_as_the_stacked_one():
    cfg = config(lr=10.0, n_hidden_layers=3, n_neurons=5, n_train=1000)
    s = derive(1, 0)
    stacked = fit_batch(cfg, [s], "cpu")[0].history
    model, loss_fn, optimizer = supervised.build(cfg, s, 2, 2)
    tr, va, _ = supervised.make_splits(cfg, s)
    alone = train(model, loss_fn, "mse", optimizer, tr, va, cfg["epochs"],
                  cfg["batch_size"], s.generator("order"))
    assert alone.status == stacked.status == "stalled"
    assert math.isclose(alone.initial_loss, stacked.initial_loss, rel_tol=1e-5)
    assert catalogue.get("loss", "mse")  # the loss the rule is stated for
