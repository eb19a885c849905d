"""Figures of the catalogue's optimiser-path, imbalance and capacity studies.

Each figure's data comes from a pure function of the stored trials (tested); the drawing
functions only lay it out. Registered in `suite.figures.FIGURES`:

- `optimizer_paths`: the surface's contours and every configuration's path;
- `descent_1d`: loss and each weight against the step, one line per configuration (the
  book's "Loss vs. Iteration" and "Weight vs. Iteration" panels, seed 004);
- `curve_scenarios`: one panel per simulated scenario (seed 002, section 3): the lowest
  seed's loss and accuracy curves, titled with the diagnosis given over all seeds;
- `learning_curve`: train and validation accuracy against the number of training points
  (mean and 95% t interval over seeds), one panel per setting of the other axes (seed
  004's `learning_curve` plot, with seeds instead of cross-validation folds);
- `isolation`: the tuning playbook's isolation plot for a study with searched nuisance axes
  (`[nuisance] search`): per scientific setting, each seed's best validation metric over
  the nuisance values (mean and 95% t interval over seeds, and which values won), beside
  the metric against the nuisance values for each setting;
- `confusion_matrix`: the test confusion matrix summed over seeds, one panel per setting;
- `roc_pr_curves`: ROC and precision-recall curves of one representative seed (the lowest
  seed index) per setting with the fixed threshold (moving the threshold leaves both
  curves unchanged: they depend on the scores only);
- `metric_vs_minority`: mean and standard deviation over seeds of the threshold metrics
  against the minority share;
- `gap_per_setting`: train and test accuracy and their gap per setting (mean and
  standard deviation over seeds).
"""

from collections import defaultdict

import numpy as np
from matplotlib.figure import Figure

from suite import analysis
from suite.figures.registry import FigureContext, FigureUnavailable, register
from suite.tasks import optimizer_paths
from suite.training import binary_metrics

# -- pure data ----------------------------------------------------------------------------


def setting(labels: dict, drop: str | None = None) -> str:
    """A configuration's name from its axis labels (leaving out the axis `drop`)."""
    return ", ".join(f"{v}" for k, v in labels.items() if k != drop) or "all"


def representatives(trials: list[dict]) -> list[dict]:
    """One trial per configuration: the lowest seed index, in plan order."""
    best: dict[str, dict] = {}
    for t in trials:
        cur = best.get(t["config_hash"])
        if cur is None or t["seed_index"] < cur["seed_index"]:
            best[t["config_hash"]] = t
    return sorted(best.values(), key=lambda t: t["plan_index"])


def surface_grid(name: str, n: int = 100):
    """(W1, W2, Z) on an n x n grid over the surface's plotting box."""
    s = optimizer_paths.SURFACES[name]
    w1, w2 = np.meshgrid(np.linspace(*s.box[0], n), np.linspace(*s.box[1], n))
    return w1, w2, s.f(w1, w2)


def paths(trials: list[dict], curves_of) -> list[tuple[str, np.ndarray]]:
    """(setting, path of shape (steps + 1, 2)) per configuration; `curves_of(trial_id)`
    gives a trial's stored curves."""
    out = []
    for t in representatives(trials):
        c = curves_of(t["trial_id"])
        out.append((setting(t["labels"]), np.column_stack([_floats(c["w1"]),
                                                           _floats(c["w2"])])))
    return out


def traces(trials: list[dict], curves_of) -> list[dict]:
    """Per configuration (plan order): its setting, the loss and each weight against the
    step (step 0 is the start)."""
    out = []
    for t in representatives(trials):
        c = curves_of(t["trial_id"])
        weights = {k: _floats(c[k]) for k in ("w1", "w2") if c.get(k)}
        loss = _floats(c["loss"])
        out.append({"setting": setting(t["labels"]), "step": np.arange(len(loss)),
                    "loss": loss, "weights": weights})
    return out


def scenario_panels(trials: list[dict], curves_of) -> list[dict]:
    """Per configuration (plan order): its setting, the lowest seed's curves and how many
    seeds the diagnosis gave each label (from the trials' artifacts)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t in trials:
        counts[t["config_hash"]][t["artifacts"].get("diagnosis", "unknown")] += 1
    return [{"setting": setting(t["labels"]), "curves": curves_of(t["trial_id"]),
             "diagnosis": dict(counts[t["config_hash"]]),
             "seeds": sum(counts[t["config_hash"]].values())} for t in representatives(trials)]


def _floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def confusion_grid(trials: list[dict], column_axis: str | None):
    """(row names, column names, {(row, column): summed [[tn, fp], [fn, tp]]}): rows are
    the settings apart from `column_axis`, columns its values (both in plan order)."""
    rows, cols, cells = [], [], defaultdict(lambda: np.zeros((2, 2), dtype=np.int64))
    for t in sorted(trials, key=lambda t: t["plan_index"]):
        cm = t["artifacts"].get("confusion_matrix")
        if cm is None:
            continue
        r = setting(t["labels"], column_axis)
        c = t["labels"].get(column_axis, "") if column_axis else ""
        rows += [r] if r not in rows else []
        cols += [c] if c not in cols else []
        cells[r, c] += np.asarray(cm, dtype=np.int64)
    return rows, cols, dict(cells)


def roc_pr(trials: list[dict]) -> list[dict]:
    """ROC and PR points of each fixed-threshold setting's representative seed."""
    out = []
    for t in representatives(trials):
        a = t["artifacts"]
        if t["config"].get("threshold_rule") != "fixed" or "test_scores" not in a:
            continue
        y, s = a["test_labels"], a["test_scores"]
        fpr, tpr = binary_metrics.roc_points(y, s)
        _, precision, recall = binary_metrics.pr_points(y, s)
        out.append({"setting": setting(t["labels"]), "fpr": fpr, "tpr": tpr,
                    "recall": recall, "precision": precision,
                    "roc_auc": t["metrics"].get("roc_auc"), "pr_auc": t["metrics"].get("pr_auc"),
                    "share": t["config"].get("minority")})
    return out


def mean_std(values) -> tuple[float, float, int]:
    """Mean and standard deviation (ddof 1; nan for one value) over the defined values."""
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan"), int(v.size)


def metric_vs(trials: list[dict], metric: str, x_param: str, x_axis: str | None):
    """{series: (x values sorted, means, stds, counts)} of `metric` against the config value
    `x_param`; a series is a setting apart from the axis `x_axis`."""
    groups: dict[str, dict[float, list]] = defaultdict(lambda: defaultdict(list))
    for t in sorted(trials, key=lambda t: t["plan_index"]):
        groups[setting(t["labels"], x_axis)][t["config"][x_param]].append(
            t["metrics"].get(metric))
    out = {}
    for name, by_x in groups.items():
        xs = sorted(by_x)
        stats = np.array([mean_std(by_x[x]) for x in xs]).reshape(-1, 3)
        out[name] = (np.array(xs, dtype=np.float64), stats[:, 0], stats[:, 1],
                     stats[:, 2].astype(int))
    return out


def gap_rows(trials: list[dict]) -> list[dict]:
    """Per setting in plan order: mean and std over seeds of train and test accuracy and
    of their gap (train - test), and the number of seeds where it is defined."""
    by: dict[str, list[dict]] = defaultdict(list)
    for t in sorted(trials, key=lambda t: t["plan_index"]):
        by[setting(t["labels"])].append(t["metrics"])
    rows = []
    for name, ms in by.items():
        row = {"setting": name}
        for m in ("train_accuracy", "test_accuracy", "gap"):
            row[f"{m}_mean"], row[f"{m}_std"], n = mean_std(x.get(m) for x in ms)
        rows.append(row | {"n": n})
    return rows


LEARNING_METRICS = ("train_accuracy", "val_accuracy")


def learning_curves(trials: list[dict], x_axis: str | None, x_param: str = "n_train",
                    metrics=LEARNING_METRICS) -> dict[str, dict]:
    """{setting apart from `x_axis`: {"x": sizes sorted, metric: {"mean", "ci_low",
    "ci_high", "n"} arrays}}; undefined values (a diverged seed) are left out."""
    groups: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for t in sorted(trials, key=lambda t: t["plan_index"]):
        groups[setting(t["labels"], x_axis)][t["config"][x_param]].append(t["metrics"])
    out = {}
    for name, by_x in groups.items():
        xs = sorted(by_x)
        series = {"x": np.array(xs, dtype=np.float64)}
        for m in metrics:
            cols = {"mean": [], "ci_low": [], "ci_high": [], "n": []}
            for x in xs:
                values = [r[m] for r in by_x[x] if r.get(m) is not None]
                lo, hi = analysis.t_interval(values)
                cols["mean"].append(np.mean(values) if values else np.nan)
                cols["ci_low"].append(lo)
                cols["ci_high"].append(hi)
                cols["n"].append(len(values))
            series[m] = {k: np.array(v, dtype=np.float64) for k, v in cols.items()}
        out[name] = series
    return out


def isolation_metric(study) -> str:
    """The metric the isolation plot optimises: the study's first validation metric, else
    its first metric."""
    return next((m for m in study.metrics if m.startswith("val_")), study.metrics[0])


def _split_labels(labels: dict, searched) -> tuple[str, str]:
    sci = ", ".join(v for k, v in labels.items() if k not in searched) or "all"
    nuisance = ", ".join(f"{k}={v}" for k, v in labels.items() if k in searched)
    return sci, nuisance


def isolation(trials: list[dict], searched, metric: str) -> list[dict]:
    """Per scientific setting (plan order): for each seed index, the best `metric` over the
    searched nuisance values (highest, or lowest for losses and errors; the first in plan
    order on ties) and the nuisance values that gave it; then their mean and t interval
    over seeds. A seed whose every value is undefined (diverged) is left out."""
    better = max if analysis.higher_is_better(metric) else min
    by: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for t in sorted(trials, key=lambda t: t["plan_index"]):
        sci, nuisance = _split_labels(t["labels"], searched)
        value = t["metrics"].get(metric)
        if value is not None:
            by[sci][t["seed_index"]].append((value, nuisance))
    out = []
    for sci, seeds in by.items():
        bests = [better(candidates, key=lambda c: c[0]) for _, candidates in
                 sorted(seeds.items())]
        values = [b[0] for b in bests]
        lo, hi = analysis.t_interval(values)
        chosen: dict[str, int] = defaultdict(int)
        for b in bests:
            chosen[b[1]] += 1
        out.append({"setting": sci, "values": values, "mean": float(np.mean(values)),
                    "ci_low": lo, "ci_high": hi, "chosen": dict(chosen)})
    return out


def nuisance_sweep(trials: list[dict], searched, metric: str) -> dict[str, list[dict]]:
    """{scientific setting: [{nuisance, mean, ci_low, ci_high, n}] in plan order}: the
    metric against the searched values, over seeds."""
    by: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for t in sorted(trials, key=lambda t: t["plan_index"]):
        sci, nuisance = _split_labels(t["labels"], searched)
        value = t["metrics"].get(metric)
        by[sci][nuisance] += [value] if value is not None else []
    out = {}
    for sci, points in by.items():
        rows = []
        for nuisance, values in points.items():
            lo, hi = analysis.t_interval(values)
            rows.append({"nuisance": nuisance, "mean": float(np.mean(values)) if values
                         else np.nan, "ci_low": lo, "ci_high": hi, "n": len(values)})
        out[sci] = rows
    return out


def axis_setting(study, param: str) -> str | None:
    """The name of the study axis that sets `param`, if any."""
    for axis in study.axes:
        if any(param in v.settings for v in axis.values):
            return axis.name
    return None


# -- drawing ------------------------------------------------------------------------------


@register("optimizer_paths")
def draw_paths(ctx: FigureContext) -> Figure:
    surface = ctx.trials[0]["config"]["surface"]
    if optimizer_paths.SURFACES[surface].dim != 2:
        raise FigureUnavailable(f"the '{surface}' surface has one weight: see descent_1d")
    fig = Figure(figsize=(9, 6))
    ax = fig.subplots()
    w1, w2, z = surface_grid(surface)
    levels = np.logspace(-1, 3, 10) if surface == "bowl" else 20
    ax.contour(w1, w2, z, levels=levels, cmap="viridis", linewidths=0.8)
    for name, p in paths(ctx.trials, ctx.store.curves):
        ax.plot(p[:, 0], p[:, 1], "o-", markersize=2.5, alpha=0.8, label=name)
    start = ctx.trials[0]["artifacts"].get("start", optimizer_paths.SURFACES[surface].start)
    ax.plot(*start, "ko", label="start")
    ax.plot(0, 0, "rx", markersize=10, label="minimum" if surface == "bowl" else "saddle")
    box = optimizer_paths.SURFACES[surface].box
    ax.set(xlim=box[0], ylim=box[1], xlabel="w1", ylabel="w2",
           title=f"{ctx.study.name}: optimiser paths on the {surface}")
    ax.legend(fontsize=8)
    return fig


@register("descent_1d")
def draw_descent_1d(ctx: FigureContext) -> Figure:
    data = traces(ctx.trials, ctx.store.curves)
    names = ["loss"] + sorted({k for d in data for k in d["weights"]})
    fig = Figure(figsize=(5 * len(names), 4.2))
    axes = fig.subplots(1, len(names))
    for d in data:
        axes[0].plot(d["step"], d["loss"], "o-", ms=2.5, lw=1, label=d["setting"])
        for ax, k in zip(axes[1:], names[1:], strict=True):
            ax.plot(d["step"], d["weights"][k], "o-", ms=2.5, lw=1, label=d["setting"])
    for ax, k in zip(axes, names, strict=True):
        ax.set(xlabel="step", ylabel=k, title=f"{k} vs. step")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    surface = ctx.trials[0]["config"]["surface"]
    fig.suptitle(f"{ctx.study.name}: descent on the {surface} surface (step 0 = start)")
    fig.tight_layout()
    return fig


@register("curve_scenarios")
def draw_curve_scenarios(ctx: FigureContext) -> Figure:
    panels = scenario_panels(ctx.trials, ctx.store.curves)
    cols = 2 if len(panels) > 1 else 1
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(7 * cols, 4 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, p in zip(axes, panels, strict=False):
        for name in ("train_loss", "train_accuracy", "val_accuracy"):
            if p["curves"].get(name):
                y = _floats(p["curves"][name])
                ax.plot(np.arange(1, len(y) + 1), y, lw=1, label=name)
        said = ", ".join(f"{k} {n}/{p['seeds']}" for k, n in sorted(p["diagnosis"].items()))
        ax.set(xlabel="epoch", ylabel="value", title=f"{p['setting']}: diagnosed {said}")
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    for ax in axes[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"{ctx.study.name}: the lowest seed's curves per scenario")
    fig.tight_layout()
    return fig


@register("learning_curve")
def draw_learning_curve(ctx: FigureContext) -> Figure:
    x_axis = axis_setting(ctx.study, "n_train")
    if x_axis is None:
        raise FigureUnavailable("no scientific axis varies n_train")
    data = learning_curves(ctx.trials, x_axis)
    fig = Figure(figsize=(6.5 * len(data), 4.5))
    axes = np.atleast_1d(fig.subplots(1, len(data), squeeze=False)).ravel()
    for ax, (name, d) in zip(axes, data.items(), strict=True):
        for k, (m, label) in enumerate((("train_accuracy", "training score"),
                                        ("val_accuracy", "validation score"))):
            s = d[m]
            ax.plot(d["x"], s["mean"], "o-", color=("r", "g")[k], label=label)
            ax.fill_between(d["x"], s["ci_low"], s["ci_high"], color=("r", "g")[k],
                            alpha=0.2, lw=0)
        ax.set(xlabel="training examples", ylabel="accuracy", title=name)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(f"{ctx.study.name}: learning curve (mean and 95% t interval over seeds)")
    fig.tight_layout()
    return fig


@register("isolation")
def draw_isolation(ctx: FigureContext) -> Figure:
    searched = ctx.study.searched_axes()
    if not searched:
        raise FigureUnavailable("the study declares no searched nuisance axis "
                                "([nuisance] search)")
    metric = isolation_metric(ctx.study)
    best = isolation(ctx.trials, searched, metric)
    sweep = nuisance_sweep(ctx.trials, searched, metric)
    fig = Figure(figsize=(13, 5))
    iso, sw = fig.subplots(1, 2)
    x = np.arange(len(best))
    for i, b in enumerate(best):
        iso.scatter([i] * len(b["values"]), b["values"], s=10, color="C0", alpha=0.4)
        won = "\n".join(f"{k} x{n}" for k, n in sorted(b["chosen"].items()))
        iso.annotate(won, (i, b["mean"]), textcoords="offset points", xytext=(8, -4),
                     fontsize=6)
    means = np.array([b["mean"] for b in best])
    err = np.nan_to_num(np.vstack((means - [b["ci_low"] for b in best],
                                   [b["ci_high"] for b in best] - means)))
    iso.errorbar(x, means, yerr=err, fmt="o", capsize=4, color="C0")
    iso.set_xticks(x, [b["setting"] for b in best], rotation=20, fontsize=8)
    iso.set(ylabel=f"best {metric} over {', '.join(searched)}",
            title="isolation plot: each seed's best, mean and 95% t interval")
    for k, (sci, rows) in enumerate(sweep.items()):
        xs = np.arange(len(rows))
        m = np.array([r["mean"] for r in rows])
        lo = np.array([r["ci_low"] for r in rows])
        hi = np.array([r["ci_high"] for r in rows])
        sw.errorbar(xs + 0.05 * k, m, yerr=np.nan_to_num(np.vstack((m - lo, hi - m))),
                    marker="o", ms=3, capsize=2, lw=1, label=sci)
        sw.set_xticks(xs, [r["nuisance"] for r in rows], rotation=20, fontsize=7)
    sw.set(ylabel=metric, title="the nuisance search: mean and 95% t interval")
    sw.legend(fontsize=7)
    fig.suptitle(f"{ctx.study.name}: {metric} after searching {', '.join(searched)} per "
                 "scientific value")
    fig.tight_layout()
    return fig


@register("confusion_matrix")
def draw_confusion(ctx: FigureContext) -> Figure:
    col_axis = axis_setting(ctx.study, "minority")
    rows, cols, cells = confusion_grid(ctx.trials, col_axis)
    fig = Figure(figsize=(2.2 * len(cols) + 1, 2.0 * len(rows) + 1))
    axes = np.atleast_2d(fig.subplots(len(rows), len(cols), squeeze=False))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax, cm = axes[i, j], cells.get((r, c))
            if cm is None:
                ax.axis("off")
                continue
            ax.imshow(cm, cmap="Blues")
            for (a, b), v in np.ndenumerate(cm):
                ax.text(b, a, str(v), ha="center", va="center", fontsize=8)
            ax.set_xticks([0, 1], ["pred 0", "pred 1"], fontsize=7)
            ax.set_yticks([0, 1], ["true 0", "true 1"], fontsize=7)
            ax.set_title(f"{c}\n{r}" if c else r, fontsize=7)
    fig.suptitle(f"{ctx.study.name}: test confusion matrices, summed over seeds")
    fig.tight_layout()
    return fig


@register("roc_pr_curves")
def draw_roc_pr(ctx: FigureContext) -> Figure:
    fig = Figure(figsize=(12, 5))
    roc, pr = fig.subplots(1, 2)
    for c in roc_pr(ctx.trials):
        auc = "n/a" if c["roc_auc"] is None else f"{c['roc_auc']:.3f}"
        ap = "n/a" if c["pr_auc"] is None else f"{c['pr_auc']:.3f}"
        roc.plot(c["fpr"], c["tpr"], lw=1, label=f"{c['setting']} (AUC {auc})")
        pr.step(c["recall"], c["precision"], where="post", lw=1,
                label=f"{c['setting']} (AP {ap})")
    roc.plot([0, 1], [0, 1], "k--", lw=0.8)
    roc.set(xlabel="false positive rate", ylabel="true positive rate (recall)", title="ROC")
    pr.set(xlabel="recall", ylabel="precision", title="precision-recall", ylim=(0, 1.05))
    for ax in (roc, pr):
        ax.legend(fontsize=6)
    fig.suptitle(f"{ctx.study.name}: seed 0, fixed threshold")
    return fig


SHARE_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "pr_auc")


@register("metric_vs_minority")
def draw_metric_vs_minority(ctx: FigureContext) -> Figure:
    x_axis = axis_setting(ctx.study, "minority")
    fig = Figure(figsize=(15, 8))
    axes = fig.subplots(2, 3).ravel()
    for ax, metric in zip(axes, SHARE_METRICS, strict=True):
        for name, (x, mean, std, _n) in metric_vs(ctx.trials, metric, "minority",
                                                  x_axis).items():
            ax.errorbar(x, mean, yerr=np.nan_to_num(std), marker="o", ms=3, capsize=2,
                        lw=1, label=name)
        ax.set(xscale="log", xlabel="minority share", title=metric, ylim=(-0.05, 1.05))
    axes[0].legend(fontsize=6)
    fig.suptitle(f"{ctx.study.name}: test metrics against the minority share "
                 "(mean and std over seeds; undefined values left out)")
    fig.tight_layout()
    return fig


@register("gap_per_setting")
def draw_gap(ctx: FigureContext) -> Figure:
    rows = gap_rows(ctx.trials)
    x = np.arange(len(rows))
    fig = Figure(figsize=(max(6, 1.4 * len(rows)), 5))
    acc, gap = fig.subplots(2, 1, sharex=True)
    for k, (m, off) in enumerate((("train_accuracy", -0.2), ("test_accuracy", 0.2))):
        acc.bar(x + off, [r[f"{m}_mean"] for r in rows], 0.4, color=f"C{k}",
                yerr=np.nan_to_num([r[f"{m}_std"] for r in rows]), capsize=3, label=m)
    acc.set(ylabel="accuracy", ylim=(0, 1.05), title=f"{ctx.study.name}: train vs test")
    acc.legend(fontsize=8)
    gap.bar(x, [r["gap_mean"] for r in rows], 0.5, color="C3",
            yerr=np.nan_to_num([r["gap_std"] for r in rows]), capsize=3)
    gap.axhline(0, color="k", lw=0.8)
    gap.set(ylabel="train - test accuracy")
    gap.set_xticks(x, [r["setting"] for r in rows], rotation=20, fontsize=8)
    fig.tight_layout()
    return fig
