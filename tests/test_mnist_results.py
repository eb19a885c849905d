"""Figure data and findings text of the MNIST studies (suite.analysis.mnist_findings), on hand-made
store rows."""

import statistics

import pytest
from matplotlib.figure import Figure
from scipy import stats

from suite.analysis import mnist_findings as R
from suite.figures import FIGURES, FigureContext
from suite.study import shipped

OFFLINE = {"mode": "offline", "sizes": {"train": 6400, "val": 1600, "test": 2000}}


def arch_row(hidden, seed, acc, index, status="ok", confusion=None):
    label = "-".join(map(str, hidden))
    artifacts = {"split": OFFLINE}
    if confusion is not None:
        artifacts["confusion_matrix"] = confusion
    return {"labels": {"hidden": label}, "config": {"hidden": hidden}, "seed_index": seed,
            "plan_index": index, "status": status, "metrics": {"test_accuracy": acc},
            "artifacts": artifacts}


def arch_rows(a: list[float], b: list[float]) -> list[dict]:
    rows = [arch_row([128], s, v, s) for s, v in enumerate(a)]
    return rows + [arch_row([256, 128], s, v, len(a) + s) for s, v in enumerate(b)]


def test_mean_interval_is_the_t_interval_and_on_the_logit_scale_with_bounds():
    values = [0.91, 0.93, 0.92, 0.95]
    m, lo, hi = R.mean_interval(values, 0.95)
    oracle = stats.t.interval(0.95, 3, loc=statistics.fmean(values),
                              scale=stats.sem(values))
    assert m == pytest.approx(0.9275) and (lo, hi) == pytest.approx(oracle)
    assert R.mean_interval([0.5]) == (0.5, None, None)
    m, lo, hi = R.mean_interval([1.0, 1.0, 1.0, 0.99], 0.95, (0.0, 1.0))
    assert 0 < lo < m < hi < 1  # the t interval's upper end would be past 1


def test_paired_differences_match_seeds_and_skip_missing_values():
    rows = arch_rows([0.90, 0.92, 0.94], [0.93, 0.95, None])
    a, b = R.by_label(rows)["256-128"], R.by_label(rows)["128"]
    assert R.paired_differences(a, b, "test_accuracy") == pytest.approx([0.03, 0.03])


def test_confusion_data_sums_over_seeds_and_normalises_rows():
    eye = [[5 if i == j else 0 for j in range(10)] for i in range(10)]
    off = [[0] * 10 for _ in range(10)]
    off[3][8] = 5  # five 3s taken for 8s
    rows = [arch_row([128], 0, 0.9, 0, confusion=eye), arch_row([128], 1, 0.9, 1, confusion=off)]
    d = R.confusion_data(rows)["128"]
    assert d["n_trials"] == 2
    assert d["counts"][3][3] == 5 and d["counts"][3][8] == 5 and d["counts"][0][0] == 5
    assert d["normalised"][3][3] == 0.5 and d["normalised"][3][8] == 0.5
    assert all(sum(r) == pytest.approx(1.0) for r in d["normalised"])


def search_row(seed, values, chosen, interrupted=(), acc=0.95):
    records = [{"number": i, "value": v, "interrupted": i in interrupted,
                "params": {"n_layers": 1, "units_0": 64, "lr": 1e-3}}
               for i, v in enumerate(values)]
    return {"labels": {"sampler": "tpe"}, "seed_index": seed, "plan_index": seed, "status": "ok",
            "config": {"sampler": "tpe", "n_trials": 3, "executions": 3, "epochs": 10,
                       "n_startup_trials": 10},
            "metrics": {"test_accuracy": acc},
            "artifacts": {"search": records, "split": OFFLINE,
                          "best": {"number": chosen, "hidden": [64, 32], "lr": 1e-3,
                                   "val_accuracy": max(v for v in values if v is not None)}}}


def test_search_history_keeps_counted_trials_and_the_best_so_far():
    (h,) = R.search_history_data([search_row(0, [0.8, None, 0.7, 0.9, 0.85], 3,
                                             interrupted={2})])
    assert h["number"] == [0, 1, 3, 4]
    assert h["value"] == [0.8, None, 0.9, 0.85]
    assert h["best"] == [0.8, 0.8, 0.9, 0.9]
    assert h["chosen"] == 3 and h["seed"] == 0


def test_architectures_findings_names_the_winner_margin_and_interval():
    a, b = [0.920, 0.925, 0.930], [0.935, 0.941, 0.938]
    text = R.architectures_findings(arch_rows(a, b))
    m, lo, hi = R.mean_interval(b, 0.95, (0, 1))  # accuracies: the logit t interval
    assert text.startswith("The 784 -> 256 -> 128 -> 10 MLP reached the highest mean test "
                           f"accuracy: {100 * m:.2f}% over 3 seeds (95% interval "
                           f"{100 * lo:.2f} to {100 * hi:.2f}%).")
    assert "The 784 -> 128 -> 10 MLP came next: 92.50% over 3 seeds" in text
    d, dlo, dhi = R.mean_interval([y - x for x, y in zip(a, b, strict=True)], 0.95, (-1, 1))
    assert d == pytest.approx(0.013)
    assert (f"led by 1.30 percentage points on average, paired over 3 seeds that share data "
            f"and test digits (95% interval {100 * dlo:.2f} to {100 * dhi:.2f} points)") in text
    assert "includes zero" not in text
    assert "offline split of the official MNIST test set (6,400 training" in text


def test_architectures_findings_says_when_seeds_do_not_separate():
    text = R.architectures_findings(arch_rows([0.92, 0.95], [0.94, 0.94]))
    assert "The interval includes zero: these seeds do not separate the two." in text
    one = R.architectures_findings(arch_rows([0.92], [0.91]))
    assert "over 1 seed (one value, so no interval)" in one
    rows = arch_rows([0.92, 0.93], [0.94, 0.95])
    rows[0]["status"], rows[0]["metrics"]["test_accuracy"] = "diverged", None
    assert "1 trial diverged and are left out" in R.architectures_findings(rows)
    assert R.architectures_findings([]).startswith("No trial has a test accuracy")


def test_search_findings_reports_choices_and_the_retrained_accuracy():
    rows = [search_row(0, [0.8, 0.9, 0.85], 1, acc=0.95),
            search_row(1, [0.82, 0.88, 0.91], 2, acc=0.97)]
    text = R.search_findings(rows)
    m, lo, hi = R.mean_interval([0.95, 0.97], 0.95, (0, 1))
    assert hi < 1  # the t interval would say 83.29 to 108.71%
    assert text.startswith("The study ran 2 independent searches of 3 Optuna trials, each "
                           "scored by the mean last-epoch validation accuracy of 3 trainings of "
                           "10 epochs")
    assert "They chose: hidden 64 -> 32" in text
    assert "this was a seeded random search" in text
    assert "hidden 64 -> 32, lr 0.001 (validation 90.00%, test 95.00%)" in text
    assert (f"mean test accuracy of 96.00% (95% interval {100 * lo:.2f} to {100 * hi:.2f}%)"
            in text)


@pytest.mark.parametrize("name, study", [("confusion_matrix", "mnist-architectures"),
                                         ("search_history", "mnist-search")])
def test_figures_are_registered_and_draw(name, study):
    eye = [[5 if i == j else 0 for j in range(10)] for i in range(10)]
    rows = ([arch_row([128], 0, 0.9, 0, confusion=eye),
             arch_row([256, 128], 0, 0.9, 1, confusion=eye)] if study == "mnist-architectures"
            else [search_row(0, [0.8, None, 0.9], 2), search_row(1, [0.7, 0.9, 0.8], 1)])
    fig = FIGURES[name](FigureContext(shipped.load(study, quick=True), rows, store=None))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == (2 if study == "mnist-architectures" else 1)
