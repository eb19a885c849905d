"""CI check of the asv suite's structure: every benchmark module imports, every
benchmark is named and parameterised the way asv reads it, and asv.conf.json keeps
results out of git and never installs a dependency (the torch installed is the one
benchmarked). `asv check -E existing` does the same through asv (marked slow)."""

import importlib
import importlib.util
import inspect
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = ("time_", "peakmem_", "mem_", "track_", "timeraw_")


def modules():
    return sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))


def benchmarks():
    """(module, class, method name) of every benchmark asv would collect."""
    out = []
    for name in modules():
        mod = importlib.import_module(f"benchmarks.{name}")
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ != mod.__name__:
                continue
            out += [(name, cls, m) for m in dir(cls) if m.startswith(PREFIXES)]
    return out


def test_there_are_benchmarks_of_each_hot_path():
    names = {f"{m}.{c.__name__}.{b}" for m, c, b in benchmarks()}
    for needed in ("bench_grid.GridEvaluation.time_class_map",
                   "bench_grid.GridEvaluation.peakmem_class_map",
                   "bench_grid.GridEvaluation.track_class1_fraction",
                   "bench_training.TrainingEpoch.time_epoch",
                   "bench_training.FixedSeedModel.track_val_accuracy",
                   "bench_sweeps.SeedSweep.time_fit_batch"):
        assert needed in names


@pytest.mark.parametrize("bench", benchmarks(), ids=lambda b: f"{b[0]}.{b[1].__name__}.{b[2]}")
def test_each_benchmark_takes_the_arguments_asv_passes(bench):
    _, cls, method = bench
    params = getattr(cls, "params", [])
    names = getattr(cls, "param_names", [])
    if params and not isinstance(params[0], list):
        params = [params]  # one parameter may be given as a flat list
    assert len(names) == len(params), "one name per parameter list"
    assert all(len(p) > 0 for p in params)
    cached = "setup_cache" in vars(cls) or any("setup_cache" in vars(b) for b in cls.__mro__)
    expected = len(params) + cached
    for fn_name in (method, "setup"):
        fn = getattr(cls, fn_name, None)
        if fn is None:
            continue
        sig = inspect.signature(fn)
        if any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values()):
            continue
        assert len(sig.parameters) - 1 == expected, f"{fn_name}{sig}: self, cache?, params"
    assert cls.timer is time.process_time  # CPU time: the machine is shared


def asv_conf() -> dict:
    text = (ROOT / "asv.conf.json").read_text()
    return json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))


def test_asv_conf_keeps_results_out_of_git_and_installs_no_dependency():
    conf = asv_conf()
    assert conf["repo"] == "." and conf["branches"] == ["HEAD"]
    assert conf["benchmark_dir"] == "benchmarks"
    for key in ("env_dir", "results_dir", "html_dir"):
        assert conf[key].startswith(".asv/")
    assert ".asv/" in (ROOT / ".gitignore").read_text().split()
    assert conf["build_command"] == [] and conf["matrix"] == {}
    install = " ".join(conf["install_command"])
    assert "--no-deps" in install and "--no-index" in install


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("asv") is None, reason="asv is not installed")
def test_asv_check_passes():
    proc = subprocess.run([sys.executable, "-m", "asv", "check", "-E", "existing"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout
