"""L1 and early stopping in the training loop, and the capacity metrics of `supervised`."""

import numpy as np
import pytest
import torch

from suite.seeding import derive
from suite.tasks import supervised
from suite.training import recipe
from suite.training.datasets import make
from suite.training.recipe import EarlyStopping, run_epoch, train

CPU = torch.device("cpu")


def config(**kw):
    return supervised.TASK.defaults() | dict(dataset="moons", n_train=64, n_val=32, n_test=32,
                                             n_hidden_layers=1, n_neurons=8, epochs=3) | kw


def setup(c, seed=0):
    seeds = derive(0, seed)
    splits = supervised.make_splits(c, seeds)
    model, loss_fn, optimizer = supervised.build(c, seeds, 2, 2)
    return seeds, splits, model, loss_fn, optimizer


# -- early stopping ---------------------------------------------------------------------

def test_early_stopping_stops_patience_epochs_after_the_best_on_a_constructed_curve():
    curve = [1.0, 0.8, 0.7, 0.75, 0.7, 0.71, 0.9, 0.6]  # best at epoch 3; 0.7 again is no gain
    stopper = EarlyStopping(3)
    stopped_after = next(i + 1 for i, v in enumerate(curve) if stopper.update(v))
    assert stopped_after == 6 and stopper.best_epoch == 3 and stopper.best == 0.7
    assert not any(EarlyStopping(0).update(v) for v in curve)


def test_train_stops_at_the_expected_epoch_and_restores_that_epochs_weights(monkeypatch):
    """The validation losses are scripted; training must stop after epoch 5 (best at 2,
    patience 3) and hand back the weights it had after epoch 2."""
    c = config(epochs=20)
    seeds, (tr, va, _), model, loss_fn, optimizer = setup(c)
    script = iter([0.9, 0.5, 0.6, 0.55, 0.5, 0.1])  # the 6th would be a new best: never seen
    real_evaluate, real_epoch, snapshots = recipe.evaluate, recipe.run_epoch, []

    def scripted(model, loss_fn, loss_name, data):
        loss, acc = real_evaluate(model, loss_fn, loss_name, data)
        return (next(script), acc) if data is va else (loss, acc)

    def recorded(*args, **kw):
        out = real_epoch(*args, **kw)
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return out

    monkeypatch.setattr(recipe, "evaluate", scripted)
    monkeypatch.setattr(recipe, "run_epoch", recorded)
    history = train(model, loss_fn, c["loss"], optimizer, tr, va, c["epochs"],
                    c["batch_size"], seeds.generator("order"), patience=3)
    assert len(history.train_loss) == 5 and history.val_loss == [0.9, 0.5, 0.6, 0.55, 0.5]
    assert history.best_epoch == 2 and history.selected == 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[1][k])
    assert not torch.equal(snapshots[1]["out.weight"], snapshots[4]["out.weight"])


def test_a_supervised_trial_with_patience_reports_its_best_epoch():
    c = config(n_hidden_layers=2, n_neurons=100, n_train=140, n_val=60, n_test=60,
               loss="bce_with_logits", output_activation="identity", optimizer="adam",
               lr=0.01, epochs=300, patience=10)
    out = supervised.run(c, derive(7, 2), CPU)
    m, val = out.metrics, out.curves["val_loss"]
    assert m["epochs_run"] < 300  # it stopped early
    best = int(np.argmin(val)) + 1
    assert m["best_epoch"] == best and m["epochs_run"] == best + 10
    assert m["final_val_loss"] == min(val)
    assert m["val_accuracy"] == out.curves["val_accuracy"][best - 1]
    assert m["gap"] == m["train_accuracy"] - m["test_accuracy"]


# -- L1 ---------------------------------------------------------------------------------

def test_l1_adds_lr_times_l1_times_sign_to_each_weight_step():
    """One full-batch SGD step: the weights move by an extra -lr * l1 * sign(w), the biases
    as without the penalty."""
    c = config(optimizer="sgd", lr=0.1, batch_size=64)
    runs = {}
    for l1 in (0.0, 0.05):
        seeds, (tr, _, _), model, loss_fn, optimizer = setup(c)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        run_epoch(model, loss_fn, c["loss"], optimizer, tr, 64, seeds.generator("order"), l1)
        runs[l1] = model.state_dict()
    for k, w0 in before.items():
        extra = runs[0.05][k] - runs[0.0][k]
        expected = -0.1 * 0.05 * torch.sign(w0) if k.endswith("weight") else torch.zeros_like(w0)
        assert torch.allclose(extra, expected, atol=1e-7), k


def test_the_penalty_covers_weights_not_biases():
    seeds, _, model, _, _ = setup(config())
    expected = sum(p.abs().sum() for n, p in model.named_parameters() if "bias" not in n)
    assert recipe.l1_penalty(model).item() == pytest.approx(expected.item())
    assert len(list(model.named_parameters())) == 4  # two weights, two biases


def test_defaults_leave_the_plain_recipe_bit_for_bit():
    """l1 = 0 and patience = 0 train exactly as a plain minibatch loop written here."""
    c = config(dropout=0.2, epochs=3, batch_size=10)
    seeds, (tr, va, _), model, loss_fn, optimizer = setup(c)
    torch.manual_seed(seeds.dropout)
    history = train(model, loss_fn, c["loss"], optimizer, tr, va, c["epochs"], 10,
                    seeds.generator("order"))
    seeds, _, plain, loss_fn, optimizer = setup(c)
    torch.manual_seed(seeds.dropout)
    order, y = seeds.generator("order"), tr.y.to(torch.float32)
    for _ in range(c["epochs"]):
        plain.train()
        perm = torch.randperm(len(y), generator=order)
        for start in range(0, len(y), 10):
            idx = perm[start:start + 10]
            loss = loss_fn(plain(tr.x[idx]).view(-1), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        plain.eval()  # the recipe evaluates after each epoch (no randomness there)
    for k, v in model.state_dict().items():
        assert torch.equal(v, plain.state_dict()[k]), k
    assert history.best_epoch is None and history.selected == -1


# -- capacity studies -------------------------------------------------------------------

def test_a_perceptron_is_one_linear_unit():
    c = config(n_hidden_layers=0, dataset="xor")
    _, _, model, _, _ = setup(c)
    assert [p.shape for p in model.parameters()] == [torch.Size([1, 2]), torch.Size([1])]


def test_logic_datasets_are_labelled_by_their_rule():
    pts = make("xor", 400, 3)
    corners = torch.round(pts.x).clamp(0, 1).to(torch.int64)  # jitter 0.1 stays near
    assert torch.equal(pts.y, corners[:, 0] ^ corners[:, 1])
    pts = make("and", 400, 3)
    corners = torch.round(pts.x).clamp(0, 1).to(torch.int64)
    assert torch.equal(pts.y, corners[:, 0] & corners[:, 1])


# -- the supervised task's stacked kernel (suite.training.stacked_seeds) --------------------

def test_the_kernels_l1_adds_lr_times_l1_times_sign_to_each_weight_step():
    """As above, through `fit_batch`: one epoch of one full batch is one SGD step."""
    from suite.training.stacked_seeds import fit_batch

    c = config(optimizer="sgd", lr=0.1, batch_size=64, epochs=1)
    _, _, model, _, _ = setup(c)
    after = {l1: fit_batch(c | {"l1": l1}, [derive(0, 0)], CPU)[0].model.state_dict()
             for l1 in (0.0, 0.05)}
    for k, w0 in model.state_dict().items():
        extra = after[0.05][k] - after[0.0][k]
        expected = -0.1 * 0.05 * torch.sign(w0) if k.endswith("weight") else torch.zeros_like(w0)
        assert torch.allclose(extra, expected, atol=1e-7), k


def test_the_kernel_restores_the_weights_the_best_epoch_had():
    """Early stopping does not change the path up to the best epoch, so the restored model
    is the model trained for exactly `best_epoch` epochs without early stopping."""
    from suite.training.stacked_seeds import fit_batch

    c = config(n_neurons=16, loss="bce_with_logits", output_activation="identity",
               optimizer="adam", lr=0.05, epochs=200, patience=5)
    stopped = fit_batch(c, [derive(7, 2)], CPU)[0]
    h = stopped.history
    best = int(np.argmin(h.val_loss)) + 1
    assert h.best_epoch == best and len(h.train_loss) == best + 5 < 200
    short = fit_batch(c | {"epochs": best, "patience": 0}, [derive(7, 2)], CPU)[0]
    assert short.history.best_epoch is None
    assert supervised.state_bytes(stopped.model) == supervised.state_bytes(short.model)
    assert (stopped.train_accuracy, stopped.test_accuracy) == (short.train_accuracy,
                                                               short.test_accuracy)
    assert h.val_loss[:best] == short.history.val_loss
