"""Study declarations: parse a TOML file into a validated `Study`, before any compute.

A declaration looks like this (every key but `name`, `[task].kind` and one axis is
optional; parameters not given keep the task's defaults, which are its recipe):

    name = "spiral-layers"
    description = "Depth of a 10-neuron ReLU MLP on the two spirals."

    [task]                 # kind picks the code; other keys are parameters of it
    kind = "supervised"
    dataset = "spirals"
    model = "mlp"

    [fixed]                # parameters held constant
    n_neurons = 10

    [scientific]           # the axes the study varies; their product is the grid
    n_hidden_layers = [1, 2, 3, 5, 10]
    # an axis of tables sets several parameters together, e.g. models of given shape:
    # model_shape = [{ n_hidden_layers = 3, n_neurons = 5 }, { label = "deep", ... }]

    [nuisance]             # averaged over: the seeds (always)
    seeds = 5
    root_seed = 2026
    # optional: nuisance axes searched for each scientific value (tuning playbook), e.g.
    # search = { lr = [0.01, 0.1, 1.0] }: in the grid like an axis; the `isolation` figure
    # keeps each seed's best value over them

    metrics = ["val_accuracy", "test_accuracy"]
    figures = ["data", "metric_vs_axis", "loss_curves", "decision_boundary"]

    [quick]                # the CI-sized variant: same code path, smaller numbers
    seeds = 2
    fixed = { epochs = 5, n_train = 400 }
    scientific = { n_hidden_layers = [1, 3] }   # replaces the named axes only
    search = { lr = [0.1] }                     # the same for the searched nuisance axes

Every rule broken raises `DeclarationError` naming the file, the key, what was
expected and what was given.
"""

import copy
import dataclasses
import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite import tasks
from suite.errors import DeclarationError, SuiteError, did_you_mean
from suite.study import plugin_loading as plugins
from suite.tasks.base import Task

TOP_KEYS = ("name", "description", "task", "fixed", "scientific", "nuisance", "metrics",
            "figures", "quick", "reference", "plugins")
NUISANCE_KEYS = ("seeds", "root_seed", "search")
REFERENCE_KEYS = ("metric", "source", "values")
QUICK_KEYS = ("seeds", "fixed", "scientific", "search")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class AxisValue:
    label: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[AxisValue, ...]
    searched: bool = False  # a nuisance axis searched per scientific value ([nuisance].search)


@dataclass(frozen=True)
class Study:
    name: str
    description: str
    source: str
    task: Task
    fixed: dict[str, Any]
    axes: tuple[Axis, ...]
    seeds: int
    root_seed: int
    metrics: tuple[str, ...]
    figures: tuple[str, ...]
    quick: bool = False
    reference: dict = field(default_factory=dict)
    declaration: dict = field(default_factory=dict, compare=False)
    # plug-in files the declaration loads, as absolute paths, 'PATH:ATTRIBUTE' for the
    # task's own file (`suite.plugins.load_reference`: worker processes load them too)
    plugin_files: tuple[str, ...] = field(default=(), compare=False)

    def scientific_keys(self) -> set[str]:
        """The parameters the grid varies (searched nuisance axes included)."""
        return {k for a in self.axes for v in a.values for k in v.settings}

    def searched_axes(self) -> tuple[str, ...]:
        """Names of the nuisance axes searched per scientific value."""
        return tuple(a.name for a in self.axes if a.searched)


class _Checker:
    """Raises DeclarationError in the one sentence shape for one file and study."""

    def __init__(self, source: str, study: str):
        self.source, self.study = source, study
        self.base, self.files = Path("."), []  # where plug-in files are; those loaded

    def fail(self, key: str, expected: str, given, hint: str = ""):
        err = DeclarationError(self.source, self.study, key, expected, given)
        if hint:
            err.args = (err.args[0] + hint,)
        raise err

    def unknown_keys(self, table: dict, valid, where: str):
        for key in table:
            if key not in valid:
                names = ", ".join(f"'{v}'" for v in valid)
                self.fail(f"{where}{key}", f"absent: unknown key (valid keys: {names})", key,
                          did_you_mean(key, valid))

    def typed(self, table: dict, key: str, kind, expected: str, where: str = ""):
        value = table.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(f"{where}{key}", expected, value)
        return value


def load_file(path: str | Path, *, quick: bool = False) -> Study:
    """Parse and validate the declaration at `path` (its quick variant when `quick`)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"No study file at {path}.") from None
    except tomllib.TOMLDecodeError as e:
        raise SuiteError(f"{path}: not valid TOML ({e}).") from None
    return parse(raw, str(path), quick=quick)


def parse(raw: dict, source: str, *, quick: bool = False, base: str | Path | None = None) -> Study:
    """Validate a parsed declaration; both variants are checked, one is returned.
    Plug-in files it names are loaded from `base`, by default the folder of `source`."""
    name = raw.get("name")
    c = _Checker(source, name if isinstance(name, str) else "?")
    c.unknown_keys(raw, TOP_KEYS, "")
    if not isinstance(name, str) or not NAME_RE.match(name):
        c.fail("name", "a lowercase name of letters, digits and dashes", name)
    c.base = Path(base) if base is not None else Path(source).resolve().parent
    c.files = _plugin_files(raw, c)
    full = _build(raw, c, quick=False)
    _check_reference(raw.get("reference"), c, full)
    quick_study = _build(_with_quick(raw, c), c, quick=True)
    # Both variants keep the file's own declaration (with its [quick] table), so that the
    # one stored with a run parses back to the same study.
    return dataclasses.replace(quick_study, declaration=raw) if quick else full


def _plugin_files(raw: dict, c: _Checker) -> list[str]:
    """Load the files of the `plugins` key (their register_* calls add components)."""
    given = raw.get("plugins", [])
    if not isinstance(given, list) or not all(isinstance(f, str) and f.endswith(".py")
                                              for f in given):
        c.fail("plugins", "a list of Python file names (relative to the study file's folder)",
               given)
    for f in given:
        plugins.load_file(c.base / f, c.source)
    return [str((c.base / f).resolve()) for f in given]


def _with_quick(raw: dict, c: _Checker) -> dict:
    q = raw.get("quick", {})
    if not isinstance(q, dict):
        c.fail("quick", "a table", q)
    c.unknown_keys(q, QUICK_KEYS, "quick.")
    merged = copy.deepcopy(raw)
    for part in ("fixed", "scientific"):
        sub = q.get(part, {})
        if not isinstance(sub, dict):
            c.fail(f"quick.{part}", "a table", sub)
        merged.setdefault(part, {}).update(copy.deepcopy(sub))
    if "seeds" in q:
        merged.setdefault("nuisance", {})["seeds"] = q["seeds"]
    if "search" in q:
        if not isinstance(q["search"], dict):
            c.fail("quick.search", "a table", q["search"])
        nuisance = merged.setdefault("nuisance", {})
        if isinstance(nuisance, dict):
            nuisance.setdefault("search", {}).update(copy.deepcopy(q["search"]))
    return merged


def _build(raw: dict, c: _Checker, *, quick: bool) -> Study:
    task, task_params = _task(raw, c)
    fixed = _fixed(raw, c, task, task_params)
    axes = _axes(raw, c, task) + _search_axes(raw, c, task)
    varied_by: dict[str, str] = {}
    for axis in axes:
        kind = "searched nuisance" if axis.searched else "scientific"
        for v in axis.values:
            for key in v.settings:
                if key in fixed:
                    c.fail(f"fixed.{key}", f"absent, since '{key}' is varied by the {kind} "
                           f"axis '{axis.name}'", fixed[key])
                if varied_by.get(key, axis.name) != axis.name:
                    c.fail(f"nuisance.search.{axis.name}", f"an axis of parameters no other "
                           f"axis varies ('{key}' is varied by '{varied_by[key]}')", key)
                varied_by[key] = axis.name
    seeds, root = _nuisance(raw, c)
    metrics = _names(raw, c, "metrics", task.metrics)
    figures = _names(raw, c, "figures", task.figures)
    study = Study(name=raw["name"], description=str(raw.get("description", "")),
                  source=c.source, task=task, fixed=fixed, axes=axes, seeds=seeds,
                  root_seed=root, metrics=metrics, figures=figures, quick=quick,
                  reference=raw.get("reference", {}), declaration=raw,
                  plugin_files=tuple(c.files))
    _check_points(study, c)
    return study


def _task(raw, c) -> tuple[Task, dict]:
    t = raw.get("task")
    if not isinstance(t, dict):
        c.fail("task", "a table with at least 'kind'", t)
    kind = t.get("kind")
    params = {k: v for k, v in t.items() if k != "kind"}
    if isinstance(kind, str) and plugins.is_file_kind(kind):
        file, _, attribute = kind.partition(":")
        task = plugins.task_from_file(c.base / file, attribute or "TASK", c.source)
        ref = f"{(c.base / file).resolve()}:{attribute or 'TASK'}"  # workers load it too
        if ref not in c.files:
            c.files.append(ref)
        return task, params
    if kind not in tasks.TASKS:
        plugins.load_installed()
    if kind not in tasks.TASKS:
        names = ", ".join(f"'{n}'" for n in sorted(tasks.TASKS))
        c.fail("task.kind", f"one of {names}, or a plug-in file's task as 'file.py:NAME'",
               kind, did_you_mean(kind, tasks.TASKS))
    return tasks.TASKS[kind], params


def _param(c, task: Task, key: str, value, where: str):
    if key not in task.params:
        names = ", ".join(f"'{p}'" for p in task.params)
        c.fail(where, f"a parameter of task '{task.name}' ({names})", key,
               did_you_mean(key, task.params))
    p = task.params[key]
    if not p.check(value):
        c.fail(where, p.expected, value, p.hint(value))
    return p.normalise(value)


def _fixed(raw, c, task: Task, task_params: dict) -> dict:
    fixed = raw.get("fixed", {})
    if not isinstance(fixed, dict):
        c.fail("fixed", "a table of parameter values", fixed)
    out = {k: _param(c, task, k, v, f"task.{k}") for k, v in task_params.items()}
    for k, v in fixed.items():
        if k in out:
            c.fail(f"fixed.{k}", "given once (it is already set in [task])", v)
        out[k] = _param(c, task, k, v, f"fixed.{k}")
    return out


def _axes(raw, c, task: Task) -> tuple[Axis, ...]:
    sci = raw.get("scientific")
    if not isinstance(sci, dict) or not sci:
        c.fail("scientific", "a table with at least one axis", sci)
    return tuple(_axis(c, task, name, values) for name, values in sci.items())


def _search_axes(raw, c, task: Task) -> tuple[Axis, ...]:
    """The nuisance axes searched per scientific value: `[nuisance] search = {...}`."""
    n = raw.get("nuisance", {})
    search = n.get("search", {}) if isinstance(n, dict) else {}
    if not isinstance(search, dict):
        c.fail("nuisance.search", "a table of axes (e.g. { lr = [0.01, 0.1] })", search)
    sci = raw.get("scientific") or {}
    out = []
    for name, values in search.items():
        if name in sci:
            c.fail(f"nuisance.search.{name}", "an axis name not also in [scientific]", name)
        axis = _axis(c, task, name, values, "nuisance.search")
        out.append(dataclasses.replace(axis, searched=True))
    return tuple(out)


def _axis(c, task: Task, name: str, values, prefix: str = "scientific") -> Axis:
    where = f"{prefix}.{name}"
    if not isinstance(values, list) or not values:
        c.fail(where, "a non-empty list of values", values)
    if all(isinstance(v, dict) for v in values):
        return Axis(name, tuple(_compound(c, task, where, i, v) for i, v in enumerate(values)))
    if name not in task.params:
        _param(c, task, name, None, where)  # raises: unknown parameter, with did-you-mean
    out = tuple(AxisValue(_label(v), {name: _param(c, task, name, v, f"{where}[{i}]")})
                for i, v in enumerate(values))
    _no_duplicates(c, where, out)
    return Axis(name, out)


def _compound(c, task, where, i, table: dict) -> AxisValue:
    settings = {k: _param(c, task, k, v, f"{where}[{i}].{k}")
                for k, v in table.items() if k != "label"}
    if not settings:
        c.fail(f"{where}[{i}]", "a table setting at least one parameter", table)
    label = table.get("label", ", ".join(f"{k}={_label(v)}" for k, v in settings.items()))
    return AxisValue(str(label), settings)


def _label(v) -> str:
    if isinstance(v, list):
        return "-".join(map(str, v))
    return str(v)


def _no_duplicates(c, where, values):
    seen = set()
    for v in values:
        if v.label in seen:
            c.fail(where, "a list of distinct values", v.label)
        seen.add(v.label)


def _nuisance(raw, c) -> tuple[int, int]:
    n = raw.get("nuisance", {})
    if not isinstance(n, dict):
        c.fail("nuisance", "a table", n)
    c.unknown_keys(n, NUISANCE_KEYS, "nuisance.")
    n = {"seeds": 5, "root_seed": 0} | n
    seeds = c.typed(n, "seeds", int, "a positive integer (the number of seeds)", "nuisance.")
    if seeds < 1:
        c.fail("nuisance.seeds", "a positive integer (the number of seeds)", seeds)
    root = c.typed(n, "root_seed", int, "a non-negative integer", "nuisance.")
    if root < 0:
        c.fail("nuisance.root_seed", "a non-negative integer", root)
    return seeds, root


def _names(raw, c, key: str, valid) -> tuple[str, ...]:
    given = raw.get(key, list(valid))
    if key not in raw and not valid:  # a task that draws no figures
        return ()
    if not isinstance(given, list) or not given:
        c.fail(key, f"a non-empty list of names among {', '.join(valid)}", given)
    for i, name in enumerate(given):
        if name not in valid:
            c.fail(f"{key}[{i}]", f"one of {', '.join(repr(v) for v in valid)}", name,
                   did_you_mean(name, valid))
    return tuple(given)


def _check_points(study: Study, c: _Checker) -> None:
    """Run the task's cross-parameter rules on every point of the grid."""
    for labels, config in grid(study):
        where = ", ".join(f"{k}={v}" for k, v in labels.items())

        def fail(key, expected, given, where=where):
            c.fail(key, f"{expected} (at the grid point {where})", given)

        study.task.check(config, fail)


def _check_reference(ref, c: _Checker, study: Study) -> None:
    """A published reference: one of the study's metrics, keyed by labels of its single
    scientific axis (the full variant's labels; the quick variant may run fewer)."""
    if ref is None:
        return
    if not isinstance(ref, dict):
        c.fail("reference", "a table with 'metric', 'source' and 'values'", ref)
    c.unknown_keys(ref, REFERENCE_KEYS, "reference.")
    metric = ref.get("metric")
    if metric not in study.metrics:
        names = ", ".join(f"'{m}'" for m in study.metrics)
        c.fail("reference.metric", f"one of the study's metrics ({names})", metric,
               did_you_mean(metric, study.metrics))
    c.typed(ref, "source", str, "a string saying where the published numbers come from",
            "reference.")
    if len(study.axes) != 1:
        names = ", ".join(f"'{a.name}'" for a in study.axes)
        c.fail("reference", f"given only for a study with one scientific axis (this one has "
               f"{len(study.axes)}: {names})", "[reference]")
    values = ref.get("values")
    if not isinstance(values, dict) or not values:
        c.fail("reference.values", "a non-empty table of numbers keyed by axis label", values)
    axis = study.axes[0]
    labels = [v.label for v in axis.values]
    for key, value in values.items():
        if key not in labels:
            c.fail(f"reference.values.{key}", f"a label of the axis '{axis.name}' "
                   f"({', '.join(repr(x) for x in labels)})", key, did_you_mean(key, labels))
        if isinstance(value, bool) or not isinstance(value, int | float):
            c.fail(f"reference.values.{key}", "a number", value)


def grid(study: Study):
    """Yield (labels, config) for every point of the product of the scientific axes."""
    base = {"task": study.task.name, **study.task.defaults(), **study.fixed}
    for combo in itertools.product(*(axis.values for axis in study.axes)):
        config = dict(base)
        for v in combo:
            config.update(v.settings)
        stamps = plugins.stamps(study.task, config)
        if stamps:  # the plug-in code that computes this config is part of its identity
            config["plugins"] = stamps
        yield {a.name: v.label for a, v in zip(study.axes, combo, strict=True)}, config
