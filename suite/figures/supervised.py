"""Figures of the supervised studies (the spirals' and any dataset of
`suite.training.datasets`): the data, a metric against an axis, loss curves and decision
boundaries. Data in pure functions (tests check the data); drawing stays thin.
"""

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from suite import analysis
from suite.figures.registry import FigureContext, FigureUnavailable, register
from suite.seeding import TrialSeeds
from suite.training import decision_grid

# -- figure data: pure functions (tests check these) ------------------------------------
QUICK_MAX_SIDE = 200  # quick variants: decision-map grids at most this many points a side
MAP_STEP = 0.01  # the notebook's compare_pred grid step


def config_key(row: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in row["labels"].items())


def by_config(trials: list[dict]) -> dict[str, list[dict]]:
    """Trials grouped by configuration label, in plan order, each group by seed index."""
    groups: dict[str, list[dict]] = {}
    for row in sorted(trials, key=lambda r: r["plan_index"]):
        groups.setdefault(config_key(row), []).append(row)
    return {k: sorted(v, key=lambda r: r["seed_index"]) for k, v in groups.items()}


def representative(rows: list[dict], metric: str) -> dict:
    """The seed whose `metric` is nearest the median over the seeds (the lower seed
    index on ties); the first seed when the metric is defined nowhere."""
    defined = [r for r in rows if r["metrics"].get(metric) is not None]
    if not defined:
        return min(rows, key=lambda r: r["seed_index"])
    median = float(np.median([r["metrics"][metric] for r in defined]))
    return min(defined, key=lambda r: (abs(r["metrics"][metric] - median), r["seed_index"]))


def curve_band(series: list[list[float | None]]) -> dict[str, np.ndarray]:
    """Mean, min and max over seeds at each epoch (1-based); missing or undefined
    values (a diverged seed's curve ends early) are left out of that epoch."""
    length = max((len(s) for s in series), default=0)
    if length == 0:
        empty = np.array([])
        return {"epoch": np.arange(1, 1), "mean": empty, "min": empty, "max": empty}
    table = np.full((len(series), length), np.nan)
    for i, s in enumerate(series):
        table[i, :len(s)] = [np.nan if v is None else v for v in s]
    defined = np.isfinite(table)
    counts = defined.sum(axis=0)
    safe = np.where(defined, table, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, safe.sum(axis=0) / counts, np.nan)
    lo = np.where(counts > 0, np.where(defined, table, np.inf).min(axis=0), np.nan)
    hi = np.where(counts > 0, np.where(defined, table, -np.inf).max(axis=0), np.nan)
    return {"epoch": np.arange(1, length + 1), "mean": mean, "min": lo, "max": hi}


def metric_series(frame: pd.DataFrame, axes: list[str], axis: str, metric: str,
                  bounds: tuple[float, float] | None = None) -> list[dict]:
    """`metric` against the values of `axis` (plan order), one series per combination of
    the other axes: per value the seeds' values (a diverged trial's left out), their mean
    and the interval of the statistics table (`analysis.interval`; `bounds` are the
    metric's, if it has any)."""
    frame = analysis.counted(frame, [metric])
    others = [a for a in axes if a != axis]
    order = list(dict.fromkeys(frame[axis]))
    groups = frame.groupby(others, sort=False) if others else [((), frame)]
    out = []
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        points = []
        for label in order:
            values = [v for v in group.loc[group[axis] == label, metric]
                      if v is not None and np.isfinite(v)]
            lo, hi, _ = analysis.interval(values, bounds)
            points.append({"label": label, "values": values,
                           "mean": float(np.mean(values)) if values else np.nan,
                           "ci_low": lo, "ci_high": hi})
        name = ", ".join(f"{a}={k}" for a, k in zip(others, key, strict=True))
        out.append({"group": name, "points": points})
    return out


def needs_supervised_data(config: dict) -> None:
    """Raise FigureUnavailable unless the trial's data comes from suite.training.datasets."""
    if not {"dataset", "n_train", "n_val", "n_test"} <= config.keys():
        raise FigureUnavailable(f"task '{config.get('task')}' has no generated dataset "
                                "(it registers its own figures)")


def map_step(box: tuple[float, float, float, float], quick: bool, h: float = MAP_STEP) -> float:
    """The notebook's step h; quick variants coarsen it so that the grid has at most
    QUICK_MAX_SIDE points along its longer side."""
    x0, x1, y0, y1 = box
    return max(h, max(x1 - x0, y1 - y0) / QUICK_MAX_SIDE) if quick else h


def bounding_box(x: np.ndarray, margin: float = 1.0) -> tuple[float, float, float, float]:
    """The data's bounding box grown by `margin` on every side (compare_pred's +-1)."""
    return (float(x[:, 0].min() - margin), float(x[:, 0].max() + margin),
            float(x[:, 1].min() - margin), float(x[:, 1].max() + margin))


def decision_map(config: dict, state: bytes, points, quick: bool) -> dict:
    """The trained model on the grid over `points`' box (+-1): with two classes its
    probability of class 1 (`p`, float32, `decision_grid.probability_map`), else its
    predicted labels (`z`, uint8, `decision_grid.class_map`); both through the fast path."""
    from suite.tasks import supervised

    x = points.x.numpy()
    if x.shape[1] != 2:
        raise FigureUnavailable(f"the inputs have {x.shape[1]} features; a map needs 2")
    n_classes = max(2, int(points.y.max()) + 1)
    model = supervised.load_model(config, state, 2, n_classes)
    box = bounding_box(x)
    h = map_step(box, quick)
    out = {"box": box, "h": h, "n_classes": n_classes}
    if n_classes == 2:
        return out | {"p": decision_grid.probability_map(model, config["loss"], box[:2],
                                                         box[2:], h)}
    return out | {"z": decision_grid.class_map(model, config["loss"], box[:2], box[2:], h)}


# -- drawing: thin ---------------------------------------------------------------------
COLORS = matplotlib.colormaps["tab10"].colors


def _panels(n: int, width: float = 3.2, height: float = 2.8, max_cols: int = 4):
    cols = min(n, max_cols)
    rows = -(-n // cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _scatter(ax, x, y, size=2):
    for c in np.unique(y):
        ax.scatter(x[y == c, 0], x[y == c, 1], s=size, color=COLORS[int(c) % 10],
                   label=f"class {int(c)}", rasterized=True)


@register("data")
def draw_data(ctx: FigureContext) -> Figure:
    from suite.tasks import supervised

    first = min(ctx.trials, key=lambda r: (r["seed_index"], r["plan_index"]))
    needs_supervised_data(first["config"])
    train = supervised.make_splits(first["config"], _seeds(first))[0]
    fig = Figure(figsize=(4.2, 4.0), layout="constrained")
    ax = fig.subplots()
    _scatter(ax, train.x.numpy(), train.y.numpy())
    ax.set_title(f"{first['config']['dataset']}: training split, seed index "
                 f"{first['seed_index']} (n={len(train.y)})", fontsize=9)
    ax.legend(fontsize=7, markerscale=4)
    ax.set_aspect("equal", adjustable="datalim")
    return fig


@register("metric_vs_axis")
def draw_metric_vs_axis(ctx: FigureContext) -> Figure:
    axes = [a.name for a in ctx.study.axes]
    frame = analysis.trials_frame(ctx.trials, ctx.study.metrics)
    pairs = [(m, a) for m in ctx.study.metrics for a in axes]
    fig, panels = _panels(len(pairs), max_cols=min(3, len(pairs)))
    for ax, (metric, axis) in zip(panels, pairs, strict=True):
        series = metric_series(frame, axes, axis, metric, ctx.study.task.bounds.get(metric))
        for i, s in enumerate(series):
            _draw_series(ax, s, i, len(series))
        ax.set_xticks(range(len(series[0]["points"])))
        ax.set_xlim(-0.5, len(series[0]["points"]) - 0.5)
        ax.set_xticklabels([p["label"] for p in series[0]["points"]], rotation=30,
                           ha="right", fontsize=7)
        ax.set_xlabel(axis, fontsize=8)
        ax.set_ylabel(metric, fontsize=8)
        if len(series) > 1:
            ax.legend(fontsize=6)
    fig.suptitle("mean and 95% interval over seeds (t; logit t for bounded metrics); dots "
                 "are single seeds", fontsize=9)
    return fig


def _draw_series(ax, s: dict, i: int, n: int):
    offset = (i - (n - 1) / 2) * 0.08
    color = COLORS[i % 10]
    for j, p in enumerate(s["points"]):
        ax.scatter([j + offset] * len(p["values"]), p["values"], s=8, color=color, alpha=0.4)
    xs = np.arange(len(s["points"])) + offset
    means = np.array([p["mean"] for p in s["points"]])
    lo = np.array([p["ci_low"] for p in s["points"]])
    hi = np.array([p["ci_high"] for p in s["points"]])
    yerr = np.nan_to_num(np.vstack((means - lo, hi - means)))
    ax.errorbar(xs, means, yerr=yerr, color=color, marker="o", ms=4, capsize=3, lw=1,
                label=s["group"] or None)


@register("loss_curves")
def draw_loss_curves(ctx: FigureContext) -> Figure:
    groups = by_config(ctx.trials)
    curves = {k: [ctx.store.curves(r["trial_id"]) for r in rows] for k, rows in groups.items()}
    names = [n for n in ("train_loss", "val_loss") if any(n in c for cs in curves.values()
                                                            for c in cs)]
    if not names:
        raise FigureUnavailable("the trials recorded no train_loss or val_loss curves")
    fig, panels = _panels(len(names), width=5.0, height=3.6)
    for ax, name in zip(panels, names, strict=True):
        for i, (key, cs) in enumerate(curves.items()):
            band = curve_band([c.get(name, []) for c in cs])
            ax.plot(band["epoch"], band["mean"], color=COLORS[i % 10], lw=1.2, label=key)
            ax.fill_between(band["epoch"], band["min"], band["max"], color=COLORS[i % 10],
                            alpha=0.2, lw=0)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel(name, fontsize=8)
        ax.set_title(f"{name}: mean over seeds, band = min..max", fontsize=9)
        ax.legend(fontsize=6)
    return fig


@register("decision_boundary")
def draw_decision_boundary(ctx: FigureContext) -> Figure:
    """compare_pred's last panel (seed 001), per configuration's median seed: the model's
    probability of class 1 as filled contours (Spectral, alpha 0.5) on the h = 0.01 grid
    over the validation data's box +-1, the validation points on top (red + for class 1,
    blue + for class 0). Models of more than two classes get their class regions."""
    from suite.tasks import supervised

    metric = ctx.study.metrics[0]
    picks = [representative(rows, metric) for rows in by_config(ctx.trials).values()]
    needs_supervised_data(picks[0]["config"])
    fig, panels = _panels(len(picks))
    for ax, row in zip(panels, picks, strict=True):
        state = ctx.store.blob(row["trial_id"], "state_dict")
        if state is None:
            raise FigureUnavailable("the trials stored no final weights (state_dict)")
        val = supervised.make_splits(row["config"], _seeds(row))[1]
        m = decision_map(row["config"], state, val, ctx.study.quick)
        x, y = val.x.numpy(), val.y.numpy()
        if "p" in m:
            xs, ys = decision_grid.grid_axes(m["box"][:2], m["box"][2:], m["h"])
            ax.contourf(xs, ys, m["p"], cmap="Spectral", alpha=0.5)
            ax.plot(x[y == 1, 0], x[y == 1, 1], "r+", ms=2, mew=0.5)
            ax.plot(x[y == 0, 0], x[y == 0, 1], "b+", ms=2, mew=0.5)
        else:
            cmap = ListedColormap([COLORS[c % 10] for c in range(m["n_classes"])])
            ax.imshow(m["z"], origin="lower", extent=m["box"], cmap=cmap, alpha=0.3, vmin=0,
                      vmax=m["n_classes"] - 1, interpolation="nearest", aspect="auto")
            _scatter(ax, x, y, size=1)
        value = row["metrics"].get(metric)
        shown = "undefined" if value is None else f"{value:.3f}"
        width = row["metrics"].get("boundary_width")
        band = "" if width is None else f", band {width:.3f}"
        ax.set_title(f"{config_key(row)}\nseed {row['seed_index']}, {metric} {shown}{band}, "
                     f"h={m['h']:.3g}", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle("decision boundary of the median seed on the validation split (probability "
                 "of class 1; band = share of the box where it is within 0.1..0.9)", fontsize=9)
    return fig


SCENARIO_SEED = 2  # seed 002's curves: one fixed draw of their noise


def scenario_data(seed: int = SCENARIO_SEED) -> dict[str, dict]:
    """Seed 002's four simulated scenarios ({label: curves}: the notebook's formulas, as
    `suite.tasks.curve_scenarios.simulate` draws them, 100 epochs) from one seeded
    generator, and the label the suite's rules give each."""
    from suite.analysis import diagnosis
    from suite.tasks import curve_scenarios

    rng = np.random.default_rng(np.random.SeedSequence(seed))
    out = {}
    for label in diagnosis.SCENARIOS:
        curves = {k: v.tolist() for k, v in curve_scenarios.simulate(label, 100, rng).items()}
        out[label] = {"curves": curves, "diagnosed": diagnosis.diagnose(curves).label}
    return out


def draw_scenarios(seed: int = SCENARIO_SEED) -> Figure:
    """The notebook's 2 x 2 figure of simulated training curves, one panel per scenario,
    each titled with the label the suite's rules give it."""
    from suite.analysis import diagnosis

    data = scenario_data(seed)
    fig, panels = _panels(4, width=4.2, height=2.8, max_cols=2)
    for ax, (label, d) in zip(panels, data.items(), strict=True):
        for name, values in d["curves"].items():
            ax.plot(np.arange(1, len(values) + 1), values, lw=1, label=name)
        ax.set_title(f"{diagnosis.SCENARIOS[label][0]} (rules say: {d['diagnosed']})",
                     fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle("seed 002's simulated curves: the four scenarios the labels name", fontsize=9)
    return fig


def _seeds(row: dict) -> TrialSeeds:
    return TrialSeeds(**row["seeds"])
