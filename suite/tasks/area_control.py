"""One class-area control trial, shared by the MLP and segmentation tasks.

Given a `Setting` (model, final layer, class, inputs) the trial surveys the original model
(its area and the sweep scale of `suite.tasks.weight_path`), sets the target (target_ratio x the
original area), runs each search method of `suite.tasks.area_search` on area(value), measures the
area along the whole documented range to check the monotone contract, and writes the
Optuna studies. `area_path` picks how area(value) is computed: "fast" (`FastArea`, exact,
from cached features) or "full" (a full forward pass over every chunk per value); both give
the same areas, so the two paths make the same searches and differ only in time.
`tpe_parallel` (default 1, sequential TPE) is how many TPE trials each round asks,
evaluates in this process and tells (batch-parallel TPE: `suite.tasks.area_search.tpe_search`);
it is recorded in `artifacts["tpe"]` and the report says it.

Every metric but the timings (`*_seconds*`) is bit-identical when the trial is re-run.
"""

import time

import numpy as np

from suite.store import public_target
from suite.tasks import params as P
from suite.tasks.area import FastArea, Setting, class_fraction, survey
from suite.tasks.area_search import (
    COLUMNS,
    METHODS,
    WRITE_MODES,
    OptunaPlan,
    at_value,
    best,
    bracket,
    brentq_search,
    is_monotone,
    quiet_optuna,
    save_studies,
    storage_url,
    summary,
    tpe_search,
)
from suite.tasks.weight_path import GEOMETRY, WeightPath

AREA_PATHS = {"fast": "cached features, exact screen + replay", "full": "full forward passes"}


def _methods_ok(v) -> bool:
    return (isinstance(v, list) and len(v) > 0 and len(set(v)) == len(v)
            and all(m in METHODS for m in v))


def _storage_ok(v) -> bool:
    return isinstance(v, str) and (v in ("", "memory") or "://" in v)


PARAMS = {
    "target_ratio": P.positive_float(0.8, "target area / original area"),
    "tolerance": P.positive_float(0.005, "|area / target - 1| that counts as reached"),
    "methods": P.Param(["tpe", "brentq"], f"a non-empty list of distinct names among "
                       f"{', '.join(repr(m) for m in METHODS)}", _methods_ok, "search methods"),
    "budget": P.size("count", 80, 2, doc="TPE trials; brentq's most iterations"),
    "tpe_parallel": P.size("count", 1, 1, doc="TPE trials asked, evaluated and told together "
                                "(1: sequential TPE; more: batch-parallel TPE)"),
    "xtol": P.positive_float(1e-7, "brentq's bracket width at which it stops (value units)"),
    "area_path": P.choice("fast", AREA_PATHS, "how each area is computed"),
    "curve_points": P.size("count", 21, 0, doc="values over [-1, 1] where the area is measured "
                                "for the monotone check and the area-vs-value figure"),
    "optuna_storage": P.Param("", "'' (the store's own: schema 'optuna' of its database, or "
                              "X.optuna.db beside X.db), 'memory', or an Optuna RDB URL such "
                              "as 'sqlite:///studies.db'", _storage_ok,
                              "where the Optuna studies go"),
    "optuna_write": P.choice("end", dict.fromkeys(WRITE_MODES), "write the Optuna studies "
                             "when the trial ends, or live"),
}

METRICS = ("original_area", "target_area", "tpe_rel_error", "tpe_evals_to_tol",
           "tpe_seconds_to_tol", "tpe_value", "tpe_evals", "tpe_seconds", "brentq_rel_error",
           "brentq_evals_to_tol", "brentq_seconds_to_tol", "brentq_value", "brentq_evals",
           "brentq_seconds", "monotone", "n_points", "setup_seconds", "replays")
TIMINGS = tuple(m for m in METRICS if "seconds" in m)  # not compared by suite verify


class Engine:
    """area(value) for one setting and path, by the fast or the full path."""

    def __init__(self, setting: Setting, cls: int, how: str):
        self.setting, self.how = setting, how
        t0 = time.perf_counter()

        def make_path(scale):
            return WeightPath.of(setting.final, cls, scale)

        if how == "fast":
            self.fast = FastArea(setting, make_path)
            self.survey, self.path = self.fast.survey, self.fast.path
        else:
            self.fast = None
            self.survey = survey(setting)
            self.path = make_path(self.survey.scale)
        self.setup_seconds = time.perf_counter() - t0

    def area(self, value: float) -> float:
        if self.fast is not None:
            return self.fast.area(value)
        return class_fraction(self.setting, self.path.at(value))


def geometry(path: WeightPath) -> dict:
    """What the report shows about the path (text and its numbers for this model)."""
    p = path.projection
    return {"text": GEOMETRY, "class": p.cls, "components": int(p.decision.size),
            "nonneg": int(p.nonneg.size), "length": p.length, "scale": list(path.scale),
            "value_range": [-1.0, 1.0]}


def control(setting: Setting, cls: int, config, seeds, context=None):
    """Run one trial's searches; returns (metrics, artifacts). `context` is the trial's
    `suite.tasks.base.TrialContext` (trial id and store), or None outside a store."""
    plan = optuna_plan(config, seeds, context)  # a bad storage fails before any work
    engine = Engine(setting, cls, config["area_path"])
    original = engine.survey.area
    target = config["target_ratio"] * original
    metrics = {"original_area": original, "target_area": target, "n_points": engine.survey.n,
               "setup_seconds": engine.setup_seconds}
    artifacts = {"geometry": geometry(engine.path), "columns": list(COLUMNS),
                 "evaluations": {}, "notes": []}
    if original == 0:
        artifacts["notes"].append("the original area is 0: there is no area to control")
    else:
        with quiet_optuna():
            _search(engine, target, config, seeds, plan, metrics, artifacts)
    values = np.linspace(-1.0, 1.0, config["curve_points"]).tolist()
    areas = [engine.area(v) for v in values]
    artifacts["curve"] = {"values": values, "areas": areas}
    metrics["monotone"] = float(is_monotone(areas)) if len(areas) > 1 else None
    metrics["replays"] = engine.fast.replays if engine.fast is not None else None
    return {m: metrics.get(m) for m in METRICS}, artifacts


def optuna_plan(config, seeds, context) -> OptunaPlan:
    """Where this trial's Optuna studies go, named after its trial id."""
    trial_id, store = (context.trial_id, context.store) if context else ("", "")
    return OptunaPlan(storage_url(config["optuna_storage"], store),
                      trial_id or f"untracked-{seeds.index}", config["optuna_write"])


def _search(engine: Engine, target, config, seeds, plan: OptunaPlan, metrics, artifacts):
    bounds = bracket(engine.survey.area, target)
    artifacts["bounds"] = list(bounds)
    tpe = brentq_records = None
    for method in config["methods"]:
        if method == "tpe":
            tpe = tpe_search(engine.area, target, bounds, config["budget"], seeds.sampler, plan,
                             config["tpe_parallel"])
            records, final = tpe.records, best(tpe.records)
            artifacts["tpe"] = {"parallel": config["tpe_parallel"], "constant_liar": True}
        else:
            records, root, note = brentq_search(engine.area, target, bounds, config["budget"],
                                                config["xtol"])
            brentq_records, final = records, at_value(records, root)
            if note:
                artifacts["notes"].append(note)
        artifacts["evaluations"][method] = [r.row() for r in records]
        metrics |= summary(method, records, target, config["tolerance"], final)
    attrs = {"suite_trial": plan.name, "target_area": target,
             "original_area": engine.survey.area,
             "geometry": "suite.tasks.weight_path (the suite trial's artifacts explain it)"}
    names = save_studies(plan, tpe, brentq_records, bounds, target, attrs)
    storage = public_target(plan.url) if plan.url else None  # a store's password is no artifact
    artifacts["optuna"] = {"storage": storage, "studies": names, "write": plan.write}
