"""`suite report`: pages, tables beside them, escaping, figures, and a real browser load."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from suite import cli
from suite.report import site as report
from suite.running.runner import run_study
from suite.store import Store
from suite.study import spec

REPO_ROOT = Path(__file__).resolve().parent.parent

HOSTILE = """
name = "tiny-report"
description = "Depth <script>alert('desc')</script> & <b>bold</b> on spirals"
metrics = ["val_accuracy", "final_loss"]

[task]
kind = "supervised"
dataset = "spirals"

[fixed]
n_train = 200
n_val = 100
n_test = 100
epochs = 3

[scientific]
shape = [{ label = "<img src=x onerror=alert(1)>", n_hidden_layers = 1, n_neurons = 4 },
         { label = "2 & more", n_hidden_layers = 2, n_neurons = 4 }]

[nuisance]
seeds = 3
root_seed = 7

[quick]
seeds = 2
fixed = { epochs = 2 }
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A tiny study (full and quick variants) in a store, and the report of it."""
    root = tmp_path_factory.mktemp("report")
    toml = root / "tiny.toml"
    toml.write_text(HOSTILE)
    store = Store(root / "s.db")
    for quick in (False, True):
        run_study(spec.load_file(toml, quick=quick), store, device="cpu",
                  command=f"suite run {toml}{' --quick' if quick else ''}")
    store.close()
    assert cli.main(["report", "--store", str(root / "s.db"), "--out", str(root / "site")]) == 0
    return root / "site"


@pytest.mark.slow
def test_index_lists_every_variant_with_status_and_link(site):
    index = (site / "index.html").read_text()
    assert 'href="tiny-report.html"' in index and 'href="tiny-report.quick.html"' in index
    assert "complete (6 trials)" in index and "complete (4 trials)" in index


def test_page_has_tables_figures_and_provenance(site):
    page = (site / "tiny-report.html").read_text()
    for header in ("<th>mean</th>", "<th>95% CI low</th>", "<th>95% CI high</th>",
                   "<th>p (Holm)</th>", "<th>verdict</th>"):
        assert header in page
    assert page.count('<img class="figure" src="data:image/png;base64,') >= 4
    assert "Student t interval" in page and "Holm" in page
    for fact in ("git", "torch threads", "root 7, indexes 0–2", "re-run from scratch",
                 "suite verify --store", "<dt>numeric settings of the trials</dt><dd>float32 "
                 "ieee everywhere; cudnn_benchmark False, cudnn_deterministic True"):
        assert fact in page
    assert "role-scientific" in page and "role-fixed" in page and "role-default" in page


def test_tables_are_written_as_csv_and_json_beside_the_page(site):
    folder = site / "tiny-report"
    for key in ("stats", "best", "trials", "seeds", "configs", "runs"):
        assert (folder / f"{key}.csv").is_file()
        records = json.loads((folder / f"{key}.json").read_text())
        assert records, key
    stats = json.loads((folder / "stats.json").read_text())
    assert len(stats) == 2 * 2  # configurations x metrics
    assert {"mean", "std", "ci_low", "ci_high", "n", "diverged"} <= stats[0].keys()
    assert stats[0]["n"] == 3
    assert 'href="tiny-report/stats.csv"' in (site / "tiny-report.html").read_text()


def test_user_strings_are_shown_as_text(site):
    page = (site / "tiny-report.html").read_text()
    assert "<script>" not in page and "<img src=x" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(&#39;desc&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "2 &amp; more" in page


def test_a_hostile_study_name_from_a_store_is_escaped_and_its_file_name_sanitised(tmp_path):
    store = Store(tmp_path / "s.db")
    name = "<script>alert('name')</script>"
    store.save_study(name, "full", "x.toml", {"name": name}, "supervised")
    pages = report.build_site(store, tmp_path / "site")
    store.close()
    assert pages[0].filename.startswith("script-alert-name-script-")
    for f in ("index.html", pages[0].filename):
        text = (tmp_path / "site" / f).read_text()
        assert "<script>" not in text and "&lt;script&gt;alert(&#39;name&#39;)" in text
    assert "no trials stored" in (tmp_path / "site" / "index.html").read_text()


def test_declared_figures_without_code_are_noted(site, tmp_path):
    store = Store(site.parent / "s.db", create=False)
    study = spec.load_file(site.parent / "tiny.toml", quick=True)
    study = dataclasses.replace(study, figures=("metric_vs_axis", "no-such-figure"))
    page = report.StudyPage("x", "quick", "x.html", "supervised", "", True, 0, 0, "")
    out = report.figures(study, store.trials("tiny-report", "quick"), store, page)
    store.close()
    assert [f["name"] for f in out] == ["metric_vs_axis"]
    assert page.notes[0].startswith("Figure 'no-such-figure' is declared but no code registers")


def test_cell_formatting():
    assert [report.cell(v) for v in (None, float("nan"), True, 0.5, 1e-5, 3, "a<b")] == [
        "–", "–", "yes", "0.5000", "1e-05", "3", "a<b"]


def test_report_of_a_missing_store_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["report", "--store", str(tmp_path / "none.db")]) == 2
    assert "No store at" in capsys.readouterr().err


# -- a real browser ----------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHECK_IMAGES = """async () => {
  const out = [];
  for (const img of document.images) {
    try { await img.decode(); out.push([img.naturalWidth, img.naturalHeight, ""]); }
    catch (e) { out.push([0, 0, String(e)]); }
  }
  return {images: out, scripts: document.scripts.length, title: document.title};
}"""


class Browser:
    """The system's headless Chromium driven by Playwright (no browser download)."""

    def __init__(self, playwright):
        self.chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=["--no-sandbox", "--disable-gpu"])

    def load(self, path: Path) -> tuple[list[str], dict]:
        """Open `path` in a fresh page; (console errors, uncaught exceptions and failed
        loads, image check)."""
        page, errors = self.chromium.new_page(), []
        page.on("console", lambda m: errors.append(f"console: {m.text}")
                if m.type in ("error", "assert") else None)
        page.on("pageerror", lambda e: errors.append(f"exception: {e}"))
        page.on("requestfailed", lambda r: errors.append(f"log: {r.failure} {r.url}"))
        page.goto(path.resolve().as_uri(), wait_until="load")
        result = page.evaluate(CHECK_IMAGES)
        page.close()
        return errors, result


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI installs Debian's 'chromium' package)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        b = Browser(playwright)
        yield b
        b.chromium.close()


@pytest.mark.slow
def test_pages_load_in_chromium_without_errors_and_every_image_decodes(site, browser):
    for name in ("index.html", "tiny-report.html", "tiny-report.quick.html"):
        errors, result = browser.load(site / name)
        assert errors == [], name
        assert result["scripts"] == 0, name
        assert all(w > 0 and h > 0 and not err for w, h, err in result["images"]), name
    page = (site / "tiny-report.html").read_text()
    images = browser.load(site / "tiny-report.html")[1]["images"]
    assert len(images) == page.count("<img ") >= 4


def test_the_browser_check_catches_errors_and_broken_images(browser, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><title>bad</title><script>console.error("boom");</script>'
                   '<img src="data:image/png;base64,iVBORw0KGgo=">')
    errors, result = browser.load(bad)
    assert errors == ["console: boom"]
    assert result["images"][0][0] == 0 and "decode" in result["images"][0][2]


@pytest.mark.slow
def test_main_job_renders_a_report(tmp_path):
    """The README's main job, end to end through the command line (about 15 s)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    store, out = tmp_path / "x.db", tmp_path / "site"
    for args in (["run", "spiral-layers", "--quick", "--store", str(store), "--no-progress"],
                 ["report", "--store", str(store), "--out", str(out)]):
        subprocess.run([sys.executable, "-m", "suite", *args], check=True, env=env,
                       cwd=tmp_path, capture_output=True)
    page = (out / "spiral-layers.quick.html").read_text()
    assert "spiral-layers.quick.html" in (out / "index.html").read_text()
    assert page.count('src="data:image/png;base64,') >= 4
    assert "<th>mean</th>" in page and "<th>95% CI low</th>" in page
    assert "Published reference" in page and "<th>contains</th>" in page
