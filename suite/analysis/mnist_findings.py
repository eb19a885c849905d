"""Figure data and findings text for the MNIST studies, computed from store rows.

Every function here is pure: it takes trial rows as `Store.trials(study, variant)` returns
them (dicts with labels, config, seed_index, status, metrics, artifacts) and returns
numbers or text. The figures in `suite.figures.mnist` draw what these compute, and the
report calls the findings functions:

    architectures_findings(rows, metric="test_accuracy", level=0.95) -> str
    search_findings(rows, level=0.95) -> str
"""

import statistics
from collections import defaultdict

from suite.analysis import tables

UNIT = (0.0, 1.0)  # accuracies' bounds: their intervals stay inside (tasks.base.unit_bounds)


# -- numbers ------------------------------------------------------------------------------
def label_of(row: dict) -> str:
    return ", ".join(str(v) for v in row["labels"].values())


def by_label(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped by configuration label, in plan order."""
    out: dict[str, list[dict]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r["plan_index"]):
        out[label_of(r)].append(r)
    return dict(out)


def mean_interval(values: list[float], level: float = 0.95,
                  bounds: tuple[float, float] | None = None) -> tuple[float, float | None,
                                                                     float | None]:
    """Mean and the two-sided interval of the statistics tables for it
    (`tables.interval`: the t interval, on the logit scale when the values have
    `bounds`, as accuracies (0, 1) and their differences (-1, 1) do); no interval from
    fewer than 2 values."""
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, None, None
    lo, hi, _ = tables.interval(values, bounds, level)
    return m, lo, hi


def metric_by_seed(rows: list[dict], metric: str) -> dict[int, float]:
    """A metric per seed index, diverged trials left out (stalled ones count)."""
    return {r["seed_index"]: r["metrics"][metric] for r in rows
            if r["status"] != "diverged" and r["metrics"].get(metric) is not None}


def paired_differences(a: list[dict], b: list[dict], metric: str) -> list[float]:
    """a - b for every seed index where both have the metric (same data, same test set)."""
    va, vb = metric_by_seed(a, metric), metric_by_seed(b, metric)
    return [va[s] - vb[s] for s in sorted(va.keys() & vb.keys())]


# -- figure data ----------------------------------------------------------------------------
def confusion_data(rows: list[dict]) -> dict[str, dict]:
    """Per configuration: the confusion counts summed over its trials (rows: true digit,
    columns: predicted), the same normalised by row (each row sums to 1; an empty row stays
    0), and how many trials were summed."""
    out = {}
    for label, group in by_label(rows).items():
        mats = [r["artifacts"]["confusion_matrix"] for r in group
                if "confusion_matrix" in r.get("artifacts", {})]
        if not mats:
            continue
        counts = [[sum(m[i][j] for m in mats) for j in range(len(mats[0]))]
                  for i in range(len(mats[0]))]
        normalised = [[c / sum(row) if sum(row) else 0.0 for c in row] for row in counts]
        out[label] = {"counts": counts, "normalised": normalised, "n_trials": len(mats)}
    return out


def search_history_data(rows: list[dict]) -> list[dict]:
    """One entry per search (a trial of mnist-search): the Optuna trial numbers that count
    (interrupted ones left out), their objective (None where diverged), the best so far,
    and the number of the chosen configuration."""
    out = []
    for r in sorted(rows, key=lambda r: (r["plan_index"], r["seed_index"])):
        records = [t for t in r["artifacts"].get("search", []) if not t["interrupted"]]
        best, running = [], None
        for t in records:
            v = t["value"]
            running = v if running is None or (v is not None and v > running) else running
            best.append(running)
        out.append({"label": label_of(r), "seed": r["seed_index"],
                    "number": [t["number"] for t in records],
                    "value": [t["value"] for t in records], "best": best,
                    "chosen": r["artifacts"].get("best", {}).get("number")})
    return out


# -- findings text --------------------------------------------------------------------------
def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def _plural(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


def _interval_text(low, high, level: float, unit: str = "%") -> str:
    """'(95% interval a to b%)', or why there is none."""
    if low is None:
        return "(one value, so no interval)"
    return f"({round(100 * level)}% interval {100 * low:.2f} to {100 * high:.2f}{unit})"


def architecture_name(row: dict) -> str:
    hidden = row["config"].get("hidden")
    if hidden is None:
        return label_of(row)
    hidden = [hidden] if isinstance(hidden, int) else hidden
    if row["config"].get("architecture") == "cnn":
        conv = " -> ".join(f"Conv2D {f} -> MaxPooling" for f in row["config"]["conv_filters"])
        return "the " + " -> ".join((conv, *map(str, hidden), "10")) + " CNN"
    return "the " + " -> ".join(str(w) for w in (784, *hidden, 10)) + " MLP"


def split_sentence(rows: list[dict]) -> str:
    """What data the trials used, from their `split` artifacts."""
    modes = {r["artifacts"]["split"]["mode"] for r in rows if "split" in r.get("artifacts", {})}
    if not modes:
        return "The trials do not record their data split."
    if len(modes) > 1:
        return (f"The trials mix data splits ({', '.join(sorted(modes))}): compare them with "
                "care.")
    info = next(r["artifacts"]["split"] for r in rows if "split" in r.get("artifacts", {}))
    n = info["sizes"]
    parts = f"{n['train']:,} training, {n['val']:,} validation and {n['test']:,} test digits"
    if info["mode"] == "offline":
        return (f"The data was the offline split of the official MNIST test set ({parts}, "
                "drawn anew for each seed, the same for every configuration of a seed), not the "
                "standard 60,000/10,000 split, so the accuracies are not comparable with "
                "published MNIST results.")
    return f"The data was the standard MNIST split ({parts})."


def architectures_findings(rows: list[dict], metric: str = "test_accuracy",
                           level: float = 0.95) -> str:
    """Which configuration won on `metric`, by how much (paired over seeds) and with its
    interval, as a paragraph. Rows are the trials of one study variant."""
    groups = {label: g for label, g in by_label(rows).items() if metric_by_seed(g, metric)}
    if not groups:
        return f"No trial has a {metric.replace('_', ' ')}, so there is nothing to compare."
    ranked = sorted(groups, key=lambda k: -statistics.fmean(metric_by_seed(groups[k], metric)
                                                             .values()))
    name = metric.replace("_", " ")
    sentences = []
    for i, label in enumerate(ranked[:2]):
        values = list(metric_by_seed(groups[label], metric).values())
        m, lo, hi = mean_interval(values, level, UNIT)
        who = architecture_name(groups[label][0])
        lead = (f"{who[0].upper()}{who[1:]} reached the highest mean {name}" if i == 0
                else f"{who[0].upper()}{who[1:]} came next")
        sentences.append(f"{lead}: {_pct(m)} over {_plural(len(values), 'seed')} "
                         f"{_interval_text(lo, hi, level)}.")
    if len(ranked) > 1:
        sentences.append(_difference_sentence(groups[ranked[0]], groups[ranked[1]], metric,
                                              level))
    if len(ranked) > 2:
        rest = ", ".join(f"{architecture_name(groups[k][0])} "
                         f"{_pct(statistics.fmean(metric_by_seed(groups[k], metric).values()))}"
                         for k in ranked[2:])
        sentences.append(f"The others: {rest}.")
    sentences += [_diverged_sentence(rows), split_sentence(rows)]
    return " ".join(s for s in sentences if s)


def _difference_sentence(win: list[dict], other: list[dict], metric: str, level: float) -> str:
    diffs = paired_differences(win, other, metric)
    if not diffs:
        return "No seed has both configurations, so their difference cannot be paired."
    m, lo, hi = mean_interval(diffs, level, (-1.0, 1.0))
    text = (f"The winner led by {100 * m:.2f} percentage points on average, paired over "
            f"{_plural(len(diffs), 'seed')} that share data and test digits "
            f"{_interval_text(lo, hi, level, ' points')}.")
    if lo is not None and lo <= 0 <= hi:
        text += " The interval includes zero: these seeds do not separate the two."
    return text


def _diverged_sentence(rows: list[dict]) -> str:
    n = sum(r["status"] == "diverged" for r in rows)
    return f"{_plural(n, 'trial')} diverged and are left out of the means." if n else ""


SCORE_WORDS = {"last_epoch": "last-epoch", "best_epoch": "best-epoch (Keras Tuner's)"}


def search_findings(rows: list[dict], level: float = 0.95) -> str:
    """What the searches chose and how the retrained choice tested, as a paragraph."""
    done = [r for r in rows if r["status"] != "diverged" and "best" in r.get("artifacts", {})]
    if not done:
        return "No search finished with a configuration to retrain."
    c = done[0]["config"]
    random_only = c.get("sampler") == "random" or c.get("n_startup_trials", 0) >= c["n_trials"]
    how = (f"The study ran {_plural(len(done), 'independent search', 'independent searches')} of "
           f"{_plural(c['n_trials'], 'Optuna trial')}, each scored by the mean "
           f"{SCORE_WORDS[c.get('score', 'last_epoch')]} validation accuracy of "
           f"{_plural(c['executions'], 'training')} of {_plural(c['epochs'], 'epoch')}")
    if random_only:
        how += (" (every suggestion was random: Optuna's TPE samples at random for its first "
                f"{c.get('n_startup_trials')} trials, so this was a seeded random search)")
    chosen = "; ".join(_choice_text(r) for r in sorted(done, key=lambda r: r["seed_index"]))
    they = "It" if len(done) == 1 else "They"
    tests = [r["metrics"]["test_accuracy"] for r in done
             if r["metrics"].get("test_accuracy") is not None]
    m, lo, hi = mean_interval(tests, level, UNIT)
    return " ".join(s for s in (
        f"{how}.", f"{they} chose: {chosen}.",
        f"Retrained on the whole development set, the chosen configuration(s) reached a mean "
        f"test accuracy of {_pct(m)} {_interval_text(lo, hi, level)}.",
        _diverged_sentence(rows), split_sentence(rows)) if s)


def _choice_text(row: dict) -> str:
    best = row["artifacts"]["best"]
    widths = " -> ".join(str(w) for w in best["hidden"])
    return (f"hidden {widths}, lr {best['lr']:g} (validation {_pct(best['val_accuracy'])}, "
            f"test {_pct(row['metrics']['test_accuracy'])})"
            if row["metrics"].get("test_accuracy") is not None
            else f"hidden {widths}, lr {best['lr']:g}")
