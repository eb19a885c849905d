"""The stacked-model training kernel (suite.training.stacked_mlp, .stacked_heads,
.stacked_seeds): a model trained in a batch ends with the same bytes, curves and metrics
as trained alone, and its gradients are the gradients autograd computes for the same nn.Module."""

import math
import struct

import pytest
import torch
from torch.nn import functional as F

from suite.seeding import derive
from suite.tasks import supervised
from suite.training import components, stacked_heads
from suite.training.stacked_mlp import ACTIVATIONS, ALIGN, BLOCK, VEC, StackedMLP
from suite.training.stacked_seeds import Run, fit_batch

torch.set_num_threads(1)  # the bit-for-bit promise is for one thread per trial

SMALL = {"n_train": 120, "n_val": 60, "n_test": 40, "epochs": 3}


def config(**over) -> dict:
    return {"task": "supervised", **supervised.TASK.defaults(), **SMALL, **over}


def seeds(n: int, root: int = 7) -> list:
    return [derive(root, i) for i in range(n)]


def same(a, b) -> bool:
    """Two fitted models are equal to the last bit (NaN included): weights, curves,
    metrics."""
    return (supervised.state_bytes(a.model) == supervised.state_bytes(b.model)
            and _bits(a) == _bits(b))


def _bits(f) -> tuple:
    h = f.history
    numbers = [h.initial_loss, *h.train_loss, *h.val_loss, *h.val_accuracy,
               f.train_accuracy, f.test_accuracy]
    return (len(h.train_loss), len(h.val_loss), h.diverged, h.stalled,
            [struct.pack("<d", v) for v in numbers])


VARIANTS = {
    "notebook recipe": {},
    "sigmoid hidden, dropout": {"activation": "sigmoid", "dropout": 0.3},
    "identity hidden": {"activation": "identity"},
    "tanh, bce": {"activation": "tanh", "loss": "bce", "output_activation": "sigmoid"},
    "elu, cross-entropy": {"activation": "elu", "loss": "cross_entropy",
                           "output_activation": "identity"},
    "bce with logits, skip last": {"loss": "bce_with_logits", "output_activation": "identity",
                                   "skip_last_hidden_activation": True},
    "mse on tanh": {"output_activation": "tanh"},
    "sgd momentum, decay": {"optimizer": "sgd_momentum", "lr": 0.05, "weight_decay": 0.01},
    "adam": {"optimizer": "adam", "lr": 0.01, "weight_decay": 0.001},
    "rmsprop": {"optimizer": "rmsprop", "lr": 0.01},
    "adadelta": {"optimizer": "adadelta", "lr": 1.0},
    "adagrad": {"optimizer": "adagrad", "lr": 0.1},
    "batch 7, odd last batch": {"batch_size": 7, "n_train": 50},
    "batch 1": {"batch_size": 1, "n_train": 23, "epochs": 2},
    "one batch per epoch": {"batch_size": 500},
    "widths 3 and 17": {"n_hidden_layers": 2, "n_neurons": [3, 17]},
    "no hidden layer": {"n_hidden_layers": 0},
    "width 12 (no padding)": {"n_neurons": 12},
    "20 features, 3 classes": {"dataset": "imbalanced", "loss": "cross_entropy",
                               "output_activation": "identity", "n_train": 200},
}


@pytest.mark.parametrize("over", VARIANTS.values(), ids=VARIANTS.keys())
def test_a_batch_of_eight_and_each_model_alone_end_with_the_same_bytes(over):
    cfg, s = config(**over), seeds(8)
    batch = fit_batch(cfg, s, "cpu")
    for i in (0, 3, 7):
        assert same(batch[i], fit_batch(cfg, [s[i]], "cpu")[0]), f"seed {i}"
    pair = fit_batch(cfg, [s[6], s[2]], "cpu")
    assert same(batch[6], pair[0]) and same(batch[2], pair[1])
    assert len({supervised.state_bytes(f.model) for f in batch}) == 8  # the seeds differ


@pytest.mark.parametrize("n", [32, 33])
def test_big_batches_too(n):
    cfg, s = config(epochs=2), seeds(n)
    batch = fit_batch(cfg, s, "cpu")
    for i in (0, n - 1):
        assert same(batch[i], fit_batch(cfg, [s[i]], "cpu")[0])


def test_a_diverging_model_stops_alone_and_its_neighbours_go_on():
    # activated after every hidden layer: with these seeds some diverge and some go on
    cfg = config(loss="mse", output_activation="identity", lr=0.5, n_neurons=20, epochs=6,
                 skip_last_hidden_activation=False)
    s = [derive(5, i) for i in range(8)]
    batch = fit_batch(cfg, s, "cpu")
    stopped = [f for f in batch if f.history.diverged.startswith("non-finite")]
    finished = [f for f in batch if len(f.history.train_loss) == 6]
    assert stopped and finished and len(stopped) + len(finished) == 8
    for f in stopped:  # no validation after the non-finite epoch, as training.train does
        assert len(f.history.val_loss) == len(f.history.train_loss) - 1
        assert not math.isfinite(f.history.train_loss[-1])
    for i in (5, 7, 0):
        assert same(batch[i], fit_batch(cfg, [s[i]], "cpu")[0])


L1_PATIENCE = {
    "l1": {"l1": 1e-3},
    "patience 1, l1": {"l1": 1e-3, "patience": 1},
    "patience 2, adam, dropout": {"patience": 2, "optimizer": "adam", "lr": 0.05,
                                  "dropout": 0.2},
}


@pytest.mark.parametrize("over", L1_PATIENCE.values(), ids=L1_PATIENCE.keys())
def test_l1_and_patience_keep_the_batch_promise(over):
    cfg, s = config(**{"epochs": 8, "lr": 0.5, **over}), seeds(5)
    batch = fit_batch(cfg, s, "cpu")
    if over.get("patience"):
        assert any(len(f.history.train_loss) < 8 for f in batch)  # someone stopped early
        assert all(f.history.best_epoch is not None for f in batch)
    plain = fit_batch({**cfg, "l1": 0.0, "patience": 0}, s[:1], "cpu")[0]
    assert not same(batch[0], plain)  # the penalty or the restored epoch changes the weights
    for i in (0, 4):
        alone = fit_batch(cfg, [s[i]], "cpu")[0]
        assert same(batch[i], alone) and batch[i].history.best_epoch == alone.history.best_epoch


@pytest.mark.slow
def test_the_runner_stores_the_numbers_each_trial_gets_alone(tmp_path):
    from suite.running.runner import Job, execute, group_jobs, run_study
    from suite.store import Store
    from suite.study import shipped

    study = shipped.load("spiral-losses", quick=True)
    store = Store(tmp_path / "s.db")
    run_study(study, store, device="cpu")
    rows = store.trials(study.name, "quick")
    assert len(rows) == 4
    from suite.study.planning import plan

    for spec in plan(study):
        jobs = [Job(spec, "quick", "cpu", 1, 0)]
        assert len(group_jobs(jobs, True)) == 1
        row, curves, blobs = execute(jobs[0])
        stored = next(r for r in rows if r["trial_id"] == spec.trial_id)
        assert (row["status"], row["metrics"]) == (stored["status"], stored["metrics"])
        assert curves == store.curves(spec.trial_id)
        assert blobs["state_dict"] == store.blob(spec.trial_id, "state_dict")


def test_jobs_are_grouped_by_config_and_split_for_workers():
    from suite.running.runner import MAX_GROUP, Job, group_jobs
    from suite.study import shipped
    from suite.study.planning import plan

    specs = plan(shipped.load("spiral-layers", quick=True), seeds=40)  # 2 configs x 40
    jobs = [Job(s, "quick", "cpu", 1, 0) for s in specs]
    groups = group_jobs(jobs, True)
    assert [len(g) for g in groups] == [MAX_GROUP, 8, MAX_GROUP, 8]
    assert all(len({j.spec.config_hash for j in g}) == 1 for g in groups)
    assert sorted(j.spec.trial_id for g in groups for j in g) == sorted(s.trial_id for s in specs)
    assert len(group_jobs(jobs[:3], True, workers=3)) == 3  # every worker gets one
    assert all(len(g) == 1 for g in group_jobs(jobs, False))  # batching off: one by one


# -- the kernel against autograd ---------------------------------------------------------

HEADS = [("mse", "sigmoid"), ("mse", "identity"), ("mse", "tanh"), ("bce", "sigmoid"),
         ("bce_with_logits", "identity"), ("cross_entropy", "identity")]


@pytest.mark.parametrize("activation", sorted(components.ACTIVATIONS))
@pytest.mark.parametrize("loss,output", HEADS)
def test_stacked_gradients_are_autograds(activation, loss, output):
    cfg = config(activation=activation, loss=loss, output_activation=output,
                 n_hidden_layers=2, n_neurons=[5, 9])
    splits = [supervised.make_splits(cfg, s) for s in seeds(2)]
    run = Run(cfg, seeds(2), splits, 2, torch.device("cpu"))
    x, t, y = run.data[0]
    rows = 13
    p = run.net.pass_for(rows)
    p.t.copy_(t[:, :rows])
    out = run.net.forward(x[:, :rows], p)
    run.head.grad(p)
    run.net.output_backward(p)
    run.net.backward(x[:, :rows], p)
    losses = run.head.loss(out, p.t).mean(1)
    for s, module in enumerate(run.modules):
        module.zero_grad()
        pred = module(splits[s][0].x[:rows])
        reference = _torch_loss(loss, pred, splits[s][0].y[:rows])
        reference.backward()
        assert torch.allclose(losses[s], reference.detach(), rtol=1e-5, atol=1e-6)
        for (gw, gb), lin in zip(_grads(run.net, s), _linears(module), strict=True):
            assert torch.allclose(gw, lin.weight.grad, rtol=1e-4, atol=1e-6)
            assert torch.allclose(gb, lin.bias.grad, rtol=1e-4, atol=1e-6)


def _torch_loss(loss, pred, y):
    target = y if loss == "cross_entropy" else y.float()
    pred = pred if loss == "cross_entropy" else pred.view(-1)
    return components.get("loss", loss)()(pred, target)


def _grads(net: StackedMLP, s: int):
    real = net.sizes
    return [(gW[s, :o, :i], gb[s, :o]) for gW, gb, o, i in zip(net.gW, net.gb, real[1:], real,
                                                               strict=False)]


def _linears(module):
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize("rows", [1, 7, 10, 32, 33])
def test_batched_products_of_aligned_slices_are_each_slice_alone(rows):
    """The premise of the kernel, on this CPU: with feature sizes a multiple of ALIGN
    (every slice 16-byte aligned), slice s of a batched product of 8 is the product of
    slice s alone, for the three products of a layer (forward with bias, weight
    gradient, input gradient)."""
    g = torch.Generator().manual_seed(rows)
    for n_in in (4, 12, 20, 104):
        for n_out in (4, 12, 20, 104):
            x = torch.randn(8, rows, n_in, generator=g)
            gz = torch.randn(8, rows, n_out, generator=g)
            w = torch.randn(8, n_out, n_in, generator=g)
            b = torch.randn(8, 1, n_out, generator=g)
            products = (lambda x, gz, w, b: torch.baddbmm(b, x, w.mT),
                        lambda x, gz, w, b: torch.bmm(gz.mT, x),
                        lambda x, gz, w, b: torch.bmm(gz, w))
            for product in products:
                batched = product(x, gz, w, b)
                for s in range(8):
                    alone = product(x[s:s + 1].clone(), gz[s:s + 1].clone(),
                                    w[s:s + 1].clone(), b[s:s + 1].clone())
                    assert torch.equal(alone[0], batched[s]), (n_in, n_out, s)


def test_every_activation_and_loss_of_the_catalogue_has_a_stacked_version():
    assert set(components.ACTIVATIONS) <= set(ACTIVATIONS)
    assert set(stacked_heads.HEADS) == set(components.LOSSES)


@pytest.mark.parametrize("sizes", [[2, 10, 10, 10, 1], [20, 3, 17, 2], [2, 1]])
def test_blocks_are_aligned_and_buffers_tail_free(sizes):
    net = StackedMLP(5, sizes, ["relu"] * (len(sizes) - 2), "sigmoid")
    assert net.flat.numel() % VEC == 0 and all(p % ALIGN == 0 for p in net.padded)
    for W, b in zip(net.W, net.b, strict=True):
        assert W.data_ptr() % (4 * BLOCK) == 0 and b.data_ptr() % (4 * BLOCK) == 0
        assert all(W[s].data_ptr() % (4 * ALIGN) == 0 for s in range(5))
    real = sum(o * i + o for o, i in zip(sizes[1:], sizes, strict=False))
    assert int((~net.pad_mask).sum()) == 5 * real


def test_the_exported_model_computes_what_the_stack_computed():
    cfg = config(epochs=2)
    run = Run(cfg, seeds(3), [supervised.make_splits(cfg, s) for s in seeds(3)], 2,
              torch.device("cpu"))
    fitted = run.fit()
    x = run.data[1][0]
    out = run.net.forward(x, run.net.pass_for(x.shape[1]))[..., 0]
    for s, f in enumerate(fitted):
        model = supervised.load_model(cfg, supervised.state_bytes(f.model))
        with torch.no_grad():
            assert torch.allclose(model(f.splits[1].x).view(-1), out[s], atol=1e-6)


def test_plain_sgd_shortcut_is_torchs_sgd_step():
    g = torch.Generator().manual_seed(0)
    w, grad = torch.randn(4096, generator=g), torch.randn(4096, generator=g)
    p = torch.nn.Parameter(w.clone())
    p.grad = grad.clone()
    torch.optim.SGD([p], lr=0.1).step()
    assert torch.equal(w.add_(grad, alpha=-0.1), p.detach())


def test_heads_per_sample_losses_are_torchs():
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 2, (3, 11), generator=g)
    for name, loss in components.LOSSES.items():
        head = stacked_heads.make(name, 2)
        width = 4
        logits = torch.randn(3, 11, width, generator=g)
        out = logits.sigmoid() if name in ("mse", "bce") else logits
        p_out, p_t = _scratch(out), _scratch(head.targets(y, width))
        per = head.loss(p_out, p_t)
        target = y if name == "cross_entropy" else y.float()
        pred = out[..., :2] if name == "cross_entropy" else out[..., 0]
        if name == "cross_entropy":
            expected = F.cross_entropy(pred.reshape(-1, 2), target.reshape(-1),
                                       reduction="none").view(3, 11)
        else:
            expected = loss(reduction="none")(pred, target)
        assert torch.allclose(per, expected, rtol=1e-5, atol=1e-6), name


def _scratch(t: torch.Tensor) -> torch.Tensor:
    """t in a buffer rounded up to VEC floats, as the heads expect."""
    buf = torch.zeros(-(-t.numel() // VEC) * VEC)
    view = buf[:t.numel()].view(t.shape)
    view.copy_(t)
    return view
