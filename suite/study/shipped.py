"""The shipped studies (TOML files in `suite/study/studies/`) and loading by name or path."""

from importlib import resources
from pathlib import Path

from suite.errors import SuiteError, did_you_mean
from suite.study import spec


def _folder():
    return resources.files("suite.study") / "studies"


def names() -> list[str]:
    return sorted(p.name[:-5] for p in _folder().iterdir() if p.name.endswith(".toml"))


def path_of(name: str) -> Path:
    return Path(str(_folder() / f"{name}.toml"))


def load(name_or_path: str, *, quick: bool = False) -> spec.Study:
    """A shipped study by name, or a declaration file by path (anything ending in .toml
    or naming an existing file)."""
    p = Path(name_or_path)
    if name_or_path.endswith(".toml") or p.is_file():
        return spec.load_file(p, quick=quick)
    if name_or_path not in names():
        raise SuiteError(f"Unknown study '{name_or_path}'.{did_you_mean(name_or_path, names())} "
                         f"Shipped studies: {', '.join(names())}. A path to a .toml file "
                         "works too.")
    return spec.load_file(path_of(name_or_path), quick=quick)
