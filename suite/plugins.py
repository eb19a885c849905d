"""The public extension API: bring your own tasks, datasets, models and figures.

Everything a plug-in needs is importable from here (see `__all__`); the rest of the suite
is internal and may move. Two ways to bring code, both loaded by the suite itself:

- **An installed package** declares entry points in its `pyproject.toml`::

      [project.entry-points."suite.tasks"]
      rings = "suite_rings:TASK"            # a Task (its name must be the entry's)
      [project.entry-points."suite.datasets"]
      rings = "suite_rings:rings"           # maker(n, seed, noise) -> Points
      [project.entry-points."suite.models"]
      wide-mlp = "suite_rings:wide_mlp"     # builder(config, n_in, n_out, generator)
      [project.entry-points."suite.figures"]
      rings_data = "suite_rings:draw_data"  # draw(FigureContext) -> matplotlib Figure

  The groups are read with `importlib.metadata` the first time a study names a task the
  suite does not ship, and by `suite list`, which shows where each task comes from.
- **A Python file beside the study** (no package needed): `[task] kind =
  "my_tasks.py:TASK"` loads `my_tasks.py` from the study file's folder and uses its
  attribute `TASK` (a `Task`); a top-level `plugins = ["more.py"]` loads files whose
  `register_task` / `register_dataset` / ... calls add components by name.

**The trial's identity.** A trial of a plug-in task (or of any task whose config names a
plug-in dataset or model) carries `config["plugins"]`: for each plug-in component it
uses, where it comes from (the distribution's name and version, or the file's name) and
`code`, a digest of the plug-in's source files (the whole top-level package of the
module that defines it, or the one file). That entry is part of the config, hence of the
trial's identity: editing the plug-in's code makes its trials new ones (they run again),
leaving it unchanged finds them finished in the store. `suite verify` re-runs a trial
only with the same plug-in code, and otherwise says which version the trial needs.

**Errors.** A plug-in that fails to import, registers a name that is already taken by
other code, or breaks the `Task` contract (below) stops the command with one sentence
naming the plug-in (`PluginError`, exit status 2).
"""

from suite.errors import PluginError
from suite.figures import FigureContext, FigureUnavailable
from suite.seeding import TrialSeeds
from suite.study.plugin_loading import (  # noqa: F401  (the machinery, for the suite's own use)
    _FILES,
    _ORIGINS,
    GROUPS,
    Origin,
    check_outcome,
    code_digest,
    describe,
    is_file_kind,
    is_plugin_task,
    load_declared,
    load_file,
    load_installed,
    load_reference,
    missing,
    origin_of,
    register_dataset,
    register_figure,
    register_model,
    register_task,
    registered,
    stamps,
    task_from_file,
)
from suite.tasks.base import Task, TrialContext, TrialOutcome
from suite.tasks.params import (
    Param,
    boolean,
    choice,
    fraction,
    int_range,
    non_negative_float,
    positive_float,
    widths,
)
from suite.training.datasets import Points

__all__ = [
    "Task", "TrialOutcome", "TrialSeeds", "TrialContext", "Points", "Param",
    "positive_float", "non_negative_float", "fraction", "int_range", "boolean", "choice",
    "widths", "FigureContext", "FigureUnavailable", "PluginError",
    "register_task", "register_dataset", "register_model", "register_figure",
    "GROUPS",
]

# The task contract, stated once (Task's own docstring points here).
TASK_CONTRACT = """A `Task` is what one trial of a study runs. An implementation guarantees:

- `name`: the name studies give as `[task] kind`; `params`: every parameter it accepts,
  each a `Param` (default, the words for a good value, a check); `check(config, fail)`
  rules that span several parameters (call `fail(key, expected, given)`).
- `metrics`, `curves`, `figures`: the names it records and the figures it can draw.
- `run(config, seeds, device) -> TrialOutcome` is a pure function of the resolved config
  (a dict of every parameter, plus `task` and, for plug-ins, `plugins`) and the
  `TrialSeeds` it is given: all randomness comes from `seeds` (one generator per
  purpose: `seeds.generator("init")`, `seeds.numpy("data")`, `seeds.split("data", 3)`),
  never from global state, so that `suite verify` re-running it from the stored row gets
  the same status, metrics, curves and blobs bit for bit on the same kind of device.
- The outcome has every declared metric: a float, or None when it is undefined for this
  trial; a metric that is NaN or infinite must be named in
  `artifacts["undefined"] = {metric: reason}` (it is then stored as undefined). Curves
  are per-epoch lists of floats; `blobs["state_dict"]` (bytes) is compared by verify.
- Optional `run_batch(config, [seeds, ...], device)`: several trials of one config at
  once, one outcome per seed, each equal to what `run` gives that seed alone. The runner
  checks this on the first group of every run and refuses a task that breaks it.
- `runtime`: parameters that say where inputs are, not what is computed (a data path):
  left out of the identity, settable on the command line; `prepare(config)` checks or
  fetches inputs once per config before any trial runs.
- The identity of a trial is its study, variant, config (runtime parameters left out;
  the plug-in code digest in), seeds and the suite version: change any and it is a new
  trial."""
