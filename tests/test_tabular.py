"""The tabular task: your own CSV or Parquet file, the suite's MLPs, classification
metrics checked against scikit-learn on the stored model; bad files refused in a sentence."""

import hashlib
import io

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as skm
from sklearn.datasets import make_classification

import suite
from suite.cli import main
from suite.seeding import derive
from suite.tasks import supervised, tabular

FIXED = {"epochs": 15, "n_neurons": 8}


def _binary_csv(folder, name="data.csv"):
    x, y = make_classification(n_samples=160, n_features=5, n_informative=3, n_redundant=0,
                               weights=[0.7, 0.3], random_state=4)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
    frame.insert(2, "kind", np.where(y == 1, "pos", "neg"))
    frame.to_csv(folder / name, index=False)
    return frame


def _study(folder, path="data.csv", **task):
    return suite.declare({"name": "tab", "task": {"kind": "tabular", "path": path,
                                                   "label": "kind", **task},
                          "fixed": FIXED, "scientific": {"lr": [0.01]},
                          "nuisance": {"seeds": 2}}, folder=folder)


def test_binary_metrics_agree_with_scikit_learn_on_the_stored_model(tmp_path):
    frame = _binary_csv(tmp_path)
    study = _study(tmp_path)
    db = tmp_path / "s.db"
    suite.run(study, db, data_root=str(tmp_path))
    from suite.store import Store

    s = Store(db, create=False)
    row = s.trials("tab", "full")[1]
    state = s.blob(row["trial_id"], "state_dict")
    s.close()
    config = {**row["config"], "data_root": str(tmp_path)}
    train, val, test = tabular.make_splits(config, derive(0, 1))
    # the split: 20% test, 20% validation, stratified (a hand count of each class)
    assert (len(train.y), len(val.y), len(test.y)) == (96, 32, 32)
    assert int(test.y.sum()) == round(32 * (frame["kind"] == "pos").mean())
    model = supervised.load_model(config, state, n_inputs=5, n_classes=2)
    with torch.no_grad():
        p = torch.softmax(model(test.x), dim=1)[:, 1].numpy()
    pred, y = (p >= 0.5).astype(int), test.y.numpy()
    m = row["metrics"]
    assert m["test_accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert m["test_balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["test_precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
    assert m["test_recall"] == pytest.approx(skm.recall_score(y, pred))
    assert m["test_f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["test_roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-9)
    assert m["test_pr_auc"] == pytest.approx(skm.average_precision_score(y, p), abs=1e-9)
    data = row["artifacts"]["data"]
    assert data["sha256"] == hashlib.sha256((tmp_path / "data.csv").read_bytes()).hexdigest()
    assert data["classes"] == ["neg", "pos"] and data["rows"] == 160


def test_parquet_gives_the_csv_numbers_and_multi_class_has_no_binary_metrics(tmp_path):
    frame = _binary_csv(tmp_path)
    frame.to_parquet(tmp_path / "data.parquet")
    csv = suite.results(_study(tmp_path), _run(tmp_path, _study(tmp_path), "a.db"))
    pq = _study(tmp_path, "data.parquet")
    assert suite.results(pq, _run(tmp_path, pq, "b.db"))["test_accuracy_mean"].tolist() == \
        csv["test_accuracy_mean"].tolist()
    frame["kind"] = np.arange(len(frame)) % 3  # three classes
    frame.to_csv(tmp_path / "three.csv", index=False)
    three = _study(tmp_path, "three.csv")
    db = _run(tmp_path, three, "c.db")
    row = suite.trials(three, db).iloc[0]
    assert 0 <= row["test_macro_f1"] <= 1 and pd.isna(row["test_precision"])


def _run(folder, study, name):
    suite.run(study, folder / name, data_root=str(folder))
    return folder / name


@pytest.mark.parametrize("content,task,expected", [
    (None, {}, "The tabular data file {p} does not exist"),
    ("", {}, "The tabular data file {p} could not be read as CSV (EmptyDataError"),
    ("a,kind\n", {}, "The tabular data file {p} has no rows."),
    ("a,b\n1,x\n2,y\n", {}, "has no column 'kind' (task parameter 'label'); its columns are: "
     "a, b."),
    ("a,kind\n1,x\n2,y\n", {"features": ["a", "z"]}, "has no column 'z' (task parameter "
     "'features')"),
    ("a,b,kind\n1,red,x\n2,3,y\n", {}, "The feature column 'b' of {p} is not numeric ('red' in "
     "data row 1); encode it as numbers or leave it out of 'features'."),
    ("a,kind\n1,x\n2,x\n3,x\n", {}, "The label column 'kind' of {p} holds one class only "
     "('x'); classification needs at least two."),
    ("a,kind\n1,x\n,y\n", {}, "The feature column 'a' of {p} has no value in data row 2"),
    ("a,kind\n1,x\n2,y\n", {}, "The 2 rows of the tabular data file {p} cannot be split"),
])
def test_bad_files_are_refused_with_one_sentence(tmp_path, capsys, content, task, expected):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    decl = tmp_path / "bad.toml"
    extra = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in task.items())
    decl.write_text(f'name = "bad"\n[task]\nkind = "tabular"\npath = "bad.csv"\n'
                    f'label = "kind"\n{extra}[scientific]\nlr = [0.1]\n')
    code = main(["run", str(decl), "--store", str(tmp_path / "s.db"), "--data-root",
                 str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and expected.format(p=path) in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_the_shipped_example_runs_and_the_folder_is_not_part_of_the_identity(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "tabular"
    study = suite.load(example / "iris.toml", quick=True)
    db = tmp_path / "s.db"
    assert suite.run(study, db, data_root=str(example)).completed == 6
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "iris.csv").write_bytes((example / "iris.csv").read_bytes())
    assert suite.run(study, db, data_root=str(tmp_path / "copy")).skipped == 6
    assert suite.verify_store(db, data_root=str(tmp_path / "copy"), out=io.StringIO()) == 0
