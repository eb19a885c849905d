"""The data behind the catalogue's figures, worked out by hand on made-up trials."""

import numpy as np
import pytest

from suite import figures, tasks
from suite.figures import catalogue_studies as fc
from suite.study import shipped


def row(i, labels, seed=0, config=None, metrics=None, artifacts=None):
    return {"trial_id": f"t{i}", "plan_index": i, "labels": labels, "seed_index": seed,
            "config_hash": "-".join(labels.values()), "config": config or {},
            "metrics": metrics or {}, "artifacts": artifacts or {}}


def test_every_figure_my_tasks_name_is_registered():
    for kind in ("optimizer-path", "imbalance"):
        for name in tasks.TASKS[kind].figures:
            assert name in figures.FIGURES, name
    assert "gap_per_setting" in figures.FIGURES
    assert "gap_per_setting" in tasks.TASKS["supervised"].figures


def test_studies_only_ask_for_figures_their_task_has():
    for name in ("paths-bowl", "paths-saddle", "imbalance-metrics", "moons-capacity",
                 "moons-capacity-noisy", "moons-regularisation", "logic-gates"):
        study = shipped.load(name)
        assert set(study.figures) <= set(study.task.figures)


def test_surface_grid_is_the_surface_on_its_box():
    w1, w2, z = fc.surface_grid("bowl", n=5)
    assert w1[0].tolist() == [-5.0, -2.5, 0.0, 2.5, 5.0] and w2[:, 0].tolist()[0] == -2.0
    assert z[2, 2] == 0.0 and z[0, 0] == pytest.approx(0.5 * (25 + 40))
    _, _, z = fc.surface_grid("saddle", n=3)
    assert z.tolist() == [[0.0, -4.0, 0.0], [4.0, 0.0, 4.0], [0.0, -4.0, 0.0]]


def test_paths_take_one_trial_per_setting_and_its_curves():
    rows = [row(0, {"opt": "a"}, seed=1), row(1, {"opt": "a"}, seed=0), row(2, {"opt": "b"})]
    stored = {"t0": {"w1": [9.0], "w2": [9.0]}, "t1": {"w1": [1.0, 2.0], "w2": [3.0, None]},
              "t2": {"w1": [0.0], "w2": [0.0]}}
    out = fc.paths(rows, stored.__getitem__)
    assert [name for name, _ in out] == ["a", "b"]
    assert np.array_equal(out[0][1], [[1.0, 3.0], [2.0, np.nan]], equal_nan=True)


def test_confusion_matrices_are_summed_over_seeds_in_a_grid():
    cm = {"confusion_matrix": [[5, 1], [2, 3]]}
    rows = [row(0, {"share": "0.5", "rem": "none"}, 0, artifacts=cm),
            row(1, {"share": "0.5", "rem": "none"}, 1, artifacts=cm),
            row(2, {"share": "0.1", "rem": "none"}, 0, artifacts=cm),
            row(3, {"share": "0.1", "rem": "w"}, 0, artifacts=cm),
            row(4, {"share": "0.1", "rem": "x"}, 0)]  # diverged: no matrix
    r, c, cells = fc.confusion_grid(rows, "share")
    assert r == ["none", "w"] and c == ["0.5", "0.1"]
    assert cells["none", "0.5"].tolist() == [[10, 2], [4, 6]]
    assert cells["w", "0.1"].tolist() == [[5, 1], [2, 3]] and ("w", "0.5") not in cells


def test_roc_pr_points_come_from_the_stored_scores_of_fixed_threshold_settings():
    art = {"test_labels": [0, 0, 1, 1], "test_scores": [0.1, 0.4, 0.35, 0.8]}
    rows = [row(0, {"m": "a"}, config={"threshold_rule": "fixed", "minority": 0.5},
                artifacts=art, metrics={"roc_auc": 0.75}),
            row(1, {"m": "b"}, config={"threshold_rule": "val_f1"}, artifacts=art)]
    (c,) = fc.roc_pr(rows)
    assert c["setting"] == "a" and c["roc_auc"] == 0.75
    assert c["fpr"].tolist() == [0, 0, 0.5, 0.5, 1] and c["tpr"].tolist() == [0, 0.5, 0.5, 1, 1]
    assert c["precision"].tolist() == [1, 0.5, 2 / 3, 0.5]
    assert c["recall"].tolist() == [0.5, 0.5, 1, 1]


def test_metric_vs_share_averages_defined_values_per_series():
    def r(i, share, rem, seed, f1):
        return row(i, {"share": str(share), "rem": rem}, seed, config={"minority": share},
                   metrics={"f1": f1})
    rows = [r(0, 0.5, "none", 0, 0.8), r(1, 0.5, "none", 1, 0.6), r(2, 0.1, "none", 0, None),
            r(3, 0.1, "none", 1, 0.3), r(4, 0.1, "w", 0, 0.5)]
    out = fc.metric_vs(rows, "f1", "minority", "share")
    x, mean, std, n = out["none"]
    assert x.tolist() == [0.1, 0.5] and n.tolist() == [1, 2]
    assert mean.tolist() == pytest.approx([0.3, 0.7]) and np.isnan(std[0])
    assert std[1] == pytest.approx(np.std([0.8, 0.6], ddof=1))
    assert out["w"][1].tolist() == [0.5]


def test_gap_rows_average_train_test_and_gap_per_setting():
    def r(i, shape, seed, tr, te):
        return row(i, {"shape": shape}, seed,
                   metrics={"train_accuracy": tr, "test_accuracy": te, "gap": tr - te})
    rows = [r(0, "big", 0, 1.0, 0.9), r(1, "big", 1, 1.0, 0.8), r(2, "small", 0, 0.8, 0.8)]
    big, small = fc.gap_rows(rows)
    assert big["setting"] == "big" and big["n"] == 2
    assert big["gap_mean"] == pytest.approx(0.15)
    assert big["test_accuracy_mean"] == pytest.approx(0.85)
    assert small["gap_mean"] == 0.0 and np.isnan(small["gap_std"])


def test_axis_setting_finds_the_axis_that_sets_a_parameter():
    study = shipped.load("imbalance-metrics")
    assert fc.axis_setting(study, "minority") == "minority"
    assert fc.axis_setting(study, "class_weight") == "remedy"
    assert fc.axis_setting(study, "lr") is None
