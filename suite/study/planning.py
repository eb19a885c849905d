"""From a validated study to the list of trials: the grid, the seeds, the identities.

A trial's identity is the hash of its study name and variant, resolved config (with, for
plug-in code, its origin and source digest: `suite.plugins.stamps`), seeds and the suite
version, so the same declaration run again finds its finished trials in the
store (resume), and a changed value, seed or suite version makes a new trial instead of
reusing an old one.
"""

import math
from dataclasses import dataclass

from suite import __version__
from suite.identity import canonical, checkpoint_key, digest, stable_config  # noqa: F401
from suite.seeding import TrialSeeds, derive
from suite.study.spec import Study, grid


@dataclass(frozen=True)
class TrialSpec:
    study: str
    index: int  # position in the study's plan
    labels: dict  # scientific axis -> value label
    config: dict  # resolved parameters, task kind included
    seeds: TrialSeeds
    config_hash: str
    trial_id: str


# A plan above CONFIRM_TRIALS trials runs only with `suite run --yes`; one above
# MAX_TRIALS is refused (planning alone would take minutes).
CONFIRM_TRIALS = 10_000
MAX_TRIALS = 1_000_000


def count(study: Study, seeds: int | None = None) -> int:
    """How many trials `plan(study, seeds)` holds, without building them."""
    return math.prod(len(a.values) for a in study.axes) * (study.seeds if seeds is None
                                                            else seeds)


def check_size(study: Study, seeds: int | None = None, yes: bool = False) -> str:
    """The plan's size in words ('x (full): 12 trials planned (...)'); a plan above
    CONFIRM_TRIALS needs `yes`, one above MAX_TRIALS (or seeds above the declaration's
    bound, spec.MAX_SEEDS) is refused."""
    from suite.errors import SuiteError
    from suite.study.spec import MAX_SEEDS

    if seeds is not None and seeds > MAX_SEEDS:
        raise SuiteError(f"--seeds must be at most {MAX_SEEDS:,}. Got {seeds:,} instead.")
    n = count(study, seeds)
    shape = " x ".join(str(len(a.values)) for a in study.axes)
    words = (f"{study.name} ({'quick' if study.quick else 'full'}): {n:,} trials planned "
             f"({shape} configurations x {seeds or study.seeds} seeds)")
    if n > MAX_TRIALS:
        raise SuiteError(f"{words}, more than the {MAX_TRIALS:,} a run may plan; use fewer "
                         "seeds or axis values.")
    if n > CONFIRM_TRIALS and not yes:
        raise SuiteError(f"{words}, more than {CONFIRM_TRIALS:,}: pass --yes to run them, or "
                         "use fewer seeds or axis values.")
    return words + "."


def identity(study: str, quick: bool, config: dict, seeds: TrialSeeds, runtime=(),
             version: str = __version__) -> str:
    """A trial's id: the hash of its study and variant, config (run-time settings left
    out), seeds and suite version."""
    return digest({"study": study, "quick": quick, "config": stable_config(config, runtime),
                   "seeds": seeds.as_dict(), "suite": version}, 24)


def plan(study: Study, seeds: int | None = None) -> list[TrialSpec]:
    """Every trial of the study: each grid point under each seed index."""
    n_seeds = study.seeds if seeds is None else seeds
    trials = []
    for labels, config in grid(study):
        config_hash = digest(stable_config(config, study.task.runtime))
        for s in range(n_seeds):
            ts = derive(study.root_seed, s)
            trials.append(TrialSpec(study.name, len(trials), labels, config, ts, config_hash,
                                    identity(study.name, study.quick, config, ts,
                                             study.task.runtime)))
    return trials
