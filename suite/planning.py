"""From a validated study to the list of trials: the grid, the seeds, the identities.

A trial's identity is the hash of its resolved config, its seeds and the suite version,
so the same declaration run again finds its finished trials in the store (resume), and a
changed value, seed or suite version makes a new trial instead of reusing an old one.
"""

import hashlib
import itertools
import json
from dataclasses import dataclass

from suite import __version__
from suite.seeding import TrialSeeds, derive
from suite.spec import Study


@dataclass(frozen=True)
class TrialSpec:
    study: str
    index: int  # position in the study's plan
    labels: dict  # scientific axis -> value label
    config: dict  # resolved parameters, task kind included
    seeds: TrialSeeds
    config_hash: str
    trial_id: str


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def digest(obj, n: int = 16) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()[:n]


def grid(study: Study):
    """Yield (labels, config) for every point of the product of the scientific axes."""
    base = {"task": study.task.name, **study.task.defaults(), **study.fixed}
    for combo in itertools.product(*(axis.values for axis in study.axes)):
        config = dict(base)
        for v in combo:
            config.update(v.settings)
        yield {a.name: v.label for a, v in zip(study.axes, combo, strict=True)}, config


def identity(config: dict, runtime=()) -> dict:
    """The config without its run-time settings (see `Task.runtime`)."""
    return {k: v for k, v in config.items() if k not in runtime}


def trial_id(config: dict, seeds: TrialSeeds, runtime=()) -> str:
    """A trial's identity: the hash of its config (runtime settings left out), its seeds
    and the suite version."""
    return digest({"config": identity(config, runtime), "seeds": seeds.as_dict(),
                   "suite": __version__}, 24)


def plan(study: Study, seeds: int | None = None) -> list[TrialSpec]:
    """Every trial of the study: each grid point under each seed index."""
    n_seeds = study.seeds if seeds is None else seeds
    trials = []
    for labels, config in grid(study):
        config_hash = digest(identity(config, study.task.runtime))
        for s in range(n_seeds):
            ts = derive(study.root_seed, s)
            trials.append(TrialSpec(study.name, len(trials), labels, config, ts, config_hash,
                                    trial_id(config, ts, study.task.runtime)))
    return trials
