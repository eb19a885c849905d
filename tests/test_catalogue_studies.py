"""The catalogue's new studies end to end: each quick variant runs, its results carry the
diagnosis, and its figures draw from the store."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from suite import analysis, cli, figures
from suite.running.runner import run_study
from suite.store import Store
from suite.study import shipped
from suite.study.planning import plan

REPO_ROOT = Path(__file__).resolve().parents[1]
STUDIES = ("paths-bowl", "paths-saddle", "imbalance-metrics", "moons-capacity",
           "moons-capacity-noisy", "moons-regularisation", "logic-gates")
NINE = ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc", "pr_auc",
        "balanced_accuracy")

MY_FIGURES = ("optimizer_paths", "confusion_matrix", "roc_pr_curves", "metric_vs_minority",
              "gap_per_setting")

pytestmark = pytest.mark.slow  # about 20 s: seven quick studies


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    torch.set_num_threads(1)
    s = Store(tmp_path_factory.mktemp("catalogue") / "quick.db")
    for name in STUDIES:
        run_study(shipped.load(name, quick=True), s, device="cpu", executor="serial")
    yield s
    s.close()


@pytest.mark.parametrize("name", STUDIES)
def test_quick_variant_ran_every_trial_and_labelled_it(store, name):
    study = shipped.load(name, quick=True)
    rows = store.trials(name, "quick")
    assert len(rows) == len(plan(study)) > 0
    curves = {r["trial_id"]: store.curves(r["trial_id"]) for r in rows}
    frame = analysis.trials_frame(rows, study.metrics, curves)
    assert frame["diagnosis"].isin(["good", "overfitting", "underfitting", "lr_too_high"]).all()
    table = analysis.summary(frame, [a.name for a in study.axes], study.metrics)
    assert table["diagnosis"].str.match(r"^\w+ \(\d+/\d+\)$").all()


def test_imbalance_rows_hold_all_nine_metrics_or_say_why_not(store):
    for r in store.trials("imbalance-metrics", "quick"):
        for m in NINE:
            assert m in r["metrics"]
            if r["metrics"][m] is None:
                assert r["artifacts"]["undefined"][m]
        cm = r["artifacts"]["confusion_matrix"]
        assert sum(map(sum, cm)) == 300 and cm[1][0] + cm[1][1] == r["metrics"]["n_test_positive"]


def test_the_saddle_and_logic_results_say_what_the_textbook_says(store):
    rows = {r["labels"]["optimizer"]: r["metrics"] for r in store.trials("paths-saddle", "quick")}
    assert rows["momentum 0.1/0.7"]["escape_step"] < rows["sgd 0.1"]["escape_step"]
    perceptron_xor = [r["metrics"]["train_accuracy"] for r in store.trials("logic-gates", "quick")
                      if r["labels"] == {"dataset": "xor", "model_shape": "perceptron"}]
    assert max(perceptron_xor) < 0.8  # no line separates XOR


@pytest.mark.parametrize("name", STUDIES)
def test_every_registered_figure_of_the_study_draws(store, name):
    study = shipped.load(name, quick=True)
    ctx = figures.FigureContext(study, store.trials(name, "quick"), store)
    mine = [f for f in study.figures if f in MY_FIGURES]  # the others are drawn elsewhere
    assert mine
    for fig_name in mine:
        fig = figures.FIGURES[fig_name](ctx)
        assert fig.axes, fig_name


def test_cli_results_show_the_diagnosis(store, capsys):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-m", "suite", "results", "paths-saddle", "--quick",
                          "--store", str(store.path), "--format", "csv"],
                         capture_output=True, text=True, env=env, check=True).stdout
    header, *lines = out.splitlines()
    assert header.split(",")[-1] == "diagnosis" and len(lines) == 2
    assert cli.main(["results", "paths-saddle", "--quick", "--store", str(store.path),
                     "--trials"]) == 0
    assert "diagnosis" in capsys.readouterr().out.splitlines()[0]
