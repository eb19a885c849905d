"""The words a trial's identity is hashed from: canonical JSON, short digests, the config
without its run-time settings, and the key of a trial's resumable scratch state.

Foundation: the planner hashes trial identities with these, and a task (the MNIST search's
Optuna journal) names its checkpoints with them, without reaching up into the planner.
"""

import hashlib
import json

from suite import __version__
from suite.seeding import TrialSeeds


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def digest(obj, n: int = 16) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()[:n]


def stable_config(config: dict, runtime=()) -> dict:
    """The config without its run-time settings (see `Task.runtime`)."""
    return {k: v for k, v in config.items() if k not in runtime}


def checkpoint_key(config: dict, seeds: TrialSeeds, runtime=()) -> str:
    """A name for a trial's resumable scratch state (e.g. an Optuna journal)."""
    return digest({"config": stable_config(config, runtime), "seeds": seeds.as_dict(),
                   "suite": __version__}, 24)
