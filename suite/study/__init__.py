"""The study: its declaration, validation and plan, and the studies the suite ships.

- `spec`: a TOML declaration parsed and validated into a `Study`, before any compute.
- `planning`: a `Study` expanded into its trials (`TrialSpec`): the grid of the scientific
  axes, the seeds derived per seed index, each trial's identity hash.
- `shipped`: the studies shipped in `studies/*.toml`, and loading by name or path.
- `plugin_loading`: the plug-ins a study names, loaded and registered (behind the public
  facade `suite.plugins`), and the identity stamps of their code.

The names below are imported on first use (PEP 562).
"""

__all__ = ["Study", "TrialSpec", "load_file", "parse", "plan", "planning", "plugin_loading",
           "shipped", "spec"]


def __getattr__(name: str):
    if name in ("TrialSpec", "plan"):
        from suite.study import planning

        return getattr(planning, name)
    if name in ("Study", "load_file", "parse"):
        from suite.study import spec

        return getattr(spec, name)
    if name in __all__:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
