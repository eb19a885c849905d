"""torch.optim's paths on the analytic surfaces against the closed-form update rules.

Each step is checked from torch's own previous point: the closed form carries its state
(velocity, averages) from the gradients at torch's points, so errors cannot compound.
Tolerance: |w_torch - w_closed| <= 1e-14 * max(1, |w|) per coordinate, in float64 (the
two compute the same formulas in a different order; the worst seen is 2.3e-16, 1 ulp).
"""

import numpy as np
import pytest
import torch

from suite.tasks import optimizer_paths as op

RTOL = 1e-14
CPU = torch.device("cpu")


def grad(surface: str, w: np.ndarray) -> np.ndarray:
    """The gradients worked out by hand."""
    if surface == "bowl":  # f = 0.5 (w1^2 + 10 w2^2)
        return np.array([w[0], 10 * w[1]])
    if surface == "square":  # f = w^2
        return np.array([2 * w[0]])
    return np.array([2 * w[0], -2 * w[1]])  # f = w1^2 - w2^2


def sgd_rule(c):
    def step(w, g, state, t):
        return w - c["lr"] * g
    return step


def notebook_momentum_rule(c):
    """v <- mu v + lr g; w <- w - v (the notebook's form)."""
    def step(w, g, state, t):
        state["v"] = c["momentum"] * state.get("v", 0.0) + c["lr"] * g
        return w - state["v"]
    return step


def torch_momentum_rule(c):
    """b <- mu b + g (b_1 = g); w <- w - lr b (torch's form)."""
    def step(w, g, state, t):
        state["b"] = g if t == 1 else c["momentum"] * state["b"] + g
        return w - c["lr"] * state["b"]
    return step


def book_momentum_rule(c):
    """velocity <- mu velocity - lr g; x <- x + velocity (seed 004's momentum_optimizer)."""
    def step(w, g, state, t):
        state["v"] = c["momentum"] * state.get("v", 0.0) - c["lr"] * g
        return w + state["v"]
    return step


def rmsprop_rule(c):
    def step(w, g, state, t):
        state["r"] = c["alpha"] * state.get("r", 0.0) + (1 - c["alpha"]) * g**2
        return w - c["lr"] * g / (np.sqrt(state["r"]) + c["eps"])
    return step


def adam_rule(c):
    def step(w, g, state, t):
        b1, b2 = c["beta1"], c["beta2"]
        state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        state["s"] = b2 * state.get("s", 0.0) + (1 - b2) * g**2
        m_hat, s_hat = state["m"] / (1 - b1**t), state["s"] / (1 - b2**t)
        return w - c["lr"] * m_hat / (np.sqrt(s_hat) + c["eps"])
    return step


def config(**kw):
    return {k: p.default for k, p in op.PARAMS.items()} | kw


CASES = [  # the catalogue's settings
    ("bowl", "sgd", sgd_rule, dict(lr=0.18)),
    ("bowl", "sgd", sgd_rule, dict(lr=0.05)),
    ("bowl", "momentum", notebook_momentum_rule, dict(lr=0.05, momentum=0.9)),
    ("bowl", "momentum", torch_momentum_rule, dict(lr=0.05, momentum=0.9)),
    ("bowl", "rmsprop", rmsprop_rule, dict(lr=0.1)),
    ("bowl", "adam", adam_rule, dict(lr=0.2)),
    ("saddle", "sgd", sgd_rule, dict(lr=0.1)),
    ("saddle", "momentum", notebook_momentum_rule, dict(lr=0.1, momentum=0.7)),
    ("saddle", "momentum", torch_momentum_rule, dict(lr=0.1, momentum=0.7)),
    ("saddle", "rmsprop", rmsprop_rule, dict(lr=0.1)),
    ("saddle", "adam", adam_rule, dict(lr=0.2)),
    # seed 004's one-dimensional loops, from its starting points and rates
    ("square", "sgd", sgd_rule, dict(lr=0.1, start=[10.0], steps=20)),
    ("square", "momentum", book_momentum_rule, dict(lr=0.1, momentum=0.9, start=[5.0])),
    ("square", "momentum", torch_momentum_rule, dict(lr=0.1, momentum=0.9, start=[5.0])),
    ("square", "rmsprop", rmsprop_rule, dict(lr=0.1, alpha=0.9, start=[5.0])),
]


@pytest.mark.parametrize("surface, name, rule, kw", CASES,
                         ids=[f"{s}-{r.__name__}-{k['lr']}" for s, _, r, k in CASES])
def test_every_torch_step_matches_the_closed_form(surface, name, rule, kw):
    kw = {"steps": 100 if surface == "saddle" else 50} | kw
    c = config(surface=surface, optimizer=name, **kw)
    path = op.trace(c, CPU)
    assert path.shape == (c["steps"] + 1, op.SURFACES[surface].dim)
    assert np.array_equal(path[0], c["start"] or op.SURFACES[surface].start)
    step, state = rule(c), {}
    worst = 0.0
    for t in range(1, len(path)):
        expected = step(path[t - 1], grad(surface, path[t - 1]), state, t)
        err = np.abs(path[t] - expected) / np.maximum(1.0, np.abs(expected))
        worst = max(worst, err.max())
    assert worst <= RTOL, worst
    assert np.abs(path[-1] - path[0]).max() > 0.1  # it moved: the check has teeth


def test_a_wrong_rule_is_caught():
    """The tolerance is tight enough to tell RMSprop's alpha 0.9 from torch's default 0.99."""
    c = config(optimizer="rmsprop", lr=0.1)
    path = op.trace(c, CPU)
    step, state = rmsprop_rule(c | {"alpha": 0.99}), {}
    errs = [np.abs(path[t] - step(path[t - 1], grad("bowl", path[t - 1]), state, t)).max()
            for t in range(1, len(path))]
    assert max(errs) > 1e-3


def test_the_two_momentum_forms_give_the_same_path():
    """v = lr * b at every step when lr is constant: the whole paths agree."""
    c = config(optimizer="momentum", lr=0.05, momentum=0.9)
    a, b = [np.array([4.0, 1.5])], [np.array([4.0, 1.5])]
    na, tb, sa, sb = notebook_momentum_rule(c), torch_momentum_rule(c), {}, {}
    for t in range(1, 51):
        a.append(na(a[-1], grad("bowl", a[-1]), sa, t))
        b.append(tb(b[-1], grad("bowl", b[-1]), sb, t))
        assert np.allclose(sa["v"], c["lr"] * sb["b"], rtol=1e-12, atol=0)
    assert np.allclose(a, b, rtol=1e-12, atol=1e-15)


def test_path_metrics_on_a_hand_made_path():
    path = np.array([[3.0, 4.0], [0.0, 0.0], [0.0, 0.1], [30.0, 40.0]])
    m, und = op.path_metrics(path, op.SURFACES["bowl"], tol=0.06, radius=10.0)
    assert m["path_length"] == pytest.approx(5 + 0.1 + np.hypot(30, 39.9))
    assert m["final_loss"] == pytest.approx(0.5 * (900 + 16000))
    assert m["steps_to_tol"] == 1  # f(0, 0) = 0; f(0, 0.1) = 0.05 would also do, later
    assert m["escape_step"] == 3 and m["final_distance"] == pytest.approx(50.0)
    assert und == {}


def test_undefined_metrics_are_none_with_a_reason():
    path = np.array([[0.1, 1.5], [0.08, 1.8]])
    m, und = op.path_metrics(path, op.SURFACES["saddle"], tol=1e-3, radius=10.0)
    assert m["steps_to_tol"] is None and "no minimum" in und["steps_to_tol"]
    assert m["escape_step"] is None and "within distance 10" in und["escape_step"]
    m, und = op.path_metrics(np.array([[4.0, 1.5], [3.0, 1.0]]), op.SURFACES["bowl"], 1e-3, 10)
    assert m["steps_to_tol"] is None and "never within 0.001" in und["steps_to_tol"]


def test_run_records_the_path_and_its_metrics():
    out = op.run(config(surface="saddle", optimizer="momentum", lr=0.1, momentum=0.7,
                        steps=100), None, CPU)
    assert out.status == "ok" and len(out.curves["w1"]) == 101
    assert out.metrics["escape_step"] == 7 and out.metrics["steps_to_tol"] is None
    assert out.artifacts["undefined"]["steps_to_tol"]
    sgd = op.run(config(surface="saddle", optimizer="sgd", lr=0.1, steps=100), None, CPU)
    # w2 grows by 1.2 per SGD step: 1.5 * 1.2^k >= 10 first at k = 11
    assert sgd.metrics["escape_step"] == 11
    assert sgd.curves["w2"][-1] == pytest.approx(1.5 * 1.2**100, rel=1e-12)


def test_a_non_finite_path_is_a_recorded_divergence():
    out = op.run(config(surface="saddle", optimizer="sgd", lr=50.0, steps=400), None, CPU)
    assert out.status == "diverged" and "non-finite" in out.note
    assert out.metrics["final_loss"] is None


def test_gradient_descent_on_the_square_is_the_geometric_sequence():
    """w_k = w_0 (1 - 2 lr)^k for f = w^2: 10 * 0.8^k, 0.1153 after the book's 20 steps."""
    path = op.trace(config(surface="square", optimizer="sgd", lr=0.1, steps=20), CPU)
    expected = 10 * 0.8 ** np.arange(21)
    assert np.allclose(path[:, 0], expected, rtol=1e-14, atol=0)
    assert f"{path[-1, 0]:.2f}" == "0.12"  # the book's printed "Final weight"


def book_loops():
    """Seed 004's three loops, verbatim in plain Python floats: |w| at the end."""
    w = 10
    for _ in range(20):
        w = w - 0.1 * (2 * w)
    x, v = 5.0, 0
    for _ in range(50):
        v = 0.9 * v - 0.1 * (2 * x)
        x = x + v
    y, r = 5.0, 0
    for _ in range(50):
        g = 2 * y
        r = 0.9 * r + (1 - 0.9) * g**2
        y = y - 0.1 * g / (np.sqrt(r) + 1e-8)
    return {"gd 0.1": abs(w), "momentum 0.1/0.9": abs(x), "rmsprop 0.1/0.9": abs(y)}


def test_the_descent_study_matches_the_books_loops_and_its_reference(store_path):
    from suite.running.runner import run_study
    from suite.store import Store
    from suite.study import shipped

    study = shipped.load("descent-1d")
    run_study(study, Store(store_path), device="cpu")
    rows = Store(store_path).trials("descent-1d", "full")
    got = {r["labels"]["optimizer"]: r["metrics"]["final_distance"] for r in rows}
    book = book_loops()
    assert got.keys() == book.keys() == study.reference["values"].keys()
    for label, value in book.items():
        assert got[label] == pytest.approx(value, rel=1e-12, abs=0)
        assert study.reference["values"][label] == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize("name", list(op.OPTIMIZERS))
def test_started_exactly_at_the_saddle_no_optimiser_moves(name):
    """Seed 002, Task 2 Q3: the gradient at (0, 0) is zero, so every step is zero."""
    c = config(surface="saddle", optimizer=name, start=[0.0, 0.0], steps=100, lr=0.1)
    path = op.trace(c, CPU)
    assert path.shape == (101, 2) and not path.any()
    m, und = op.path_metrics(path, op.SURFACES["saddle"], 1e-3, 10.0)
    assert m["final_distance"] == 0.0 and m["path_length"] == 0.0
    assert m["escape_step"] is None and "escape_step" in und
    # A nudge of 1e-12 along the unstable axis is enough: SGD multiplies w2 by 1.2 a step.
    nudged = op.trace(c | {"start": [0.0, 1e-12]}, CPU)
    assert nudged[-1, 1] > 1e-12 * 1.1**100


def test_a_start_of_the_wrong_length_is_refused():
    from suite.errors import DeclarationError
    from suite.study.spec import parse

    raw = {"name": "x", "task": {"kind": "optimizer-path", "surface": "square"},
           "scientific": {"start": [[1.0, 2.0]]}}
    with pytest.raises(DeclarationError, match="a list of 1 number"):
        parse(raw, "x.toml")
