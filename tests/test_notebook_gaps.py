"""Issue 18's studies end to end: each quick variant runs into one store, every figure it
declares draws from that store, and the results say what the seeds say."""

import numpy as np
import pytest
import torch

from suite import figures
from suite.running.runner import run_study
from suite.store import Store
from suite.study import shipped
from suite.study.planning import plan

STUDIES = ("descent-1d", "paths-saddle-origin", "curve-scenarios", "learning-curve-moons",
           "learning-curve-spirals", "imbalance-remedies", "imbalance-baseline",
           "isolation-spiral-architectures", "deeplab-class-area-random")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    torch.set_num_threads(1)
    s = Store(tmp_path_factory.mktemp("gaps") / "quick.db")
    for name in STUDIES:
        run_study(shipped.load(name, quick=True), s, device="cpu", executor="serial")
    yield s
    s.close()


@pytest.mark.slow
@pytest.mark.parametrize("name", STUDIES)
def test_every_declared_figure_draws_from_the_store(store, name):
    study = shipped.load(name, quick=True)
    rows = store.trials(name, "quick")
    assert len(rows) == len(plan(study)) > 0
    ctx = figures.FigureContext(study, rows, store)
    for fig_name in study.figures:
        assert figures.draw(fig_name, ctx).axes, fig_name


def test_the_one_weight_surface_has_no_contour_figure(store):
    ctx = figures.FigureContext(shipped.load("descent-1d", quick=True),
                                store.trials("descent-1d", "quick"), store)
    with pytest.raises(figures.FigureUnavailable, match="descent_1d"):
        figures.draw("optimizer_paths", ctx)


def test_descent_traces_are_the_stored_paths(store):
    from suite.figures import catalogue_studies as fc

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


def test_the_scenarios_are_the_notebooks_formulas():
    """Seed 002's own lines, evaluated with the same uniform draws, give the same curves."""
    from suite.tasks import curve_scenarios as cs

    e = np.arange(1, 101)
    rng = np.random.default_rng(7)
    r = [rng.random(100) for _ in range(3)]
    seed_good = {"train_loss": 1.0 / e**0.5 + r[0] * 0.1,
                 "train_accuracy": 0.95 - 0.4 / e**0.5 + r[1] * 0.02,
                 "val_accuracy": 0.90 - 0.3 / e**0.5 + r[2] * 0.02}
    got = cs.simulate("good", 100, np.random.default_rng(7))
    for k, v in seed_good.items():
        assert np.array_equal(got[k], v), k
    rng = np.random.default_rng(7)
    seed_high = 0.5 + np.abs(0.5 * np.sin(e / 5) + rng.random(100) * 0.2) + 1.0 / e
    assert np.array_equal(cs.simulate("lr_too_high", 100, np.random.default_rng(7))
                          ["train_loss"], seed_high)


def test_every_scenario_gets_its_own_name_on_every_seed(store):
    rows = store.trials("curve-scenarios", "quick")
    assert len(rows) == 12
    for r in rows:
        assert r["artifacts"]["diagnosis"] == r["config"]["scenario"], r["artifacts"]
        assert r["metrics"]["diagnosed_as_named"] == 1.0
    high = [r for r in rows if r["config"]["scenario"] == "lr_too_high"]
    assert all(r["metrics"]["final_val_accuracy"] is None for r in high)


def test_a_misdiagnosis_scores_zero():
    """The metric has teeth: a curve of one scenario declared as another scores 0."""
    from suite.seeding import derive
    from suite.tasks import curve_scenarios as cs

    cfg = {"scenario": "good", "epochs": 100}
    out = cs.run(cfg, derive(0, 0), torch.device("cpu"))
    assert out.metrics["diagnosed_as_named"] == 1.0
    cs.SCENARIOS["fake"] = cs.SCENARIOS["overfitting"]
    try:
        out = cs.run(cfg | {"scenario": "fake"}, derive(0, 0), torch.device("cpu"))
    finally:
        del cs.SCENARIOS["fake"]
    assert out.metrics["diagnosed_as_named"] == 0.0 and out.artifacts["diagnosis"] == "overfitting"


def test_scenario_panels_count_the_labels_over_seeds(store):
    from suite.figures import catalogue_studies as fc

    panels = fc.scenario_panels(store.trials("curve-scenarios", "quick"), store.curves)
    assert [p["setting"] for p in panels] == ["good", "overfitting", "lr_too_high",
                                              "underfitting"]
    assert panels[1]["diagnosis"] == {"overfitting": 3} and panels[1]["seeds"] == 3
    assert set(panels[2]["curves"]) >= {"train_loss"}


def test_learning_curve_data_by_hand():
    """Means and t intervals per size, worked out by hand; undefined values left out."""
    from suite.figures import catalogue_studies as fc

    def row(i, n, seed, train, val):
        return {"trial_id": f"t{i}", "plan_index": i, "seed_index": seed,
                "labels": {"n_train": str(n)}, "config_hash": str(n), "config": {"n_train": n},
                "metrics": {"train_accuracy": train, "val_accuracy": val}}

    rows = [row(0, 100, 0, 1.0, 0.7), row(1, 100, 1, 0.9, 0.8), row(2, 10, 0, 1.0, 0.5),
            row(3, 10, 1, 1.0, None)]
    d = fc.learning_curves(rows, "n_train")["all"]
    assert d["x"].tolist() == [10.0, 100.0]
    assert d["train_accuracy"]["mean"].tolist() == pytest.approx([1.0, 0.95])
    # n = 2: half width t(0.975, 1) * s / sqrt(2) = 12.706 * 0.0707 / 1.414 = 0.6353
    half = 12.7062047361747 * np.std([0.7, 0.8], ddof=1) / np.sqrt(2)
    assert d["val_accuracy"]["ci_low"][1] == pytest.approx(0.75 - half)
    assert d["val_accuracy"]["n"].tolist() == [1, 2]
    assert np.isnan(d["val_accuracy"]["ci_low"][0])  # one seed: no interval


def test_learning_curves_cover_every_size_and_seed(store):
    from suite.figures import catalogue_studies as fc

    for name, sizes in (("learning-curve-moons", [50, 162, 275]),
                        ("learning-curve-spirals", [100, 250, 400])):
        rows = store.trials(name, "quick")
        d = fc.learning_curves(rows, "n_train")["all"]
        assert d["x"].tolist() == sizes
        assert d["train_accuracy"]["n"].tolist() == [2, 2, 2]
        # the validation and test sets are the same points for every size of a seed
        from suite.seeding import derive
        from suite.tasks import supervised

        study = shipped.load(name, quick=True)
        small, large = (supervised.make_splits(c, derive(study.root_seed, 0))
                        for _, c in plan_configs(study, sizes[0], sizes[-1]))
        assert len(small[0].y) == sizes[0] and len(large[0].y) == sizes[-1]
        for a, b in zip(small[1:], large[1:], strict=True):
            assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def plan_configs(study, *sizes):
    from suite.study.planning import grid

    return [(labels, c) for labels, c in grid(study) if c["n_train"] in sizes]


def test_every_remedy_is_in_the_minority_figure_and_the_table(store):
    from suite import analysis
    from suite.figures import catalogue_studies as fc

    study = shipped.load("imbalance-remedies", quick=True)
    rows = store.trials("imbalance-remedies", "quick")
    series = fc.metric_vs(rows, "f1", "minority", "minority")
    remedies = [v.label for v in study.axes[2].values]
    assert sorted(series) == sorted(f"{e}, {r}" for e in ("torch logistic", "liblinear")
                                    for r in remedies)
    table = analysis.summary(analysis.trials_frame(rows, study.metrics),
                             [a.name for a in study.axes], study.metrics)
    assert set(table["remedy"]) == set(remedies)
    fit = {(r["labels"]["estimator"], r["labels"]["remedy"]): r["metrics"] for r in rows}
    for e in ("torch logistic", "liblinear"):
        assert fit[e, "over"]["n_fit_positive"] * 2 == fit[e, "over"]["n_fit"]
        assert fit[e, "under"]["n_fit"] < fit[e, "none"]["n_fit"] < fit[e, "smote"]["n_fit"]


# -- tuning-playbook isolation ----------------------------------------------------------
SEARCHED = """
name = "iso"
[task]
kind = "supervised"
[scientific]
n_hidden_layers = [1, 2]
[nuisance]
seeds = 2
search = { lr = [0.1, 0.3, 1.0] }
[quick]
search = { lr = [0.1] }
"""


def test_a_searched_nuisance_axis_is_in_the_grid_and_marked():
    import tomllib

    from suite.study import spec

    full = spec.parse(tomllib.loads(SEARCHED), "iso.toml")
    assert [a.name for a in full.axes] == ["n_hidden_layers", "lr"]
    assert full.searched_axes() == ("lr",) and len(plan(full)) == 2 * 3 * 2
    quick = spec.parse(tomllib.loads(SEARCHED), "iso.toml", quick=True)
    assert [v.label for v in quick.axes[1].values] == ["0.1"] and len(plan(quick)) == 4


@pytest.mark.parametrize("change, key, words", [
    ({"fixed": {"lr": 0.1}}, "fixed.lr", "varied by the searched nuisance axis 'lr'"),
    ({"scientific": {"lr": [0.1]}}, "nuisance.search.lr", "not also in [scientific]"),
    ({"nuisance": {"search": {"lr": [-1.0]}}}, "nuisance.search.lr[0]", "positive float"),
    ({"nuisance": {"search": {"rate": [[0.1]]}}}, "nuisance.search.rate", "a parameter"),
])
def test_bad_search_axes_are_one_sentence(change, key, words):
    import tomllib

    from suite.errors import DeclarationError
    from suite.study import spec

    raw = tomllib.loads(SEARCHED)
    for part, table in change.items():
        raw.setdefault(part, {}).update(table)
    with pytest.raises(DeclarationError) as e:
        spec.parse(raw, "iso.toml")
    assert f"the '{key}' value of study 'iso'" in str(e.value) and words in str(e.value)


def test_isolation_keeps_each_seeds_best_by_hand():
    from suite.figures import catalogue_studies as fc

    def row(i, arch, lr, seed, val):
        return {"trial_id": f"t{i}", "plan_index": i, "seed_index": seed,
                "labels": {"arch": arch, "lr": lr}, "config_hash": f"{arch}{lr}",
                "metrics": {"val_accuracy": val, "val_loss": None if val is None else 1 - val}}

    rows = [row(0, "a", "0.1", 0, 0.7), row(1, "a", "1", 0, 0.9), row(2, "b", "0.1", 0, 0.6),
            row(3, "b", "1", 0, None),  # diverged: left out of the best
            row(4, "a", "0.1", 1, 0.8), row(5, "a", "1", 1, 0.8), row(6, "b", "0.1", 1, 0.5),
            row(7, "b", "1", 1, 0.4)]
    a, b = fc.isolation(rows, ("lr",), "val_accuracy")
    assert a["setting"] == "a" and a["values"] == [0.9, 0.8]
    assert a["chosen"] == {"lr=1": 1, "lr=0.1": 1}  # seed 1 ties: the first in plan order
    assert b["values"] == [0.6, 0.5] and b["chosen"] == {"lr=0.1": 2}
    half = 12.7062047361747 * np.std([0.9, 0.8], ddof=1) / np.sqrt(2)
    assert a["mean"] == pytest.approx(0.85) and a["ci_high"] == pytest.approx(0.85 + half)
    (low,) = [x for x in fc.isolation(rows, ("lr",), "val_loss") if x["setting"] == "a"]
    assert low["values"] == pytest.approx([0.1, 0.2])  # losses: the lowest wins
    sweep = fc.nuisance_sweep(rows, ("lr",), "val_accuracy")
    assert [(r["nuisance"], r["n"]) for r in sweep["b"]] == [("lr=0.1", 2), ("lr=1", 1)]
    assert sweep["a"][1]["mean"] == pytest.approx(0.85)


def test_the_shipped_isolation_study_has_every_lr_per_architecture(store):
    from suite.figures import catalogue_studies as fc

    study = shipped.load("isolation-spiral-architectures", quick=True)
    assert study.searched_axes() == ("lr",)
    rows = store.trials("isolation-spiral-architectures", "quick")
    best = fc.isolation(rows, ("lr",), fc.isolation_metric(study))
    assert [b["setting"] for b in best] == ["1x10", "3x10"]
    for b in best:
        assert len(b["values"]) == 2 and sum(b["chosen"].values()) == 2
        per_seed = {}
        for r in rows:
            if r["labels"]["architecture"] == b["setting"]:
                per_seed.setdefault(r["seed_index"], []).append(r["metrics"]["val_accuracy"])
        assert b["values"] == [max(v) for _, v in sorted(per_seed.items())]


# -- DeepLabV3 with random weights ------------------------------------------------------
def test_random_deeplab_is_seeded_and_leaves_the_global_generator_alone():
    from suite.training import shapes

    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b = shapes.random_deeplab(7), shapes.random_deeplab(7)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))
    c = shapes.random_deeplab(8)
    assert not torch.equal(a.classifier[4].weight, c.classifier[4].weight)
    assert a.aux_classifier is None and not a.training


def test_the_random_deeplab_trial_controls_its_dominant_class_and_says_so(store, tmp_path):
    from suite import report
    from suite.seeding import TrialSeeds
    from suite.tasks import segmentation_class_area as seg
    from suite.training import shapes

    (row,) = store.trials("deeplab-class-area-random", "quick")
    a = row["artifacts"]
    assert a["weights"] == "random (not pretrained)" and a["page_notes"] == [seg.NOT_PRETRAINED]
    assert a["images"] == {"n": 2, "size": [32, 32], "source": "generated"}
    # the dominant class, counted here with a fresh forward pass of the same network
    seeds = TrialSeeds(**row["seeds"])
    model = shapes.random_deeplab(seeds.init)
    with torch.inference_mode():
        out = model(seg.deeplab_inputs(row["config"], seeds))["out"]
    counts = torch.bincount(out.argmax(1).flatten(), minlength=21)
    assert a["target_class"] == int(counts.argmax())
    assert row["metrics"]["original_area"] == pytest.approx(counts.max().item() / (2 * 32 * 32))
    assert row["metrics"]["monotone"] == 1.0
    assert row["metrics"]["brentq_rel_error"] < 0.05
    pages = report.build_site(store, tmp_path / "site", only=["deeplab-class-area-random"])
    html = (tmp_path / "site" / pages[0].filename).read_text()
    assert "Pretrained weights were not used" in html
    assert html.index("Pretrained weights were not used") < html.index("<h2>Declaration</h2>")
