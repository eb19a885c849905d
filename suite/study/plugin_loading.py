"""The plug-ins a study loads, and the tables they fill: where each component comes from
(`Origin`), loading plug-in files and installed entry points, registering components in the
suite's tables (tasks, datasets, models, figures), and the identity stamps of plug-in code.

This is the machinery behind the public facade `suite.plugins` (which re-exports the
`register_*` calls): it sits in the study layer because validating and planning a study
loads the plug-ins it names, and it reaches the tables below it (tasks, training, figures)
only inside functions, so validating a study imports neither torch nor matplotlib.
"""

import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from suite.errors import PluginError
from suite.tasks.base import Task, TrialOutcome

GROUPS = {"suite.tasks": "task", "suite.datasets": "dataset", "suite.models": "model",
          "suite.figures": "figure"}



# -- where components come from ---------------------------------------------------------
@dataclass(frozen=True)
class Origin:
    """Where a plug-in component comes from: `source` names it for people (a
    distribution 'suite-rings 0.1.0', or a file path), `label` is what the trial's
    identity records ('suite-rings 0.1.0' or the file's name), `code` the source digest."""

    source: str
    label: str
    code: str

    def stamp(self) -> dict:
        return {"from": self.label, "code": self.code}


_ORIGINS: dict[tuple[str, str], Origin] = {}
_LOADING: list[tuple[str, str]] = []  # (source, label) of the plug-in being imported
_FILES: dict[Path, tuple[str, object]] = {}  # loaded plug-in files: digest, module
_installed = False


def _tables() -> dict[str, dict]:
    from suite import figures, tasks
    from suite.training import datasets, models

    return {"task": tasks.TASKS, "dataset": datasets.DATASETS, "model": models.MODELS,
            "figure": figures.FIGURES}


def origin_of(kind: str, name: str) -> Origin | None:
    """The plug-in origin of a registered component; None for the suite's own."""
    return _ORIGINS.get((kind, name))


def registered() -> list[tuple[str, str]]:
    """(kind, name) of every plug-in component registered in this process."""
    return sorted(_ORIGINS)


def describe(kind: str, name: str) -> str:
    """Where a component comes from, in words (for `suite list`)."""
    o = origin_of(kind, name)
    if o is None:
        from suite import __version__

        return f"suite {__version__} (built in)"
    return f"{o.source}, code {o.code}"


def _register(kind: str, name: str, obj, origin: Origin) -> None:
    table = _tables()[kind]
    old = _ORIGINS.get((kind, name))
    if name in table and (old is None or old.source != origin.source):
        where = old.source if old else "the suite itself"
        raise PluginError(f"The plug-in {origin.source} registers the {kind} '{name}', which "
                          f"{where} already registers; rename one of them.")
    table[name] = obj
    _ORIGINS[(kind, name)] = origin


def _origin_for(obj) -> Origin:
    """The origin of code registered now: the plug-in being loaded, else the module
    that defines `obj` (a notebook's own task, say)."""
    code = code_digest(obj)
    if _LOADING:
        source, label = _LOADING[-1]
        return Origin(source, label, code)
    module = inspect.getmodule(obj)
    name = getattr(module, "__name__", "?")
    return Origin(f"module {name}", name, code)


def register_task(task: Task) -> Task:
    """Add `task` under `task.name`. It must honour the contract in `suite.plugins.TASK_CONTRACT`.
    Registering a name another plug-in or the suite already has raises PluginError."""
    if not isinstance(task, Task):
        raise PluginError(f"register_task needs a suite.plugins.Task, not "
                          f"{type(task).__name__}.")
    _register("task", task.name, task, _origin_for(task.run))
    return task


def register_dataset(name: str, maker: Callable | None = None):
    """Add a dataset maker `maker(n, seed, noise) -> Points` (float32 features (n, d),
    int64 labels 0..k-1, on the CPU), a pure function of its arguments: every split of a
    trial is drawn from its own seed. Tasks that choose their dataset by name (the
    `supervised` task's `dataset`) accept it. Usable as a decorator."""
    def wrap(fn):
        _register("dataset", name, fn, _origin_for(fn))
        return fn

    return wrap(maker) if maker is not None else wrap


def register_model(name: str, builder: Callable | None = None):
    """Add a model builder `builder(config, n_inputs, n_outputs, generator) -> nn.Module`
    that initialises every weight from `generator` only. The `supervised` task trains
    several seeds as one stacked MLP, so for it the module must be a
    `suite.training.models.MLP` (e.g. another initialisation); plug-in tasks may build
    anything.
    Usable as a decorator."""
    def wrap(fn):
        _register("model", name, fn, _origin_for(fn))
        return fn

    return wrap(builder) if builder is not None else wrap


def register_figure(name: str, draw: Callable | None = None):
    """Add a figure `draw(ctx: FigureContext) -> matplotlib Figure`; `ctx` holds the
    study, its stored trial rows and the store (curves, blobs). Compute the figure's data
    in a pure function and keep drawing thin; raise FigureUnavailable(reason) when it
    does not apply. Figures are not part of any trial's identity. Usable as a decorator."""
    def wrap(fn):
        _register("figure", name, fn, _origin_for(fn))
        return fn

    return wrap(draw) if draw is not None else wrap


# -- code digests -----------------------------------------------------------------------
def _hash_files(paths) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def code_digest(obj) -> str:
    """A digest of the source files of the plug-in that defines `obj`: every .py file of
    its top-level package, or its module's one file; else of its own source text."""
    module = inspect.getmodule(obj)
    file = getattr(module, "__file__", None)
    if file:
        top = sys.modules.get((module.__name__ or "").split(".")[0])
        paths = getattr(top, "__path__", None) if top is not module else None
        if paths:
            return _hash_files(p for folder in paths for p in Path(folder).rglob("*.py"))
        return _hash_files([Path(file)])
    try:
        return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]
    except (OSError, TypeError):
        return "unknown"


# -- loading ----------------------------------------------------------------------------
@contextmanager
def _loading(source: str, label: str):
    _LOADING.append((source, label))
    try:
        yield
    finally:
        _LOADING.pop()


def _failed(what: str, e: BaseException) -> PluginError:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    where = ""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        where = f" ({Path(tb.tb_frame.f_code.co_filename).name}, line {tb.tb_lineno})"
    return PluginError(f"The plug-in {what} failed to import: {type(e).__name__}"
                       f"{': ' + text if text else ''}{where}.")


def load_installed() -> None:
    """Register every installed package's entry points (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    from importlib.metadata import entry_points

    for group, kind in GROUPS.items():
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ep.module
            source = f"{dist} (entry point {ep.name} = {ep.value})"
            with _loading(source, dist):
                try:
                    obj = ep.load()
                except Exception as e:
                    raise _failed(f"{ep.value} (entry point '{ep.name}' in '{group}' of "
                                  f"{dist})", e) from None
                _register_entry(kind, ep.name, obj, source)


def _register_entry(kind: str, name: str, obj, source: str) -> None:
    if kind == "task":
        if callable(obj) and not isinstance(obj, Task):
            obj = obj()
        if not isinstance(obj, Task):
            raise PluginError(f"The plug-in {source} must point at a suite.plugins.Task, "
                              f"not a {type(obj).__name__}.")
        if obj.name != name:
            raise PluginError(f"The plug-in {source} is named '{name}' but its task is "
                              f"named '{obj.name}'; make them equal.")
        _register("task", name, obj, _origin_for(obj.run))
    else:
        _register(kind, name, obj, _origin_for(obj))


def load_file(path: str | Path, study_file: str = "") -> object:
    """Import a plug-in file (once per content: an edited file is imported again and its
    registrations replaced); returns its module."""
    path = Path(path).resolve()
    where = f"{study_file}: " if study_file else ""
    if not path.is_file():
        raise PluginError(f"{where}the plug-in file {path.name} does not exist (looked in "
                          f"{path.parent}).")
    digest = _hash_files([path])
    cached = _FILES.get(path)
    if cached and cached[0] == digest:
        return cached[1]
    name = f"suite_plugin_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with _loading(str(path), path.name):
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            sys.modules.pop(name, None)
            raise _failed(f"file {path}", e) from None
    _FILES[path] = (digest, module)
    return module


def task_from_file(path: Path, attribute: str, study_file: str) -> Task:
    """The Task at `attribute` of the plug-in file `path`, registered under its name."""
    module = load_file(path, study_file)
    task = getattr(module, attribute, None)
    if not isinstance(task, Task):
        found = "nothing" if task is None else f"a {type(task).__name__}"
        raise PluginError(f"{study_file}: the plug-in file {path.name} must define "
                          f"{attribute} as a suite.plugins.Task; it has {found}.")
    with _loading(str(path.resolve()), path.name):  # (again after an edit: new digest)
        _register("task", task.name, task, _origin_for(task.run))
    return task


def load_reference(ref: str) -> None:
    """Load a plug-in file named by `Study.plugin_files`: 'PATH' (its register_* calls)
    or 'PATH:ATTRIBUTE' (the Task there, registered under its name)."""
    if ref.endswith(".py"):
        load_file(ref)
    else:
        path, _, attribute = ref.rpartition(":")
        task_from_file(Path(path), attribute, "")


def load_declared(raw: Mapping, source: str) -> None:
    """Load the plug-in files a stored declaration names (`plugins`, and a `kind` of
    'file.py:NAME') from its study file's folder."""
    base = Path(source).resolve().parent
    for f in raw.get("plugins", []):
        if isinstance(f, str):
            load_file(base / f, source)
    kind = raw.get("task", {}).get("kind") if isinstance(raw.get("task"), dict) else None
    if isinstance(kind, str) and is_file_kind(kind):
        file, _, attribute = kind.partition(":")
        task_from_file(base / file, attribute or "TASK", source)


def is_file_kind(kind: str) -> bool:
    return kind.split(":")[0].endswith(".py")


# -- identity and contract --------------------------------------------------------------
def stamps(task: Task, config: Mapping) -> dict:
    """{"task NAME" / "dataset NAME" / "model NAME": origin stamp} for the plug-in
    components a config uses: its task, and the values of its parameters that choose a
    plug-in dataset or model by name."""
    out = {}
    o = origin_of("task", task.name)
    if o is not None:
        out[f"task {task.name}"] = o.stamp()
    tables = _tables()
    for key, p in task.params.items():
        for kind in ("dataset", "model"):
            if p.choices is tables[kind] and isinstance(config.get(key), str):
                o = origin_of(kind, config[key])
                if o is not None:
                    out[f"{kind} {config[key]}"] = o.stamp()
    return out


def missing(config: Mapping) -> str:
    """Why this machine cannot re-run a stored trial's plug-in code ('' when it can)."""
    for key, stamp in (config.get("plugins") or {}).items():
        kind, name = key.split(" ", 1)
        o = origin_of(kind, name)
        needed = f"the plug-in {kind} '{name}' from {stamp['from']} (code {stamp['code']})"
        if o is None:
            return f"it needs {needed}, which is not installed or loaded here"
        if o.stamp() != stamp:
            return f"it needs {needed}; here it comes from {o.label} (code {o.code})"
    return ""


def is_plugin_task(name: str) -> bool:
    return origin_of("task", name) is not None


def check_outcome(task: Task, outcome: TrialOutcome) -> None:
    """Refuse an outcome that breaks the contract: a declared metric missing, or a
    non-finite one that `artifacts["undefined"]` does not declare."""
    source = origin_of("task", task.name).source
    absent = [m for m in task.metrics if m not in outcome.metrics]
    if absent:
        raise PluginError(f"The plug-in task '{task.name}' ({source}) breaks the task "
                          f"contract: its outcome lacks the declared metric(s) "
                          f"{', '.join(absent)} (give None for an undefined one).")
    declared = outcome.artifacts.get("undefined") or {}
    bad = [m for m in outcome.nonfinite if m not in declared]
    if bad:
        raise PluginError(f"The plug-in task '{task.name}' ({source}) breaks the task "
                          f"contract: metric {bad[0]} is not finite and not declared "
                          "undefined (name it in artifacts['undefined'] with the reason).")



def get_task(name: str) -> Task:
    """The task called `name`: shipped, or from an installed plug-in (loaded on first
    need, in whichever process runs the trial)."""
    from suite import tasks

    if name not in tasks.TASKS:
        load_installed()
    return tasks.get(name)
