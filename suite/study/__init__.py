"""The study: its declaration, validation and plan, and the studies the suite ships.

- `spec`: a TOML declaration parsed and validated into a `Study`, before any compute.
- `planning`: a `Study` expanded into its trials (`TrialSpec`): the grid of the scientific
  axes, the seeds derived per seed index, each trial's identity hash.
- `shipped`: the studies shipped in `studies/*.toml`, and loading by name or path.
"""

from suite.study import planning, shipped, spec
from suite.study.planning import TrialSpec, plan
from suite.study.spec import Study, load_file, parse

__all__ = ["Study", "TrialSpec", "load_file", "parse", "plan", "planning", "shipped", "spec"]
