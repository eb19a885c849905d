"""The seam between a study declaration and the code that runs one of its trials.

A task (dataset + model family + recipe) declares the parameters it accepts, the
metrics and per-epoch curves it records and the figures it can draw, checks rules that
span several parameters, and runs one trial from a resolved config and its seeds.
"""

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from suite.seeding import TrialSeeds
from suite.tasks.params import Param

# A trial's outcome: `ok`; `diverged` (a non-finite loss: its metrics are undefined and the
# statistics leave them out); `stalled` (its training loss never fell below the untrained
# model's: metrics kept and averaged, the trial counted separately). `suite.analysis`.
STATUSES = ("ok", "diverged", "stalled")

UNIT = (0.0, 1.0)


def unit_bounds(*metrics: str) -> dict[str, tuple[float, float]]:
    """Bounds (0, 1) for each named metric: accuracies, AUCs, shares."""
    return dict.fromkeys(metrics, UNIT)


# fail(key, expected, given): report a broken cross-parameter rule.
Fail = Callable[[str, str, Any], None]


@dataclass
class TrialOutcome:
    """What one trial produced. `metrics` values are floats or None (undefined);
    `curves` are per-epoch series; `blobs["state_dict"]`, when present, holds the final
    weights as `torch.save` bytes (figures and `verify` use them)."""

    status: str
    metrics: dict[str, float | None]
    curves: dict[str, list[float]] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)  # JSON-able extras
    blobs: dict[str, bytes] = field(default_factory=dict)  # binary extras (model weights)
    note: str = ""
    # the metrics given as NaN or infinite (stored as undefined); a plug-in must name
    # each in artifacts["undefined"] (see suite.plugins.TASK_CONTRACT)
    nonfinite: tuple[str, ...] = field(default=(), init=False, compare=False)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        self.nonfinite = tuple(k for k, v in self.metrics.items()
                               if v is not None and _finite_or_none(v) is None)
        self.metrics = {k: _finite_or_none(v) for k, v in self.metrics.items()}


def _finite_or_none(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class TrialContext:
    """Where a trial runs, for tasks that keep state of their own beside the store (an
    Optuna study, say). A task receives it when its `run` takes a `context` argument."""

    trial_id: str = ""
    store: str = ""  # the suite store file the trial is saved to; "" when there is none


def takes_context(run: Callable) -> bool:
    return "context" in inspect.signature(run).parameters


@dataclass(frozen=True)
class Task:
    """What one trial of a study runs; the contract an implementation must honour is
    `suite.plugins.TASK_CONTRACT` (the public extension API)."""

    name: str
    description: str
    params: Mapping[str, Param]
    metrics: tuple[str, ...]
    curves: tuple[str, ...]
    figures: tuple[str, ...]
    run: Callable[[Mapping, TrialSeeds, torch.device], TrialOutcome]
    check: Callable[[Mapping, Fail], None] = lambda config, fail: None
    # Optional: run(config, seeds, device) for several seeds at once, one outcome per seed,
    # each equal to what `run` gives it alone (the runner then batches trials by config).
    run_batch: Callable[[Mapping, list[TrialSeeds], torch.device], list[TrialOutcome]] | None = None
    # Parameters that say where inputs come from or where to keep scratch files, not what
    # is computed (a data folder, a download flag): left out of the trial's identity, and
    # settable at run time (`suite run --data-root`) over the declared value.
    runtime: tuple[str, ...] = ()
    # Metrics that are wall-clock measurements: stored and shown, but `suite verify` does
    # not compare them (a re-run takes another time; everything else repeats bit for bit).
    timings: tuple[str, ...] = ()
    # Called by the driver before any trial runs, once per distinct config of the pending
    # trials (runtime settings applied): fetch or check inputs, raise SuiteError early.
    prepare: Callable[[Mapping], None] = lambda config: None
    # The task's own text in the report: sentences about its stored trials (their rows),
    # printed under the study's tables (how a search ran, say). The report knows no task.
    report_notes: Callable[[list[dict]], list[str]] = lambda rows: []
    # Its findings paragraph in the report, from its stored rows ('' for none).
    findings: Callable[[list[dict]], str] = lambda rows: ""
    # The metrics with known bounds, metric -> (lowest, highest): accuracies, AUCs and
    # shares are (0, 1). Their intervals stay inside them (`suite.analysis.interval`).
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self):
        unknown = set(self.bounds) - set(self.metrics)
        if unknown:
            raise ValueError(f"task {self.name!r} declares bounds of metrics it does not "
                             f"record: {sorted(unknown)}")

    def defaults(self) -> dict:
        return {k: p.default for k, p in self.params.items()}
