"""The MNIST figures: confusion matrices and search histories (data from
`suite.analysis.mnist_findings`, drawing only here)."""

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from suite.analysis import mnist_findings
from suite.figures.registry import FigureContext, register


@register("confusion_matrix")
def confusion_matrix(ctx: FigureContext) -> Figure:
    """One panel per configuration: test-set confusion summed over seeds, shaded by the
    share of each true digit, annotated with counts."""
    data = mnist_findings.confusion_data(ctx.trials)
    fig = Figure(figsize=(4.2 * max(len(data), 1), 4.2), layout="constrained")
    for ax, (label, d) in zip(fig.subplots(1, max(len(data), 1), squeeze=False)[0],
                              data.items(), strict=False):
        ax.imshow(d["normalised"], cmap="Blues", vmin=0, vmax=1)
        for i, row in enumerate(d["counts"]):
            for j, c in enumerate(row):
                if c:
                    ax.text(j, i, str(c), ha="center", va="center", fontsize=6,
                            color="white" if d["normalised"][i][j] > 0.5 else "black")
        ax.set(title=f"{label} ({d['n_trials']} trials)", xlabel="predicted digit",
               ylabel="true digit", xticks=range(10), yticks=range(10))
    return fig


@register("search_history")
def search_history(ctx: FigureContext) -> Figure:
    """Validation accuracy of each configuration tried, in order, and the best so far;
    one line per search, the chosen configuration circled."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for s in mnist_findings.search_history_data(ctx.trials):
        points = [(n, v) for n, v in zip(s["number"], s["value"], strict=True) if v is not None]
        line = ax.step(s["number"], s["best"], where="post",
                       label=f"{s['label']}, seed {s['seed']}")[0]
        ax.scatter(*zip(*points, strict=True), color=line.get_color(), s=14)
        ax.scatter([n for n, _ in points if n == s["chosen"]],
                   [v for n, v in points if n == s["chosen"]], s=90, facecolors="none",
                   edgecolors=line.get_color())
    ax.set(xlabel="Optuna trial", ylabel="mean validation accuracy", title="Search history")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7)
    return fig
