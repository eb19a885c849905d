"""Issue 18's studies end to end: each quick variant runs into one store, every figure it
declares draws from that store, and the results say what the seeds say."""

import pytest
import torch

from suite import figures, registry
from suite.planning import plan
from suite.runner import run_study
from suite.store import Store

STUDIES = ("descent-1d", "paths-saddle-origin")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    torch.set_num_threads(1)
    s = Store(tmp_path_factory.mktemp("gaps") / "quick.db")
    for name in STUDIES:
        run_study(registry.load(name, quick=True), s, device="cpu", executor="serial")
    yield s
    s.close()


@pytest.mark.parametrize("name", STUDIES)
def test_every_declared_figure_draws_from_the_store(store, name):
    study = registry.load(name, quick=True)
    rows = store.trials(name, "quick")
    assert len(rows) == len(plan(study)) > 0
    ctx = figures.FigureContext(study, rows, store)
    for fig_name in study.figures:
        assert figures.draw(fig_name, ctx).axes, fig_name


def test_the_one_weight_surface_has_no_contour_figure(store):
    ctx = figures.FigureContext(registry.load("descent-1d", quick=True),
                                store.trials("descent-1d", "quick"), store)
    with pytest.raises(figures.FigureUnavailable, match="descent_1d"):
        figures.draw("optimizer_paths", ctx)


def test_descent_traces_are_the_stored_paths(store):
    from suite import figures_catalogue as fc

    rows = store.trials("descent-1d", "quick")
    data = fc.traces(rows, store.curves)
    assert [d["setting"] for d in data] == ["gd 0.1", "momentum 0.1/0.9", "rmsprop 0.1/0.9"]
    gd = data[0]
    assert gd["step"].tolist() == list(range(21)) and list(gd["weights"]) == ["w1"]
    assert gd["weights"]["w1"][0] == 10.0 and gd["loss"][0] == 100.0


def test_at_the_saddle_every_optimiser_stays_put(store):
    rows = store.trials("paths-saddle-origin", "quick")
    assert len(rows) == 4
    for r in rows:
        assert r["metrics"]["final_distance"] == 0.0 and r["metrics"]["path_length"] == 0.0
        assert r["metrics"]["escape_step"] is None
