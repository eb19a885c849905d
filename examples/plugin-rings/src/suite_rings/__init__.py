"""Concentric rings: does a small MLP need polar features to separate them?

An example plug-in for suite (see the README's "Writing your own task"). It brings:

- a dataset, `rings`: class 0 on a disc of radius 1, class 1 on a ring of radii 1.5..2.5,
  each point jittered by N(0, noise); a pure function of (n, seed, noise);
- a task, `rings`: a full-batch MLP (Adam) on the raw (x, y) coordinates or on polar
  features (r, cos t, sin t); every random draw comes from the trial's seeds;
- a figure, `rings_data`: the training points of one trial, computed by a pure function.
"""

import numpy as np
import torch

from suite.plugins import (
    FigureUnavailable,
    Points,
    Task,
    TrialOutcome,
    choice,
    int_range,
    non_negative_float,
    positive_float,
)


def rings(n: int, seed: int, noise: float | None = None) -> Points:
    """`n` points, half per class (class 0 first), from one numpy generator."""
    g = np.random.default_rng(seed)
    noise = 0.1 if noise is None else noise
    n0 = n // 2
    r = np.concatenate([np.sqrt(g.uniform(0, 1, n0)), g.uniform(1.5, 2.5, n - n0)])
    t = g.uniform(0, 2 * np.pi, n)
    x = np.stack([r * np.cos(t), r * np.sin(t)], axis=1) + g.normal(0, noise, (n, 2))
    y = np.concatenate([np.zeros(n0), np.ones(n - n0)])
    return Points(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64))


FEATURES = {
    "xy": lambda x: x,
    "polar": lambda x: torch.stack([x.norm(dim=1), *(x / x.norm(dim=1, keepdim=True)).T], 1),
}

PARAMS = {
    "n_train": int_range(200, 2, 1_000_000, "training points"),  # bounded, as every size
    "n_test": int_range(200, 2, 1_000_000, "test points"),
    "noise": non_negative_float(0.1, "jitter of every point"),
    "features": choice("xy", FEATURES, "the model's inputs"),
    "hidden": int_range(4, 0, 256, "hidden units (0: logistic regression)"),
    "lr": positive_float(0.05, "Adam's learning rate"),
    "epochs": int_range(60, 1, 100_000, "full-batch steps"),
}
METRICS = ("test_accuracy", "train_accuracy", "final_loss")


def splits(config, seeds):
    """Train and test points, each drawn from its own seed derived from the data seed."""
    train_seed, test_seed = seeds.split("data", 2)
    return (rings(config["n_train"], train_seed, config["noise"]),
            rings(config["n_test"], test_seed, config["noise"]))


def model(config, generator: torch.Generator) -> torch.nn.Module:
    n_in = 2 if config["features"] == "xy" else 3
    layers = ([torch.nn.Linear(n_in, config["hidden"]), torch.nn.Tanh(),
               torch.nn.Linear(config["hidden"], 1)] if config["hidden"]
              else [torch.nn.Linear(n_in, 1)])
    net = torch.nn.Sequential(*layers)
    with torch.no_grad():  # every weight from the trial's init generator
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return net


def run(config, seeds, device) -> TrialOutcome:
    train, test = splits(config, seeds)
    features = FEATURES[config["features"]]
    x, y = features(train.x).to(device), train.y.float().to(device)
    net = model(config, seeds.generator("init")).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=config["lr"])
    loss_fn, losses = torch.nn.BCEWithLogitsLoss(), []
    for _ in range(config["epochs"]):
        optimizer.zero_grad()
        loss = loss_fn(net(x).squeeze(1), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        def accuracy(points):
            logits = net(features(points.x).to(device)).squeeze(1)
            return ((logits > 0).long().cpu() == points.y).double().mean().item()

        metrics = {"test_accuracy": accuracy(test), "train_accuracy": accuracy(train),
                   "final_loss": losses[-1]}
    return TrialOutcome("ok", metrics, curves={"train_loss": losses})


def run_batch(config, seeds_list, device) -> list[TrialOutcome]:
    """Several seeds of one config: here simply one after the other (the contract: each
    outcome equals `run`'s for that seed alone; the suite checks it)."""
    return [run(config, seeds, device) for seeds in seeds_list]


def rings_data(config, seeds) -> dict:
    """The figure's data: the training points of one trial, as numpy arrays."""
    train, _ = splits(config, seeds)
    return {"x": train.x.numpy(), "y": train.y.numpy()}


def draw_rings(ctx):
    from matplotlib.figure import Figure

    from suite.seeding import derive

    rows = [r for r in ctx.trials if r["config"].get("task") == "rings"]
    if not rows:
        raise FigureUnavailable("no trial of the rings task")
    first = min(rows, key=lambda r: (r["seed_index"], r["plan_index"]))
    data = rings_data(first["config"], derive(first["seeds"]["root"], first["seeds"]["index"]))
    fig = Figure(figsize=(4, 4), layout="constrained")
    ax = fig.subplots()
    for label in (0, 1):
        points = data["x"][data["y"] == label]
        ax.scatter(points[:, 0], points[:, 1], s=4, label=f"class {label}")
    ax.set_aspect("equal")
    ax.legend(fontsize=7)
    ax.set_title(f"rings: training split, seed index {first['seed_index']}", fontsize=9)
    return fig


TASK = Task(name="rings", description=__doc__.splitlines()[0], params=PARAMS, metrics=METRICS,
            curves=("train_loss",), figures=("rings_data", "metric_vs_axis", "loss_curves"),
            run=run, run_batch=run_batch)
