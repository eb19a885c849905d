"""`suite publish --quick`: the whole catalogue's quick variants into one store, a verify
sample, the report with its findings and verify summary, and the manifest; then again,
resuming (nothing re-run)."""

import hashlib
import json
import sqlite3

import pytest
from conftest import run_cli

from suite.publish import store_digest
from suite.store import Store
from suite.study import shipped as registry

pytestmark = pytest.mark.slow  # about a minute on an idle 2-core machine: every quick study




@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("publish")
    args = ["publish", "--quick", "--store", root / "p.db", "--no-progress"]
    first = run_cli(*args, "--out", root / "site", "--verify-sample", "3", timeout=900)
    # resuming: two studies again, no verify, into another folder
    again = run_cli(*args, "--out", root / "again", "--verify-sample", "0", "--study",
                    "paths-saddle", "--study", "logic-gates", timeout=900)
    return root, first, again


def test_every_shipped_study_runs_with_progress_and_a_total(published):
    root, first, _ = published
    assert first.returncode == 0, first.stdout + first.stderr
    names = registry.names()
    for i, name in enumerate(names, 1):
        assert f"[{i}/{len(names)}] {name} (quick): running ..." in first.stdout
    assert f"publish: {len(names)} studies (0 failed), {len(names)} pages" in first.stdout
    assert "total " in first.stdout.splitlines()[-1]


def test_a_second_publish_resumes_and_runs_nothing(published):
    root, first, again = published
    assert again.returncode == 0, again.stdout + again.stderr
    lines = [line for line in again.stdout.splitlines() if "trials planned" in line]
    assert len(lines) == 2 and all(" 0 run (" in line for line in lines)
    for line in lines:
        planned, skipped = line.split(": ")[1].split(" trials planned, ")
        assert skipped.startswith(planned + " already in the store"), line
    assert "verify: skipped" in again.stdout
    with sqlite3.connect(root / "p.db") as db:
        runs = db.execute("select count(*) from runs").fetchone()[0]
    assert runs == len(registry.names()) + 2
    m = json.loads((root / "again" / "manifest.json").read_text())
    assert m["verify"] is None and [s["completed"] for s in m["studies"]] == [0, 0]


def test_the_manifest_records_versions_digest_environment_and_times(published):
    root, _, _ = published
    m = json.loads((root / "site" / "manifest.json").read_text())
    assert m["suite"] and m["variant"] == "quick" and len(m["git_sha"] or "x" * 40) == 40
    assert {s["name"] for s in m["studies"]} == set(registry.names())
    assert all(s["status"] == "finished" and s["seconds"] >= 0 for s in m["studies"])
    assert m["environment"]["torch"] and m["environment"]["threads"] == 1
    assert m["seconds"]["total"] >= m["seconds"]["studies"]
    s = Store(root / "p.db", create=False)
    try:
        assert m["store_digest"] == store_digest(s)
        # the digest is of the trials' contents: recomputed here from the raw table
        h = hashlib.sha256()
        for entry in sorted(s.studies(), key=lambda e: (e["name"], e["variant"])):
            for r in sorted(s.trials(entry["name"], entry["variant"]),
                            key=lambda r: r["trial_id"]):
                h.update(json.dumps([r["trial_id"], r["status"], r["metrics"]],
                                    sort_keys=True, separators=(",", ":")).encode() + b"\n")
        assert m["store_digest"] == h.hexdigest()
    finally:
        s.close()
    assert m["verify"]["checked"] == 3 and m["verify"]["match"] == 3


def test_the_index_shows_findings_verify_summary_and_every_study(published):
    root, _, _ = published
    html = (root / "site" / "index.html").read_text()
    assert html.index('id="findings"') < html.index('id="verify"') < html.index('id="studies"')
    assert "3 of " in html and "3 match, 0 mismatch, 0 skipped" in html
    assert 'href="manifest.json"' in html
    for name in registry.names():
        assert f'href="{name}.quick.html"' in html
        assert (root / "site" / f"{name}.quick.html").is_file()
    rows = json.loads((root / "site" / "findings.json").read_text())
    declared = {n for n in registry.names() if registry.load(n).claims}
    assert {r["study"] for r in rows} == declared
    assert all(r["verdict"] in ("holds", "contradicted", "inconclusive") for r in rows)
    mnist = (root / "site" / "mnist-architectures.quick.html").read_text()
    assert '<h3 id="findings">Findings</h3>' in mnist and "offline split" in mnist
    search = (root / "site" / "mnist-search.quick.html").read_text()
    assert "Retrained on the whole development set" in search


@pytest.mark.parametrize("args, message", [
    (["--study", "spiral-layer"], "Unknown study 'spiral-layer'. Did you mean 'spiral-layers'?"),
    (["--verify-sample", "-1"], "must be a non-negative integer. Got '-1' instead."),
])
def test_bad_arguments_are_refused_before_the_store_is_made(tmp_path, args, message):
    proc = run_cli("publish", "--store", tmp_path / "p.db", "--out", tmp_path / "site", *args)
    assert proc.returncode == 2 and message in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "p.db").exists()
