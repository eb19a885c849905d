"""Optuna trials evaluated in parallel rounds: ask W, evaluate as a batch, tell W in order.

The searches (mnist-search's `parallel`, the class-area tasks' `tpe_parallel`) must give
the same numbers on every run and wherever the batch is evaluated (here, or as nested tasks
on a dask.distributed cluster), resume a round cut short as if never interrupted, leave
W = 1 as it was, and say in the report how many trials ran at a time.
"""

import optuna
import pytest
import torch
from class_area_helpers import QUICK_MLP
from test_area_search import step_area
from test_mnist_search import write_learnable_test_set

from suite.errors import DeclarationError
from suite.report import site
from suite.running.runner import run_study
from suite.seeding import derive
from suite.store import Store
from suite.study import spec
from suite.tasks import _inner_map, class_area, mnist_search
from suite.tasks.area_search import tpe_search

SEEDS = derive(4, 0)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("digits")
    write_learnable_test_set(folder)
    return folder


def tiny(digits, **changes) -> dict:
    """A search of 6 one-epoch configurations; TPE models the history from trial 2 on."""
    return {**mnist_search.TASK.defaults(), "data_root": str(digits), "offline_test": 40,
            "n_trials": 6, "n_startup_trials": 2, "executions": 1, "epochs": 1,
            "max_layers": 2, "units_low": 8, "units_high": 32, "units_step": 8, **changes}


def counted(outcome) -> list[tuple]:
    return [(r["params"], r["value"]) for r in outcome.artifacts["search"]
            if not r["interrupted"]]


# -- declarations ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind, key, value", [("mnist-search", "parallel", 0),
                                              ("class-area", "tpe_parallel", "2"),
                                              ("segmentation-class-area", "tpe_parallel", 1.5)])
def test_a_bad_parallel_is_refused_in_one_sentence(kind, key, value):
    raw = {"name": "t", "task": {"kind": kind}, "fixed": {key: value},
           "scientific": {"n_trials" if kind == "mnist-search" else "budget": [5]}}
    with pytest.raises(DeclarationError) as e:
        spec.parse(raw, "t.toml")
    assert str(e.value) == (f"t.toml: the 'fixed.{key}' value of study 't' must be an integer "
                            f">= 1. Got {value!r} instead.")


# -- inner_map -------------------------------------------------------------------------------
def test_inner_map_off_a_cluster_evaluates_here_in_order():
    assert not _inner_map.on_cluster()
    assert _inner_map.inner_map(lambda x: x * x, range(5)) == [0, 1, 4, 9, 16]
    assert _inner_map.inner_map(abs, [-1, -2], local=lambda x: ("here", x)) == [
        ("here", -1), ("here", -2)]


# -- mnist-search ----------------------------------------------------------------------------
@pytest.mark.parametrize("w", [2, 3])
def test_rounds_repeat_bit_for_bit_and_are_recorded(digits, w):
    a, b = (mnist_search.run(tiny(digits, parallel=w), SEEDS, CPU) for _ in range(2))
    assert a.metrics == b.metrics and a.artifacts == b.artifacts and a.blobs == b.blobs
    assert [r["round"] for r in a.artifacts["search"]] == [i - i % w for i in range(6)]
    assert a.artifacts["sampler"] == {"name": "tpe", "n_startup_trials": 2, "parallel": w,
                                      "constant_liar": True}
    assert a.metrics["n_trials_finished"] == 6


def test_parallel_tpe_is_not_sequential_tpe(digits):
    one, two = (counted(mnist_search.run(tiny(digits, parallel=w), SEEDS, CPU))
                for w in (1, 2))
    # Trials 0-1 are random and trial 2 (first of round 2) knows what sequential trial 2 knows;
    # from trial 3 on, a round's later asks know less (their round-mates are pending).
    assert [p for p, _ in two[:3]] == [p for p, _ in one[:3]]
    assert [p for p, _ in two] != [p for p, _ in one]


def test_random_suggestions_do_not_depend_on_the_rounds(digits):
    """What the shipped study relies on: during TPE's startup trials, W changes no choice."""
    one, five = (mnist_search.run(tiny(digits, parallel=w, n_trials=5, n_startup_trials=10),
                                  SEEDS, CPU) for w in (1, 5))
    assert counted(one) == counted(five) and one.metrics == five.metrics


def test_tpe_sees_the_pending_trials_of_its_round():
    """The constant liar: a trial pending in the storage moves the next TPE suggestion."""
    history = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    history.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2, n_trials=12)

    def next_x(pending: float | None) -> float:
        study = optuna.create_study()
        study.add_trials(history.trials)
        if pending is not None:
            study.enqueue_trial({"x": pending})
            study.ask().suggest_float("x", 0, 1)  # left RUNNING, as in a round
        study.sampler = mnist_search.SAMPLERS["tpe"](5, 2)
        return study.ask().suggest_float("x", 0, 1)

    alone = next_x(None)
    assert next_x(alone) != alone


def interrupted_then_resumed(monkeypatch, owner, name, nth, config, fresh_config,
                             when=lambda *args: True):
    """Run the search with `owner.name` raising KeyboardInterrupt at its nth call for which
    `when(*args)` holds, then resume it; returns (resumed, fresh) outcomes."""
    real, calls = getattr(owner, name), []

    def cut_short(*args):
        if when(*args):
            calls.append(1)
            if len(calls) == nth:
                raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(owner, name, cut_short)
    with pytest.raises(KeyboardInterrupt):
        mnist_search.run(config, SEEDS, CPU)
    monkeypatch.setattr(owner, name, real)
    return mnist_search.run(config, SEEDS, CPU), mnist_search.run(fresh_config, SEEDS, CPU)


@pytest.mark.parametrize("w, cut_at", [(2, 3), (3, 5)])
def test_a_round_cut_short_is_asked_again_whole(digits, tmp_path, monkeypatch, w, cut_at):
    # the interruption lands inside the round's batch
    resumed, fresh = interrupted_then_resumed(
        monkeypatch, mnist_search, "score", cut_at,
        tiny(digits, parallel=w, checkpoint_dir=str(tmp_path)), tiny(digits, parallel=w))
    flags = [r["interrupted"] for r in resumed.artifacts["search"]]
    assert flags == [False] * w + [True] * w + [False] * (6 - w)
    assert counted(resumed) == counted(fresh)
    assert resumed.metrics == {**fresh.metrics, "n_trials_resumed": w}
    assert resumed.blobs == fresh.blobs


def test_a_round_cut_while_telling_is_told_on_resume(digits, tmp_path, monkeypatch):
    # trial 2 told, trial 3 recorded but not told
    resumed, fresh = interrupted_then_resumed(
        monkeypatch, mnist_search, "tell", 4,
        tiny(digits, parallel=2, checkpoint_dir=str(tmp_path)), tiny(digits, parallel=2))
    assert resumed.metrics["n_trials_resumed"] == 4
    assert resumed.artifacts["search"] == fresh.artifacts["search"]  # nothing asked twice
    assert resumed.metrics == {**fresh.metrics, "n_trials_resumed": 4}


def test_a_round_cut_while_recording_is_asked_again_whole(digits, tmp_path, monkeypatch):
    """Trial 2's result recorded, trial 3's not: trial 2 must not count (its round-mate is
    asked again, so it would be told with less knowledge than the uninterrupted search)."""
    resumed, fresh = interrupted_then_resumed(
        monkeypatch, optuna.trial.Trial, "set_user_attr", 4,
        tiny(digits, parallel=2, checkpoint_dir=str(tmp_path)), tiny(digits, parallel=2),
        when=lambda trial, key, value: key == "result")
    records = resumed.artifacts["search"]
    assert [r["interrupted"] for r in records] == [False] * 2 + [True] * 2 + [False] * 4
    assert records[2]["val_accuracies"] and records[2]["state"] == "FAIL"
    assert counted(resumed) == counted(fresh)
    assert resumed.metrics == {**fresh.metrics, "n_trials_resumed": 2}


# -- on a dask.distributed cluster ---------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c, distributed.Client(c) as client:
        yield client


def where_am_i(i: int) -> tuple[int, str]:
    import time

    from distributed import get_worker

    time.sleep(0.3)  # long enough for the scheduler to use both workers
    return i, get_worker().address


def outer_task(n: int):
    from distributed import get_worker

    return get_worker().address, _inner_map.inner_map(where_am_i, range(n))


@pytest.mark.slow
def test_inner_map_in_a_cluster_task_uses_the_clusters_workers(cluster):
    outer, results = cluster.submit(outer_task, 6, pure=False).result()
    assert [i for i, _ in results] == list(range(6))  # item order, whoever finished first
    workers = set(cluster.scheduler_info()["workers"])
    assert outer in workers and {a for _, a in results} <= workers
    assert any(a != outer for _, a in results)  # evaluations left the search's worker


def search_task(config, seeds):
    torch.set_num_threads(1)
    out = mnist_search.run(config, seeds, CPU)
    return out.metrics, out.curves, out.artifacts, out.blobs


@pytest.mark.slow
def test_a_search_on_a_cluster_matches_the_search_here(cluster, digits):
    import distributed

    config = tiny(digits, parallel=2)
    here = mnist_search.run(config, SEEDS, CPU)
    with distributed.get_task_stream(cluster) as stream:
        metrics, curves, artifacts, blobs = cluster.submit(search_task, config, SEEDS,
                                                           pure=False).result()
    assert metrics == here.metrics and curves == here.curves
    assert artifacts == here.artifacts and blobs == here.blobs
    inner = [t for t in stream.data if t["key"].startswith("evaluate-")]
    assert len(inner) == config["n_trials"]  # every configuration scored as its own task


# -- class-area ------------------------------------------------------------------------------
def test_tpe_one_at_a_time_is_what_study_optimize_does():
    target = 0.6 * step_area(0.0)
    ours = tpe_search(step_area, target, (0.0, 1.0), 25, seed=7)
    reference = optuna.create_study(direction="minimize",
                                    sampler=optuna.samplers.TPESampler(seed=7))
    reference.optimize(lambda t: abs(step_area(t.suggest_float("value", 0.0, 1.0)) - target),
                       n_trials=25)
    assert [r.value for r in ours.records] == [t.params["value"] for t in reference.trials]


@pytest.mark.parametrize("w", [2, 3])
def test_tpe_rounds_repeat_and_differ_from_sequential(w):
    target = 0.6 * step_area(0.0)
    runs = [tpe_search(step_area, target, (0.0, 1.0), 25, seed=7, parallel=p)
            for p in (w, w, 1)]
    values = [[r.value for r in run.records] for run in runs]
    assert values[0] == values[1] and len(values[0]) == 25 == len(runs[0].study.trials)
    # the same 10 random startup draws; then TPE models what each ask knows, and the asks of
    # a round know less than sequential ones
    assert values[0][:10] == values[2][:10]
    assert values[0][10:] != values[2][10:]


def test_class_area_task_with_tpe_parallel_repeats():
    config = {**QUICK_MLP, "budget": 15, "tpe_parallel": 2}
    a, b = (class_area.run(config, derive(11, 0), CPU) for _ in range(2))
    untimed = [{k: v for k, v in r.metrics.items() if "seconds" not in k} for r in (a, b)]
    assert untimed[0] == untimed[1]
    assert [row[:3] for row in a.artifacts["evaluations"]["tpe"]] == [
        row[:3] for row in b.artifacts["evaluations"]["tpe"]]
    assert a.artifacts["tpe"] == {"parallel": 2, "constant_liar": True}
    assert a.metrics["tpe_evals"] == 15


# -- the report ------------------------------------------------------------------------------
CLASS_AREA = """
name = "{name}"
metrics = ["tpe_rel_error"]
figures = ["class_area_curve"]
[task]
kind = "class-area"
[fixed]
n_points = 200
n_val = 50
epochs = 3
n_neurons = 16
grid_h = 0.25
budget = 12
methods = ["tpe"]
curve_points = 3
optuna_storage = "memory"
tpe_parallel = {w}
[scientific]
target_ratio = [0.8]
[nuisance]
seeds = 1
root_seed = 3
"""


def test_the_study_page_says_how_many_trials_ran_at_a_time(tmp_path):
    store = Store(tmp_path / "s.db")
    for name, w in (("ca-seq", 1), ("ca-par", 3)):
        path = tmp_path / f"{name}.toml"
        path.write_text(CLASS_AREA.format(name=name, w=w))
        run_study(spec.load_file(path), store, device="cpu")
    site.build_site(store, tmp_path / "site")
    store.close()
    seq = (tmp_path / "site" / "ca-seq.html").read_text()
    par = (tmp_path / "site" / "ca-par.html").read_text()
    assert "Optuna trials evaluated one at a time (sequential TPE)." in seq
    assert "batch-parallel" not in seq
    assert "Optuna trials evaluated 3 at a time (batch-parallel TPE: not sequential TPE)" in par


def mnist_row(parallel_w, n_trials=6, startup=2, sampler="tpe"):
    return {"config": {"n_trials": n_trials},  # the rest of the row is not read
            "artifacts": {"search": [], "sampler": {"name": sampler, "parallel": parallel_w,
                                                    "n_startup_trials": startup}}}


class report:  # noqa: N801  (the sentence is the tasks' own: Task.report_notes)
    @staticmethod
    def optuna_rounds(rows):
        task = class_area.TASK if "budget" in rows[0]["config"] else mnist_search.TASK
        return " ".join(task.report_notes(rows))


def test_the_report_sentence_tells_random_suggestions_and_mixed_widths():
    assert report.optuna_rounds([{"config": {}, "artifacts": {}}]) == ""
    assert "(batch-parallel TPE" in report.optuna_rounds([mnist_row(2)])
    # 5 trials, 10 startup trials: every suggestion random whatever W (the shipped study)
    random = report.optuna_rounds([mnist_row(5, n_trials=5, startup=10)])
    assert random.startswith("Optuna trials evaluated 5 at a time; every suggestion was random")
    assert report.optuna_rounds([mnist_row(5, n_trials=3, startup=10)]).startswith(
        "Optuna trials evaluated 3 at a time")  # the quick variant's one round of 3
    # W = 3 with 4 startup trials: the last round (trials 3-5) knows 3 results: still random
    assert "every suggestion was random" in report.optuna_rounds([mnist_row(3, startup=4)])
    assert "batch-parallel" in report.optuna_rounds([mnist_row(3, startup=3)])
    mixed = report.optuna_rounds([mnist_row(1), mnist_row(2)])
    assert mixed.startswith("Optuna trials evaluated 1 or 2 (by configuration) at a time")
    legacy = {"config": {"budget": 9}, "artifacts": {"evaluations": {"tpe": []}}}  # before W
    assert report.optuna_rounds([legacy]) == ("Optuna trials evaluated one at a time "
                                              "(sequential TPE).")
