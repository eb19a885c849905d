"""The class-area tasks end to end: declarations, runs through the CLI, the Optuna CLI."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from class_area_helpers import QUICK_MLP, QUICK_SEG

from suite import tasks
from suite.errors import DeclarationError, SuiteError
from suite.seeding import derive
from suite.store import Store
from suite.study import spec
from suite.tasks import class_area, segmentation_class_area, supervised
from suite.tasks.base import TrialContext, takes_context
from suite.training.shapes import deeplab_weights_path, load_deeplab

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def suite_cli(*args):
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True,
                          text=True, env=ENV, cwd=REPO_ROOT, timeout=300)


def run_quick(study: str, store: Path) -> list[dict]:
    """`suite run STUDY --quick` in a fresh process; the stored quick trials."""
    done = suite_cli("run", study, "--quick", "--store", str(store), "--no-progress")
    assert done.returncode == 0, done.stderr
    s = Store(store, create=False)
    rows = s.trials(study, "quick")
    s.close()
    return rows


def optuna_cli(*args):
    exe = Path(sys.executable).with_name("optuna")  # this environment's, as a venv has it
    exe = str(exe) if exe.exists() else shutil.which("optuna")
    if exe is None:
        pytest.skip("the optuna command is not installed")
    return subprocess.run([exe, *args], capture_output=True, text=True, env=ENV, timeout=120)


def declaration(kind="class-area", **fixed):
    return {"name": "t", "task": {"kind": kind}, "fixed": fixed,
            "scientific": {"target_ratio": [0.8]}}


def test_tasks_are_registered_and_take_a_context():
    assert tasks.get("class-area") is class_area.TASK
    assert tasks.get("segmentation-class-area") is segmentation_class_area.TASK
    assert takes_context(class_area.run) and takes_context(segmentation_class_area.run)
    assert not takes_context(supervised.run)


@pytest.mark.parametrize("fixed, key, words", [
    ({"dataset": "imbalanced"}, "dataset", "2 features"),
    ({"methods": ["tpe", "grid"]}, "fixed.methods", "'brentq'"),
    ({"methods": []}, "fixed.methods", "non-empty"),
    ({"optuna_storage": "studies.db"}, "fixed.optuna_storage", "RDB URL"),
    ({"area_path": "quick"}, "fixed.area_path", "'fast'"),
    ({"activation": "tanh"}, "fixed.activation", "'relu'"),
])
def test_bad_declarations_are_refused_in_one_sentence(fixed, key, words):
    with pytest.raises(DeclarationError) as e:
        spec.parse(declaration(**fixed), "t.toml")
    assert f"'{key}'" in str(e.value) and words in str(e.value)


def test_segmentation_target_class_must_exist():
    with pytest.raises(DeclarationError, match="0 to 2"):
        spec.parse(declaration("segmentation-class-area", target_class=3), "t.toml")
    spec.parse(declaration("segmentation-class-area", model="deeplabv3_resnet50",
                           target_class=15), "t.toml")


def test_missing_deeplab_weights_name_where_they_were_looked_for(tmp_path):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(SuiteError, match=str(missing)):
        load_deeplab(str(missing))
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        default = deeplab_weights_path()
        assert default.parent == tmp_path / "hub" / "checkpoints"
        with pytest.raises(SuiteError, match="never downloads") as e:
            load_deeplab()
        assert str(default) in str(e.value)
    finally:
        torch.hub.set_dir(old)


@pytest.mark.slow
def test_fast_and_full_paths_make_the_same_search_and_reruns_repeat():
    config = {**QUICK_MLP, "budget": 15}
    seeds = derive(11, 0)
    runs = [class_area.run({**config, "area_path": p}, seeds, torch.device("cpu"))
            for p in ("fast", "full", "fast")]
    untimed = [{k: v for k, v in r.metrics.items() if "seconds" not in k and k != "replays"}
               for r in runs]
    assert untimed[0] == untimed[1] == untimed[2]
    for method in ("tpe", "brentq"):
        rows = [[row[:3] for row in r.artifacts["evaluations"][method]] for r in runs]
        assert rows[0] == rows[1] == rows[2]
    assert runs[1].metrics["replays"] is None and runs[0].metrics["monotone"] == 1.0


@pytest.mark.slow
def test_segmentation_task_in_process():
    out = segmentation_class_area.run(QUICK_SEG, derive(12, 1), torch.device("cpu"),
                                      TrialContext("abc", ""))
    m = out.metrics
    assert m["n_points"] == 4 * 40 * 40 and m["monotone"] == 1.0
    assert m["target_area"] == pytest.approx(0.91 * m["original_area"])
    assert m["tpe_rel_error"] < 0.01 and m["brentq_rel_error"] < 0.01
    assert out.artifacts["optuna"] == {"storage": None, "studies": [], "write": "end"}


@pytest.mark.slow
def test_blobs_quick_study_reaches_the_target_and_optuna_lists_it(tmp_path):
    store = tmp_path / "x.db"
    rows = run_quick("blobs-class-area", store)
    assert len(rows) == 2
    for r in rows:
        assert r["metrics"]["tpe_rel_error"] < 0.005 and r["metrics"]["brentq_rel_error"] < 0.005
        assert r["artifacts"]["optuna"]["storage"] == f"sqlite:///{tmp_path / 'x.optuna.db'}"
    url = f"sqlite:///{tmp_path / 'x.optuna.db'}"
    listed = optuna_cli("studies", "--storage", url, "-f", "json")
    assert listed.returncode == 0, listed.stderr
    studies = {s["name"]: s for s in json.loads(listed.stdout)}
    expected = {f"{r['trial_id']}-{m}" for r in rows for m in ("tpe", "brentq")}
    assert set(studies) == expected
    tpe_name = f"{rows[0]['trial_id']}-tpe"
    assert studies[tpe_name]["n_trials"] == rows[0]["config"]["budget"]
    trials = optuna_cli("trials", "--storage", url, "--study-name", tpe_name, "-f", "json")
    assert len(json.loads(trials.stdout)) == rows[0]["config"]["budget"]
    again = suite_cli("run", "blobs-class-area", "--quick", "--store", str(store),
                      "--no-progress")
    assert "2 already in the store (skipped), 0 run" in again.stdout
    relisted = json.loads(optuna_cli("studies", "--storage", url, "-f", "json").stdout)
    assert {s["name"]: s["n_trials"] for s in relisted} == {
        n: s["n_trials"] for n, s in studies.items()}


@pytest.mark.slow
def test_segmentation_quick_study_reaches_the_91_percent_target(tmp_path):
    rows = run_quick("segmentation-class-area", tmp_path / "seg.db")
    assert len(rows) == 2  # an empty store would pass the loop below
    for r in rows:
        m = r["metrics"]
        assert m["target_area"] == pytest.approx(0.91 * m["original_area"])
        assert m["tpe_rel_error"] < 0.01 and m["brentq_rel_error"] < 0.01


@pytest.mark.slow
def test_deeplab_from_a_local_weights_file(tmp_path):
    """The DeepLabV3 branch end to end, on a locally written (random) checkpoint."""
    from torchvision.models.segmentation import deeplabv3_resnet50

    from suite.tasks.area import survey

    torch.manual_seed(0)
    weights = tmp_path / "deeplab.pth"
    torch.save(deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21,
                                  aux_loss=True).state_dict(), weights)
    config = {**QUICK_SEG, "model": "deeplabv3_resnet50", "deeplab_weights": str(weights),
              "n_area_images": 2, "area_image_size": 48, "chunk_images": 1, "budget": 10}
    seeds = derive(12, 0)
    model = load_deeplab(str(weights))
    x = segmentation_class_area.deeplab_inputs(config, seeds)
    areas = [survey(segmentation_class_area.setting({**config, "target_class": k}, model, x,
                                                    "cpu")).area for k in range(21)]
    config["target_class"] = max(range(21), key=areas.__getitem__)
    out = segmentation_class_area.run(config, seeds, torch.device("cpu"))
    m = out.metrics
    assert m["original_area"] == max(areas) and m["n_points"] == 2 * 48 * 48
    assert m["monotone"] == 1.0 and m["brentq_rel_error"] < 0.01 and m["tpe_evals"] == 10
    assert out.blobs == {} and out.artifacts["images"]["source"] == "generated"
