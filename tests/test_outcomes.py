"""One rule for failed trials: `diverged` (a non-finite loss: metrics undefined) and
`stalled` (the training loss never fell below the untrained model's: metrics kept)."""

import math

import torch

from suite.seeding import derive
from suite.tasks import supervised
from suite.training import components
from suite.training.recipe import History, stall_reason, train
from suite.training.stacked_seeds import fit_batch

torch.set_num_threads(1)

SMALL = {"n_train": 120, "n_val": 60, "n_test": 40, "epochs": 4}


def config(**over) -> dict:
    return {"task": "supervised", **supervised.TASK.defaults(), **SMALL, **over}


def test_stall_rule_by_hand():
    assert stall_reason(History(0.25, [0.26, 0.25, 0.27])) != ""  # never below 0.25
    assert stall_reason(History(0.25, [0.26, 0.2474, 0.24])) == ""  # fell 1% below
    assert stall_reason(History(0.25, [0.26, 0.2499, 0.2498])) != ""  # noise at chance
    assert "ended above" in stall_reason(History(0.2624, [0.2555, 0.266]))  # pushed back up
    assert stall_reason(History(0.66, [0.63, 0.54, 0.47])) == ""  # still falling: ok
    h = History(0.25, [0.26, 0.27])
    h.stalled = stall_reason(h)
    assert (h.status, h.note) == ("stalled", h.stalled) and "0.25" in h.note
    h.diverged = "non-finite training loss at epoch 3"
    assert h.status == "diverged"  # a non-finite loss decides, whatever else
    assert History(0.25, [0.2]).status == "ok"


def test_learning_rate_ten_stalls_with_its_metrics_kept():
    cfg = config(lr=10.0, n_hidden_layers=3, n_neurons=5, n_train=400)
    outcomes = supervised.run_batch(cfg, [derive(1, i) for i in range(4)], "cpu")
    for o in outcomes:
        assert o.status == "stalled" and "the untrained model's" in o.note
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
    assert components.get("loss", "mse")  # the loss the rule is stated for
