"""Plug-ins (suite.plugins): entry points and files beside a study, the code digest in a
trial's identity, verify's message for missing code, one-sentence errors; the notebook
API (suite.api) as the README shows it; the compact results table."""

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, run_cli

import suite
from suite import figures, plugins, tasks
from suite.cli import main
from suite.seeding import derive
from suite.study import plugin_loading as loading
from suite.training import datasets, models

EXAMPLE = REPO_ROOT / "examples" / "study-with-file"
RINGS = REPO_ROOT / "examples" / "plugin-rings"


@pytest.fixture(autouse=True)
def clean_registries():
    """Each test registers its plug-ins afresh (the registries are per process)."""
    saved = [dict(t) for t in (tasks.TASKS, datasets.DATASETS, models.MODELS, figures.FIGURES)]
    origins, files, installed = dict(loading._ORIGINS), dict(loading._FILES), loading._installed
    yield
    for table, old in zip((tasks.TASKS, datasets.DATASETS, models.MODELS, figures.FIGURES),
                          saved, strict=True):
        table.clear()
        table.update(old)
    loading._ORIGINS.clear()
    loading._ORIGINS.update(origins)
    loading._FILES.clear()
    loading._FILES.update(files)
    loading._installed = installed


@pytest.fixture
def study_dir(tmp_path) -> Path:
    folder = tmp_path / "study"
    shutil.copytree(EXAMPLE, folder)
    return folder


def test_a_file_beside_the_study_runs_resumes_and_reruns_when_edited(study_dir, capsys):
    store = study_dir / "s.db"
    study = suite.load(study_dir / "sine.toml")
    assert suite.run(study, store).completed == 20
    assert suite.run(study, store).skipped == 20  # unchanged code: every trial is found
    source = study_dir / "my_tasks.py"
    source.write_text(source.read_text().replace("np.sin(3 * x)", "np.sin(3.0 * x)"))
    edited = suite.load(study_dir / "sine.toml")
    summary = suite.run(edited, store)
    assert (summary.skipped, summary.completed) == (0, 20)  # edited code: all run again
    assert len(suite.trials(edited, store)) == 20  # the results read the code loaded now
    site = study_dir / "site"
    suite.render_report(store, site)
    (page,) = [p for p in site.glob("*.html") if p.name != "index.html"]
    text = page.read_text()  # the report too shows one code's trials, never both averaged
    assert "20 stored trials of this study were computed by other plug-in code" in text
    assert "complete (20 trials)" in text  # not 40: the older code's trials are not counted


def test_the_file_task_agrees_with_numpy_polyfit(study_dir):
    store = study_dir / "s.db"
    study = suite.load(study_dir / "sine.toml")
    suite.run(study, store)
    frame = suite.trials(study, store)
    row = frame[(frame["degree"] == "5") & (frame["seed"] == 2)].iloc[0]
    rng = derive(0, 2).numpy("data")  # the oracle: numpy's polyfit, not polynomial.polyfit
    x = rng.uniform(-1, 1, 60)
    y = np.sin(3 * x) + rng.normal(0, 0.2, 60)
    fit = np.poly1d(np.polyfit(x[:30], y[:30], 5))
    assert row["test_error"] == pytest.approx(np.mean((fit(x[30:]) - y[30:]) ** 2), rel=1e-9)


def test_verify_names_the_plug_in_code_a_trial_needs(study_dir, capsys):
    store = study_dir / "s.db"
    suite.run(suite.load(study_dir / "sine.toml"), store)
    assert suite.verify_store(store, sample=2) == 0
    stored_code = plugins.origin_of("task", "sine-fit").code
    source = study_dir / "my_tasks.py"
    source.write_text(source.read_text() + "\n# edited\n")
    capsys.readouterr()
    assert suite.verify_store(store, sample=2) == 2
    out = capsys.readouterr().out
    assert (f"it needs the plug-in task 'sine-fit' from my_tasks.py (code {stored_code}); "
            "here it comes from my_tasks.py (code ") in out
    source.unlink()
    assert suite.verify_store(store, sample=1) == 2
    assert "my_tasks.py does not exist" in capsys.readouterr().out


def _bad_plugin(folder: Path, body: str, kind: str = "bad.py:TASK", extra: str = "") -> Path:
    (folder / "bad.py").write_text(textwrap.dedent(body))
    study = folder / "bad.toml"
    study.write_text(f'name = "bad"\n{extra}\n[task]\nkind = "{kind}"\n'
                     '[scientific]\nk = [1, 2]\n[nuisance]\nseeds = 2\n')
    return study


TASK_HEAD = """
    import math
    from suite.plugins import Task, TrialOutcome, int_range
    def run(config, seeds, device):
        return TrialOutcome("ok", {"m": METRIC})
    def run_batch(config, seeds_list, device):
        return [TrialOutcome("ok", {"m": float(len(seeds_list))}) for _ in seeds_list]
    TASK = Task(name="bad-task", description="d", params={"k": int_range(1, 0)},
                metrics=("m",), curves=(), figures=(), run=run, run_batch=BATCH)
"""


@pytest.mark.parametrize("metric,batch,expected", [
    ("math.nan", "None", "breaks the task contract: metric m is not finite and not declared "
     "undefined"),
    ("1.0", "run_batch", "breaks the task contract: run_batch gave seed index 0 other results "
     "than run alone (metrics.m: run 1.0, run_batch 2.0)"),
])
def test_a_plug_in_that_breaks_the_contract_is_one_sentence(tmp_path, capsys, metric, batch,
                                                             expected):
    study = _bad_plugin(tmp_path, TASK_HEAD.replace("METRIC", metric).replace("BATCH", batch))
    assert main(["run", str(study), "--store", str(tmp_path / "s.db"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("suite: error: The plug-in task 'bad-task' (") and expected in err
    assert err.count("\n") == 1


def test_a_plug_in_that_fails_to_import_or_registers_a_taken_name(tmp_path, capsys):
    study = _bad_plugin(tmp_path, "import math\nx = 1 / 0\n")
    assert main(["show", str(study)]) == 2
    err = capsys.readouterr().err
    assert "bad.py failed to import: ZeroDivisionError: division by zero (bad.py, line 2)." in err
    study = _bad_plugin(tmp_path, """
        from suite.plugins import register_dataset
        register_dataset("moons", lambda n, seed, noise=None: None)
    """, kind="supervised", extra='plugins = ["bad.py"]')
    assert main(["show", str(study)]) == 2
    err = capsys.readouterr().err
    assert "registers the dataset 'moons', which the suite itself already registers" in err


def test_a_plug_in_dataset_serves_the_shipped_task_and_enters_the_identity(tmp_path):
    (tmp_path / "data.py").write_text(textwrap.dedent("""
        import torch
        from suite.plugins import Points, register_dataset

        @register_dataset("line")
        def line(n, seed, noise=None):
            g = torch.Generator().manual_seed(seed)
            x = torch.randn((n, 2), generator=g)
            return Points(x, (x[:, 0] > x[:, 1]).long())
    """))
    decl = {"name": "line-study", "plugins": ["data.py"],
            "task": {"kind": "supervised", "dataset": "line"},
            "fixed": {"epochs": 2, "n_train": 64, "n_val": 16, "n_test": 16},
            "scientific": {"lr": [0.1, 0.5]}, "nuisance": {"seeds": 2}}
    study = suite.declare(decl, folder=tmp_path)
    from suite.study.planning import plan

    trial = plan(study)[0]
    assert trial.config["plugins"] == {"dataset line": {
        "from": "data.py", "code": plugins.origin_of("dataset", "line").code}}
    assert suite.run(study, tmp_path / "s.db").completed == 4
    assert suite.results(study, tmp_path / "s.db")["n"].tolist() == [2, 2]


def _fake_install(root: Path) -> dict:
    """The example package as pip would install it: its source on the path and a
    dist-info folder with its entry points (importlib.metadata reads exactly these)."""
    info = root / "suite_rings-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: suite-rings\nVersion: 0.1.0\n")
    text = (RINGS / "pyproject.toml").read_text()
    groups = re.findall(r'\[project\.entry-points\."([^"]+)"\]\n((?:[^\[\n].*\n)+)', text)
    (info / "entry_points.txt").write_text("".join(
        f"[{g}]\n{body.replace(chr(34), '')}\n" for g, body in groups))
    path = f"{REPO_ROOT}:{RINGS / 'src'}:{root}"
    return {"PYTHONPATH": path}


@pytest.mark.slow
def test_the_installed_example_plug_in_end_to_end(tmp_path):
    env = _fake_install(tmp_path / "site")
    store, study = tmp_path / "s.db", RINGS / "rings.toml"

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "suite", *map(str, args)], cwd=tmp_path,
                              env={**__import__("os").environ, **env}, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    listed = cli("list")
    assert re.search(r"rings +suite-rings 0\.1\.0 \(entry point rings = suite_rings:TASK\), "
                     r"code [0-9a-f]{16}", listed)
    assert "8 run (0 diverged, 0 stalled)" in cli("run", study, "--quick", "--store", store,
                                                  "--no-progress")
    assert "8 already in the store (skipped), 0 run" in cli("run", study, "--quick", "--store",
                                                            store, "--no-progress")
    table = cli("results", study, "--quick", "--store", store)
    assert all(len(line) <= 100 for line in table.splitlines())
    assert "8 match, 0 mismatch, 0 skipped" in cli("verify", "--store", store)
    cli("report", "--store", store, "--out", tmp_path / "site-out")
    page = (tmp_path / "site-out" / "rings-features.quick.html").read_text()
    # the plug-in's own figure, two shipped ones, and seed 002's curve scenarios (its trials
    # have loss curves, so the page shows their diagnosis)
    assert page.count("data:image/png") == 4 and "<h3>diagnosis_scenarios</h3>" in page
    bare = run_cli("run", study, "--quick", "--store", tmp_path / "t.db")  # not installed
    assert bare.returncode == 2 and "Unknown" not in bare.stderr
    assert "the 'task.kind' value of study 'rings-features' must be one of" in bare.stderr
    bare = run_cli("verify", "--store", store, "--sample", "1")
    assert bare.returncode == 2
    assert re.search(r"it needs the plug-in task 'rings' from suite-rings 0\.1\.0 \(code "
                     r"[0-9a-f]{16}\), which is not installed or loaded here", bare.stdout)


def test_results_compact_fits_100_columns_and_csv_floats_round_trip(study_dir, capsys):
    store = str(study_dir / "s.db")
    study = str(study_dir / "sine.toml")
    suite.run(suite.load(study), store)
    capsys.readouterr()
    assert main(["results", study, "--store", store]) == 0
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 100
    per_config = suite.results(study, store)
    first = per_config.iloc[0]
    assert f"{first['test_error_mean']:.3g} [{first['test_error_low']:.3g}, " in out
    assert main(["results", study, "--store", store, "--format", "csv"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    cells = [c for line in lines for c in line.split(",") if "." in c]
    assert cells and all(repr(float(c)) == c for c in cells)  # shortest round-trip form
    assert main(["results", study, "--store", store, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["test_error_mean"] == suite.summary(study, store)["test_error_mean"][0]


@pytest.mark.slow
def test_import_suite_is_light():
    code = "import sys, suite; print('torch' in sys.modules, callable(suite.run))"
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(REPO_ROOT)},
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def _readme_section() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    return text.split("## Writing your own task")[1].split("\n## ")[0]


@pytest.mark.slow
def test_the_readme_section_runs_as_written(tmp_path, monkeypatch):
    blocks = re.findall(r"```(\w+)\n(.*?)```", _readme_section(), re.S)
    files = {b.splitlines()[0].split(":")[0].lstrip("# "): b for _, b in blocks
             if b.startswith("# ")}
    assert set(files) == {"my_tasks.py", "sine.toml"}
    for name, body in files.items():  # the example folder holds the same files
        assert (EXAMPLE / name).read_text() == body
        (tmp_path / name).write_text(body)
    notebook = next(b for lang, b in blocks if lang == "python" and b.startswith("import suite"))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(notebook, "README.md", "exec"), scope)
    assert scope["best"] == "3"
    assert scope["long_curves"].empty and len(scope["per_trial"]) == 20
    assert Path(scope["index"]).is_file()
    assert {"test_error_low", "test_error_high"} <= set(scope["per_config"].columns)


@pytest.mark.slow
def test_worker_processes_load_the_study_s_plug_in_file(study_dir):
    study = suite.load(study_dir / "sine.toml")
    suite.run(study, study_dir / "serial.db")
    assert suite.run(study, study_dir / "pool.db", workers=2).completed == 20
    serial, pool = (suite.trials(study, study_dir / f"{n}.db") for n in ("serial", "pool"))
    assert pool["test_error"].tolist() == serial["test_error"].tolist()


def test_a_plug_in_model_trains_stacked_when_an_mlp_and_is_refused_otherwise(tmp_path, capsys):
    (tmp_path / "nets.py").write_text(textwrap.dedent("""
        import torch
        from suite.plugins import register_model
        from suite.training.models import mlp

        @register_model("zero-bias-mlp")
        def zero_bias(config, n_in, n_out, generator):
            model = mlp(config, n_in, n_out, generator)
            with torch.no_grad():
                for layer in model.modules():
                    if isinstance(layer, torch.nn.Linear):
                        layer.bias.zero_()
            return model

        @register_model("plain")
        def plain(config, n_in, n_out, generator):
            return torch.nn.Linear(n_in, n_out)
    """))
    decl = {"name": "nets", "plugins": ["nets.py"], "task": {"kind": "supervised"},
            "fixed": {"epochs": 2, "n_train": 64, "n_val": 16, "n_test": 16},
            "scientific": {"model": ["mlp", "zero-bias-mlp"]}, "nuisance": {"seeds": 2}}
    study = suite.declare(decl, folder=tmp_path)
    assert suite.run(study, tmp_path / "s.db").completed == 4
    per_config = suite.results(study, tmp_path / "s.db")
    assert per_config["model"].tolist() == ["mlp", "zero-bias-mlp"]
    assert per_config["final_loss_mean"][0] != per_config["final_loss_mean"][1]  # its own init
    decl["scientific"]["model"] = ["plain"]
    with pytest.raises(plugins.PluginError, match="The model 'plain' is not a suite.training"):
        suite.run(suite.declare(decl, folder=tmp_path), tmp_path / "t.db")
