"""Figures of the class-area studies: data in pure functions (tested), drawing kept thin.

- class_area_regions: decision regions of the MLP before and after the search (seed 0).
- class_area_masks: class masks of the segmentation net before and after (seed 0).
- class_area_curve: the area along the weight path, with every search evaluation.
- class_area_history: relative error per evaluation, and the best so far, per method.
"""

import io

import numpy as np
import torch

from suite.figures.registry import FigureContext, FigureUnavailable, register
from suite.seeding import TrialSeeds
from suite.tasks.area import Grid, Setting, class_map, grid_setting
from suite.tasks.area_search import COLUMNS
from suite.tasks.weight_path import WeightPath

MAX_SIDE = 300  # the drawn grid's larger side, in points
METHOD_COLOURS = {"tpe": "tab:blue", "brentq": "tab:orange"}


def chosen_value(metrics: dict) -> tuple[str, float] | None:
    """The method and value shown as 'after': TPE's best, else brentq's root."""
    for method in ("tpe", "brentq"):
        if metrics.get(f"{method}_value") is not None:
            return method, float(metrics[f"{method}_value"])
    return None


def drawing_grid(grid: dict, max_side: int = MAX_SIDE) -> Grid:
    """The trial's grid box at a step giving at most `max_side` points a side."""
    stride = max(1, -(-max(grid["nx"], grid["ny"]) // max_side))  # every stride-th point
    return Grid(grid["x0"], grid["y0"], grid["h"] * stride, (grid["nx"] - 1) // stride + 1,
                (grid["ny"] - 1) // stride + 1)


def region_data(model, grid: Grid, scale, value: float, cls: int = 1) -> dict:
    """Class-`cls` maps (ny, nx) of an MLP before (value 0) and after (`value`)."""
    setting = grid_setting(model, grid, cls, 65536)
    path = WeightPath.of(model.out, cls, scale)
    xs, ys = grid.axes()
    return {"x": xs.numpy(), "y": ys.numpy(),
            "before": class_map(setting).reshape(grid.ny, grid.nx).numpy(),
            "after": class_map(setting, path.at(value)).reshape(grid.ny, grid.nx).numpy()}


def mask_data(setting: Setting, scale, value: float, n_images: int = 3) -> dict:
    """Class masks (n, H, W) of the first images before and after `value` (True where the
    argmax is the setting's class)."""
    x = setting.chunk(0)[:n_images]
    first = Setting(setting.model, setting.final_name, setting.cls, 1, lambda i: x,
                    setting.output, setting.tail, setting.tail_terms)
    path = WeightPath.of(first.final, first.cls, scale)
    shape = (x.shape[0], *x.shape[-2:])
    return {"images": x[:, 0].cpu().numpy(),
            "before": class_map(first).reshape(shape).cpu().numpy(),
            "after": class_map(first, path.at(value)).reshape(shape).cpu().numpy()}


def curve_data(artifacts: dict) -> dict:
    """The area along the path and each method's evaluations (value, area)."""
    curve = artifacts.get("curve", {"values": [], "areas": []})
    cols = artifacts.get("columns", list(COLUMNS))
    i_v, i_a = cols.index("value"), cols.index("area")
    points = {m: (np.array([r[i_v] for r in rows]), np.array([r[i_a] for r in rows]))
              for m, rows in artifacts.get("evaluations", {}).items()}
    return {"values": np.asarray(curve["values"]), "areas": np.asarray(curve["areas"]),
            "evaluations": points}


def history_data(artifacts: dict, target: float) -> dict:
    """Per method: (evaluation number from 1, relative error, best relative error so far)."""
    cols = artifacts.get("columns", list(COLUMNS))
    i_e = cols.index("error")
    out = {}
    for method, rows in artifacts.get("evaluations", {}).items():
        rel = np.array([r[i_e] for r in rows]) / target if target else np.array([])
        out[method] = (np.arange(1, rel.size + 1), rel, np.minimum.accumulate(rel))
    return out


# -- drawing ----------------------------------------------------------------------------

def _figure(ncols: int = 1, width: float = 5.0):
    from matplotlib.figure import Figure

    return Figure(figsize=(width * ncols, 4.0), layout="constrained")


def _first_ok(ctx: FigureContext) -> dict:
    rows = [r for r in ctx.trials if r["status"] == "ok" and chosen_value(r["metrics"])]
    if not rows:
        raise ValueError("no finished trial with a search result to draw")
    return min(rows, key=lambda r: r["seed_index"])


def _state(ctx: FigureContext, row) -> dict:
    blob = ctx.store.blob(row["trial_id"], "state_dict")
    if blob is None:
        raise ValueError(f"trial {row['trial_id']} stored no weights")
    return torch.load(io.BytesIO(blob), weights_only=True)


@register("class_area_regions")
def draw_regions(ctx: FigureContext):
    from suite.tasks import class_area

    row = _first_ok(ctx)
    method, value = chosen_value(row["metrics"])
    model = class_area.build(row["config"], torch.Generator().manual_seed(0))
    model.load_state_dict(_state(ctx, row))
    data = region_data(model.eval(), drawing_grid(row["artifacts"]["grid"]),
                       row["artifacts"]["geometry"]["scale"], value)
    points, _ = class_area.data(row["config"], TrialSeeds(**row["seeds"]))
    fig = _figure(2)
    for ax, key, title in zip(fig.subplots(1, 2), ("before", "after"),
                              ("original", f"{method} value {value:.4g}"), strict=True):
        ax.pcolormesh(data["x"], data["y"], data[key], cmap="coolwarm", shading="auto",
                      vmin=0, vmax=1)
        ax.scatter(points.x[:, 0], points.x[:, 1], c=points.y, cmap="coolwarm", s=3,
                   edgecolors="k", linewidths=0.2)
        ax.set_title(f"class 1 area {data[key].mean():.3f}: {title}")
    return fig


@register("class_area_masks")
def draw_masks(ctx: FigureContext):
    from suite.tasks import segmentation_class_area as seg

    row = _first_ok(ctx)
    if row["config"].get("model", "small") != "small":
        raise FigureUnavailable("the masks are redrawn from the small net's stored weights; "
                                f"model '{row['config']['model']}' stores none")
    method, value = chosen_value(row["metrics"])
    config, seeds = row["config"], TrialSeeds(**row["seeds"])
    model = seg.shapes.SegNet(width=config["width"])
    model.load_state_dict(_state(ctx, row))
    _, _, (area_x, _) = seg.images(config, seeds)
    data = mask_data(seg.setting(config, model.eval(), area_x, "cpu"),
                     row["artifacts"]["geometry"]["scale"], value)
    n = data["images"].shape[0]
    fig = _figure(n, 3.0)
    axes = fig.subplots(3, n, squeeze=False)
    for j in range(n):
        for i, key in enumerate(("images", "before", "after")):
            axes[i][j].imshow(data[key][j], cmap="gray" if i == 0 else "viridis",
                              vmin=None if i == 0 else 0, vmax=None if i == 0 else 1)
            axes[i][j].set_axis_off()
        axes[0][j].set_title(f"image {j}")
    fig.suptitle(f"class {row['config']['target_class']} masks: input, original, "
                 f"{method} value {value:.4g}")
    return fig


@register("class_area_curve")
def draw_curve(ctx: FigureContext):
    fig = _figure()
    ax = fig.subplots()
    for row in ctx.trials:
        data = curve_data(row["artifacts"])
        ax.plot(data["values"], data["areas"], color="0.6", lw=1)
        for method, (v, a) in data["evaluations"].items():
            ax.scatter(v, a, s=8, color=METHOD_COLOURS.get(method), label=method)
        if row["metrics"].get("target_area") is not None:
            ax.axhline(row["metrics"]["target_area"], color="k", lw=0.5, ls=":")
    _legend(ax)
    ax.set(xlabel="weight path value", ylabel="class area", title="area along the path")
    return fig


@register("class_area_history")
def draw_history(ctx: FigureContext):
    fig = _figure()
    ax = fig.subplots()
    for row in ctx.trials:
        target = row["metrics"].get("target_area") or 0.0
        for method, (n, rel, best) in history_data(row["artifacts"], target).items():
            ax.plot(n, np.maximum(best, 1e-12), color=METHOD_COLOURS.get(method), label=method)
            ax.scatter(n, np.maximum(rel, 1e-12), s=4, color=METHOD_COLOURS.get(method))
    if ctx.trials:
        ax.axhline(ctx.trials[0]["config"]["tolerance"], color="k", lw=0.5, ls=":")
    _legend(ax)
    ax.set(xlabel="evaluation", ylabel="|area / target - 1|", yscale="log",
           title="search history (line: best so far)")
    return fig


def _legend(ax):
    """One legend entry per label."""
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        ax.legend(list(unique.values()), list(unique))
