"""The `mnist-search` task: the search space, seeded suggestions, resume after interruption."""

import gzip
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

from suite.errors import DeclarationError
from suite.running.runner import run_study
from suite.seeding import TrialSeeds
from suite.store import Store
from suite.study import shipped, spec
from suite.study.planning import checkpoint_key, plan
from suite.tasks import mnist_search
from suite.training import mnist_data

SHARED = mnist_data.SHIPPED  # the official test set, shipped inside the package

TINY = """
name = "tiny-search"
[task]
kind = "mnist-search"
[fixed]
offline_test = 40
n_trials = 4
n_startup_trials = 2
executions = 2
epochs = 1
max_layers = 2
units_low = 8
units_high = 32
units_step = 8
[scientific]
sampler = ["tpe"]
[nuisance]
seeds = 1
root_seed = 4
"""


def write_learnable_test_set(folder: Path, n: int = 200) -> None:
    """`n` fake digits as hand-written gzipped IDX files: label c lights columns 2c+4, 2c+5."""
    rng = np.random.default_rng(0)
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, :, 2 * c + 4: 2 * c + 6] = 255
    for name, arr in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        header = bytes([0, 0, 8, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
        (folder / f"{name}.gz").write_bytes(gzip.compress(header + arr.tobytes()))


@pytest.fixture
def tiny(tmp_path):
    torch.set_num_threads(1)
    data = tmp_path / "data"
    data.mkdir()
    write_learnable_test_set(data)
    path = tmp_path / "tiny-search.toml"
    path.write_text(TINY)
    return spec.load_file(path), data, tmp_path / "s.db"


def test_suggestions_stay_in_the_notebooks_space():
    config = mnist_search.TASK.defaults()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen_layers, seen_lrs = set(), set()
    for _ in range(60):
        choice = mnist_search.suggest(study.ask(), config)
        assert 1 <= len(choice["hidden"]) <= 4
        assert all(32 <= w <= 256 and w % 32 == 0 for w in choice["hidden"])
        seen_layers.add(len(choice["hidden"]))
        seen_lrs.add(choice["lr"])
    assert seen_layers == {1, 2, 3, 4} and seen_lrs == {1e-2, 1e-3, 1e-4}
    fixed = optuna.trial.FixedTrial({"n_layers": 2, "units_0": 64, "units_1": 32, "lr": 1e-3})
    choice = mnist_search.suggest(fixed, config)
    assert choice == {"hidden": [64, 32], "lr": 1e-3}
    assert mnist_search.choice_of(fixed.params) == choice


def test_units_step_must_divide_the_range():
    raw = {"name": "s", "task": {"kind": "mnist-search"}, "fixed": {"units_step": 48},
           "scientific": {"sampler": ["tpe"]}}
    with pytest.raises(DeclarationError, match=r"'units_step' .* must be a step that divides "
                                               r"units_high - units_low \(224\)"):
        spec.parse(raw, "s.toml")


def test_interrupted_search_resumes_to_the_uninterrupted_result(tiny, monkeypatch):
    study, data, store_path = tiny
    runtime = {"data_root": str(data)}
    real, calls = mnist_search.score, []

    def cut_short(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(mnist_search, "score", cut_short)
    store = Store(store_path)
    with pytest.raises(KeyboardInterrupt):
        run_study(study, store, device="cpu", runtime=runtime)
    assert store.trials("tiny-search", "full") == []
    assert store.runs("tiny-search")[-1]["status"] == "interrupted"
    monkeypatch.setattr(mnist_search, "score", real)

    summary = run_study(study, store, device="cpu", runtime=runtime)
    assert (summary.completed, summary.skipped) == (1, 0)
    (row,) = store.trials("tiny-search", "full")
    key = checkpoint_key(row["config"], TrialSeeds(**row["seeds"]), mnist_search.RUNTIME)
    journal = Path(str(store_path) + ".checkpoints") / f"{key}.optuna.log"
    assert row["artifacts"]["journal"] == str(journal) and journal.is_file()
    assert row["metrics"]["n_trials_resumed"] == 2 and row["metrics"]["n_trials_finished"] == 4
    records = row["artifacts"]["search"]
    assert [r["interrupted"] for r in records] == [False, False, True, False, False]

    # the same search never interrupted, in memory: the same choices and numbers
    spec_ = plan(study)[0]
    fresh = mnist_search.run({**spec_.config, **runtime}, spec_.seeds, torch.device("cpu"))
    counted = [r for r in records if not r["interrupted"]]
    assert len({str(r["params"]) for r in counted}) == 4  # each draw from its own seed
    assert [(r["params"], r["value"]) for r in counted] == [
        (r["params"], r["value"]) for r in fresh.artifacts["search"]]
    assert {k: v for k, v in fresh.metrics.items() if k != "n_trials_resumed"} == {
        k: v for k, v in row["metrics"].items() if k != "n_trials_resumed"}
    def without_number(best):  # Optuna numbers count the interrupted trial too
        return {k: v for k, v in best.items() if k != "number"}

    assert without_number(fresh.artifacts["best"]) == without_number(row["artifacts"]["best"])
    assert store.curves(row["trial_id"])["search_best"] == fresh.curves["search_best"]

    again = run_study(study, store, device="cpu", runtime=runtime)
    assert (again.completed, again.skipped) == (0, 1)  # a finished search is not re-run
    store.close()


def test_search_records_every_trial_and_retrains_the_best(tiny):
    study, data, _ = tiny
    spec_ = plan(study)[0]
    out = mnist_search.run({**spec_.config, "data_root": str(data)}, spec_.seeds,
                           torch.device("cpu"))
    records = out.artifacts["search"]
    assert len(records) == 4 and all(len(r["val_accuracies"]) == 2 for r in records)
    for r in records:
        assert r["value"] == pytest.approx(sum(r["val_accuracies"]) / 2)
    best = max(records, key=lambda r: r["value"])
    assert out.artifacts["best"]["number"] == best["number"]
    assert out.metrics["best_val_accuracy"] == best["value"]
    assert out.metrics["best_n_layers"] == best["params"]["n_layers"]
    assert out.curves["search_best"] == list(np.maximum.accumulate(
        [r["value"] for r in records]))
    assert sum(map(sum, out.artifacts["confusion_matrix"])) == 40
    assert out.metrics["n_train"] == 160 and out.artifacts["journal"] is None


@pytest.mark.slow
def test_quick_search_study_on_the_shipped_data(tmp_path):
    torch.set_num_threads(1)
    study = shipped.load("mnist-search", quick=True)
    store = Store(tmp_path / "s.db")
    summary = run_study(study, store, device="cpu", runtime={"data_root": str(SHARED)})
    (row,) = store.trials("mnist-search", "quick")
    assert summary.completed == 1 and row["status"] == "ok"
    assert row["metrics"]["n_trials_finished"] == 3
    assert row["metrics"]["test_accuracy"] > 0.8
    assert row["artifacts"]["split"]["mode"] == "offline"
    store.close()
