"""The searches, their records and metrics, and where the Optuna studies go."""

import numpy as np
import optuna
import pytest
from class_area_helpers import mlp_setting

from suite.errors import SuiteError
from suite.store import Store
from suite.tasks.area_control import Engine
from suite.tasks.area_search import (
    Evaluation,
    OptunaPlan,
    bracket,
    brentq_search,
    first_within,
    save_studies,
    storage_url,
    summary,
    tpe_search,
)

THRESHOLDS = np.sort(np.random.default_rng(3).uniform(-1, 1, 5000))


def step_area(value: float) -> float:
    """A monotone step function like a grid's area: the share of thresholds above value."""
    return float(np.mean(THRESHOLDS > value))


def test_bracket_is_the_targets_side():
    assert bracket(0.5, 0.4) == (0.0, 1.0)
    assert bracket(0.5, 0.6) == (-1.0, 0.0)


def test_brentq_records_every_evaluation_and_brackets_the_target():
    target = 0.8 * step_area(0.0)
    records, root, note = brentq_search(step_area, target, (0.0, 1.0), 100, 1e-9)
    assert note == "" and records[0].value == 0.0 and records[1].value == 1.0
    assert all(r.error == abs(step_area(r.value) - target) for r in records)
    assert abs(step_area(root) / target - 1) < 1 / (0.8 * 2500)  # one threshold's share
    assert [r.seconds for r in records] == sorted(r.seconds for r in records)


def test_brentq_out_of_iterations_keeps_its_last_estimate():
    target = 0.8 * step_area(0.0)
    records, root, note = brentq_search(step_area, target, (0.0, 1.0), 3, 1e-12)
    assert root is not None and "after 3 iterations" in note
    assert records[-1].value == root and len(records) <= 6


def test_brentq_without_a_sign_change_says_why():
    records, root, note = brentq_search(step_area, 2.0, (0.0, 1.0), 100, 1e-9)
    assert root is None and "brentq stopped" in note and len(records) == 2


def test_tpe_is_seeded_and_records_every_trial():
    target = 0.6 * step_area(0.0)
    a = tpe_search(step_area, target, (0.0, 1.0), 25, seed=7)
    b = tpe_search(step_area, target, (0.0, 1.0), 25, seed=7)
    assert [r.value for r in a.records] == [r.value for r in b.records]
    assert len(a.records) == 25 == len(a.study.trials)
    assert [t.value for t in a.study.trials] == [r.error for r in a.records]
    assert a.study.trials[0].user_attrs["area"] == a.records[0].area


def test_first_within_and_summary_by_hand():
    recs = [Evaluation(0.1, 0.5, 0.1, 1.0), Evaluation(0.2, 0.41, 0.01, 2.0),
            Evaluation(0.3, 0.401, 0.001, 3.0)]
    assert first_within(recs, 0.4, 0.03) == (2, 2.0)  # 0.01 / 0.4 = 2.5%
    assert first_within(recs, 0.4, 0.001) == (None, None)
    m = summary("tpe", recs, 0.4, 0.03, recs[2])
    assert m == {"tpe_evals_to_tol": 2, "tpe_seconds_to_tol": 2.0,
                 "tpe_rel_error": pytest.approx(0.0025), "tpe_value": 0.3, "tpe_evals": 3,
                 "tpe_seconds": 3.0}
    assert summary("brentq", [], 0.4, 0.03, None)["brentq_rel_error"] is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_both_searches_reach_half_a_percent_on_trained_mlps(seed):
    engine = Engine(mlp_setting(seed), 1, "fast")
    target = 0.8 * engine.survey.area
    bounds = bracket(engine.survey.area, target)
    tpe = tpe_search(engine.area, target, bounds, 80, seed=seed)
    records, root, _ = brentq_search(engine.area, target, bounds, 100, 1e-7)
    assert first_within(tpe.records, target, 0.005)[0] is not None
    assert first_within(records, target, 0.005)[0] is not None


def test_storage_url_choices(tmp_path):
    store = tmp_path / "runs.db"
    assert storage_url("", str(store)) == f"sqlite:///{tmp_path / 'runs.optuna.db'}"
    assert storage_url("", "") is None and storage_url("memory", str(store)) is None
    assert storage_url("sqlite:///x.db", str(store)) == "sqlite:///x.db"


def test_a_suite_store_is_never_given_to_optuna(tmp_path):
    path = tmp_path / "suite.db"
    Store(path).close()
    with pytest.raises(SuiteError, match="is a suite store"):
        storage_url(f"sqlite:///{path}", "")


@pytest.mark.slow
def test_studies_are_saved_once_per_name(tmp_path):
    url = f"sqlite:///{tmp_path / 'o.db'}"
    plan = OptunaPlan(url, "trialid")
    target = 0.7 * step_area(0.0)
    for _ in range(2):  # a re-run of an unfinished trial replaces its studies
        tpe = tpe_search(step_area, target, (0.0, 1.0), 12, seed=1)
        records, _root, _ = brentq_search(step_area, target, (0.0, 1.0), 100, 1e-6)
        names = save_studies(plan, tpe, records, (0.0, 1.0), target, {"who": "test"})
    assert names == ["trialid-tpe", "trialid-brentq"]
    summaries = {s.study_name: s for s in optuna.get_all_study_summaries(url)}
    assert set(summaries) == set(names)
    assert summaries["trialid-tpe"].n_trials == 12
    assert summaries["trialid-brentq"].n_trials == len(records)
    loaded = optuna.load_study(study_name="trialid-brentq", storage=url)
    assert [t.params["value"] for t in loaded.trials] == [r.value for r in records]
    assert loaded.user_attrs == {"who": "test"}


@pytest.mark.slow
def test_live_writing_goes_straight_to_the_storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    plan = OptunaPlan(url, "live", write="live")
    tpe = tpe_search(step_area, 0.3, (0.0, 1.0), 5, seed=2, plan=plan)
    assert len(optuna.load_study(study_name="live-tpe", storage=url).trials) == 5
    save_studies(plan, tpe, None, (0.0, 1.0), 0.3, {})
    assert len(optuna.load_study(study_name="live-tpe", storage=url).trials) == 5
