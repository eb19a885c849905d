import json

import pytest
import torch
from conftest import run_cli

from suite.cli import main


def test_list_shows_the_eight_spiral_studies(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("spiral-layers", "spiral-activations", "spiral-neurons", "spiral-batch-size",
                 "spiral-learning-rate", "spiral-epochs", "spiral-optimizers", "spiral-losses"):
        assert name in out


def test_show_marks_fixed_and_default_values(capsys):
    assert main(["show", "spiral-neurons"]) == 0
    out = capsys.readouterr().out
    assert "scientific: n_neurons = ['3', '5', '7', '10', '50', '100']" in out
    assert "fixed       n_hidden_layers = 3" in out and "default     lr = 0.1" in out
    assert "trials:     30" in out


@pytest.mark.slow
def test_a_bad_declaration_exits_2_with_one_sentence_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[task]\nkind = "supervised"\n[scientific]\nlr = [0.1, -1]\n')
    proc = run_cli("run", bad, "--store", tmp_path / "s.db")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (f"suite: error: {bad}: the 'scientific.lr[1]' value of study "
                                   "'bad' must be a positive float. Got -1 instead.")
    assert not (tmp_path / "s.db").exists()  # refused before anything was created


def test_unknown_study_exits_2(capsys):
    assert main(["run", "spiral-layer", "--quick"]) == 2
    assert "Did you mean 'spiral-layers'?" in capsys.readouterr().err


def test_results_of_a_missing_store_exits_2_without_creating_it(tmp_path, capsys):
    assert main(["results", "spiral-layers", "--store", str(tmp_path / "none.db")]) == 2
    assert "No store at" in capsys.readouterr().err and not (tmp_path / "none.db").exists()


def test_results_formats_and_variant_hint(tmp_path, capsys):
    store = str(tmp_path / "s.db")
    assert main(["run", "spiral-layers", "--quick", "--seeds", "1", "--store", store,
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["results", "spiral-layers", "--quick", "--store", store, "--format",
                 "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["n_hidden_layers"] for r in rows] == ["1", "3"] and rows[0]["n"] == 1
    assert set(rows[0]) >= {"val_accuracy_mean", "val_accuracy_std", "diverged"}
    assert main(["results", "spiral-layers", "--store", store]) == 2
    assert "It has quick trials: add or drop --quick." in capsys.readouterr().err
    assert main(["results", "spiral-layers", "--quick", "--store", store, "--trials"]) == 0
    assert "config_hash" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error(tmp_path, capsys):
    code = main(["run", "spiral-layers", "--quick", "--device", "cuda", "--store",
                 str(tmp_path / "s.db")])
    assert code == 2 and "sees no CUDA device" in capsys.readouterr().err


def test_bad_worker_count_is_refused(capsys):
    try:
        main(["run", "spiral-layers", "--workers", "0"])
    except SystemExit as e:
        assert e.code == 2
    assert "must be a positive integer. Got '0' instead." in capsys.readouterr().err


def test_a_store_lost_mid_run_says_so_in_one_sentence_and_keeps_what_was_committed(
        tmp_path, capsys, monkeypatch):
    import sqlalchemy.exc

    from suite.store import Store

    real, calls = Store.save_trial, []

    def lost_after_one(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise sqlalchemy.exc.OperationalError(
                "INSERT", {}, Exception("server closed the connection unexpectedly\nmore"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "save_trial", lost_after_one)
    store = tmp_path / "s.db"
    assert main(["run", "spiral-learning-rate", "--quick", "--store", str(store),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert ("the store stopped answering (server closed the connection unexpectedly); "
            "the trials committed before are kept") in err
    s = Store(store, create=False)
    assert len(s.trials("spiral-learning-rate", "quick")) >= 1
    assert s.runs("spiral-learning-rate")[-1]["status"] == "failed"
    s.close()
