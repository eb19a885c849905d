"""MNIST data (suite.training.mnist_data) and the `mnist` task: real IDX files, generated
ones, errors."""

import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix

from suite.errors import SuiteError
from suite.seeding import derive
from suite.study import shipped
from suite.study.planning import digest, plan
from suite.study.spec import parse
from suite.tasks import mnist as mnist_task
from suite.training import mnist_data

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = mnist_data.SHIPPED  # the official test set, shipped inside the package
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

# The official test set's class counts (digits 0-9) and its README's sizes and md5s.
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
SHIPPED = {"t10k-images-idx3-ubyte.gz": (1648877, "9fb629c4189551a2d022fa330f9573f3"),
           "t10k-labels-idx1-ubyte.gz": (4542, "ec29112dd5afa0611ce80d1b7f02629c")}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file written by hand: 0x00, 0x00, type 0x08 (unsigned byte), the number of
    dimensions, each dimension as a big-endian uint32, then the data."""
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def learnable(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` fake digits: label c lights columns 2c+4 and 2c+5, on faint noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, 28, 28))
    for i, c in enumerate(labels):
        images[i, :, 2 * c + 4: 2 * c + 6] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_part(folder: Path, part: str, images, labels, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "train" if part == "train" else "t10k"
    for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
        data = idx_bytes(arr)
        name = f"{prefix}-{kind}-ubyte"
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


# -- the shipped files -----------------------------------------------------------------------
def test_shipped_files_match_their_readme():
    for name, (size, md5) in SHIPPED.items():
        data = (SHARED / name).read_bytes()
        assert len(data) == size
        assert hashlib.md5(data).hexdigest() == md5
        assert mnist_data.md5(SHARED / name) == md5
        listed = (SHARED / "SHA256SUMS").read_text()
        assert f"{hashlib.sha256(data).hexdigest()}  {name}" in listed.splitlines()
    assert "CC BY-SA 3.0" in (SHARED / "LICENSE").read_text()
    assert "Yann LeCun" in (SHARED / "LICENSE").read_text()


def test_shipped_files_are_the_ones_torchvision_knows():
    """Oracle: torchvision's own record of the official files' md5 sums."""
    from torchvision.datasets import MNIST

    official = dict(MNIST.resources)
    for name in SHIPPED:
        assert mnist_data.md5(SHARED / name) == official[name]


def test_the_package_ships_the_data():
    """setuptools' package-data names the folder, so an install (not only a clone) has it."""
    import tomllib

    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = data["tool"]["setuptools"]["package-data"]["suite.training"]
    files = {p.relative_to(REPO_ROOT / "suite" / "training").as_posix() for p in SHARED.iterdir()}
    assert {f for f in files if any(Path(f).match(p) for p in patterns)} == files


def test_a_damaged_shipped_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "mnist"
    copy.mkdir()
    for f in SHARED.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    monkeypatch.setattr(mnist_data, "SHIPPED", copy)
    assert mnist_data.read_part(*mnist_data.locate(copy, "test")).labels.numel() == 10000
    labels = copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[8] = (raw[8] + 1) % 10  # one label changed: still a valid IDX file
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(SuiteError, match=r"shipped with the suite does not match its sha256 "
                                         r"in .*SHA256SUMS .*installation is damaged"):
        mnist_data.read_part(*mnist_data.locate(copy, "test"))


def test_shipped_test_set_parses_to_the_official_digits():
    d = mnist_data.read_part(*mnist_data.locate(SHARED, "test"))
    assert d.images.shape == (10000, 28, 28) and d.images.dtype == torch.uint8
    assert d.labels.dtype == torch.int64
    assert d.labels.bincount().tolist() == TEST_COUNTS
    assert d.labels[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test digits
    assert int(d.images.max()) == 255 and int(d.images.min()) == 0


def test_offline_split_partitions_the_test_set_by_its_seed():
    s = mnist_data.load_split(SHARED, "auto", [11, 12])
    assert s.info["mode"] == "offline" and s.info["files"] == {k: v[1] for k, v in SHIPPED.items()}
    assert s.info["sizes"] == {"train": 6400, "val": 1600, "test": 2000}
    labels = torch.cat((s.train.y, s.val.y, s.test.y))
    assert labels.bincount().tolist() == TEST_COUNTS  # every digit used once
    pixels = torch.cat((s.train.x, s.val.x, s.test.x))
    full = mnist_data.read_part(*mnist_data.locate(SHARED, "test")).images.to(torch.float64)
    assert pixels.to(torch.float64).sum().item() == pytest.approx(full.sum().item() / 255.0)
    assert 0.0 <= pixels.min() and pixels.max() == 1.0 and s.train.x.shape[1] == 784
    again = mnist_data.load_split(SHARED, "auto", [11, 12])
    assert torch.equal(again.test.x, s.test.x) and torch.equal(again.train.y, s.train.y)
    other = mnist_data.load_split(SHARED, "auto", [13, 12])
    assert other.info["test_fingerprint"] != s.info["test_fingerprint"]


def test_standard_split_is_refused_without_the_training_files():
    with pytest.raises(SuiteError, match="has no train-images-idx3-ubyte"):
        mnist_data.load_split(SHARED, "standard", [1, 2])


# -- generated IDX files ---------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("sub", ["", "MNIST/raw"])
def test_generated_idx_files_read_back_exactly(tmp_path, gz, sub):
    images, labels = learnable(30)
    write_part(tmp_path / sub, "test", images, labels, gz=gz)
    found = mnist_data.locate(tmp_path, "test")
    assert found[0].parent == tmp_path / sub and (found[0].suffix == ".gz") == gz
    d = mnist_data.read_part(*found)
    assert np.array_equal(d.images.numpy(), images)
    assert np.array_equal(d.labels.numpy(), labels.astype(np.int64))


def test_training_files_make_auto_the_standard_split(tmp_path):
    write_part(tmp_path, "train", *learnable(50, 1))
    write_part(tmp_path, "test", *learnable(20, 2))
    s = mnist_data.load_split(tmp_path, "auto", [1, 2])
    assert s.info["mode"] == "standard"
    assert s.info["sizes"] == {"train": 40, "val": 10, "test": 20}
    assert np.array_equal(s.test.y.numpy(), learnable(20, 2)[1])  # the official test part
    assert len(s.info["files"]) == 4 and s.info["partition_seed"] is None
    assert mnist_data.load_split(tmp_path, "offline", [1, 2], 0.25, 5).info["sizes"] == {
        "train": 11, "val": 4, "test": 5}


def test_offline_test_larger_than_the_set_is_refused(tmp_path):
    write_part(tmp_path, "test", *learnable(20))
    with pytest.raises(SuiteError, match="offline_test = 20 .* has 20 digits"):
        mnist_data.load_split(tmp_path, "offline", [1, 2], 0.2, 20)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b"\x00\x00\x08\x04" + b[4:], "IDX magic number 0x00000803"),
    (lambda b: b[:-7], "header .* promises"),
    (lambda b: b[:3], "IDX magic number"),
])
def test_corrupt_image_file_names_the_file(tmp_path, damage, message):
    images, labels = learnable(10)
    write_part(tmp_path, "test", images, labels, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(SuiteError, match=f"MNIST file {path} is corrupt: .*{message}"):
        mnist_data.read_part(*mnist_data.locate(tmp_path, "test"))


def test_broken_gzip_and_mismatched_labels_are_clear_errors(tmp_path):
    images, labels = learnable(10)
    write_part(tmp_path, "test", images, labels[:9])
    with pytest.raises(SuiteError, match="9 labels for 10 images"):
        mnist_data.read_part(*mnist_data.locate(tmp_path, "test"))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(SuiteError, match="t10k-labels-idx1-ubyte.gz is corrupt: it cannot be"):
        mnist_data.read_part(*mnist_data.locate(tmp_path, "test"))


def test_missing_folder_error_names_folder_files_and_remedy(tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(SuiteError) as e:
        mnist_data.resolve_split(root, "auto")
    text = str(e.value)
    assert f"{root} does not exist" in text
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                 "train-images-idx3-ubyte.gz", "MNIST/raw", "--download", "--data-root",
                 "SUITE_DATA_ROOT"):
        assert name in text
    root.mkdir()
    with pytest.raises(SuiteError, match=r"has no t10k-images-idx3-ubyte\[.gz\], t10k-labels"):
        mnist_data.resolve_split(root, "auto")


def test_data_root_comes_from_value_then_environment_then_cache_then_shipped(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SUITE_DATA_ROOT", raising=False)
    cache = tmp_path / "cache" / "suite" / "data"
    assert mnist_data.resolve_root(None) == SHARED  # nothing in the cache: the shipped copy
    assert mnist_data.resolve_root(None, download=True) == cache  # downloads never go there
    cache.mkdir(parents=True)
    assert mnist_data.resolve_root(None) == SHARED  # an empty cache folder is not data
    write_part(cache / "MNIST" / "raw", "test", *learnable(20))
    assert mnist_data.resolve_root(None) == cache
    monkeypatch.setenv("SUITE_DATA_ROOT", str(tmp_path / "env"))
    assert mnist_data.resolve_root(None) == tmp_path / "env"  # even where it has no files
    assert mnist_data.resolve_root(str(tmp_path / "flag")) == tmp_path / "flag"


def test_download_failure_is_one_sentence(tmp_path, monkeypatch):
    class Offline:
        def MNIST(self, root, train, download):  # noqa: N802 (torchvision's name)
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried ...")

    monkeypatch.setattr(mnist_data, "check_torchvision", lambda: Offline())
    with pytest.raises(SuiteError, match=r"Could not download MNIST into .*MNIST/raw "
                                         r"\(RuntimeError: Error downloading"):
        mnist_data.download(tmp_path)


# -- torchvision health ----------------------------------------------------------------------
class _BrokenTorchvision:
    """An import hook that fails like a torchvision built for another torch."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision" or name.startswith("torchvision."):
            raise RuntimeError("operator torchvision::nms does not exist")
        return None


def test_check_torchvision_explains_a_broken_install(monkeypatch):
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_BrokenTorchvision(), *sys.meta_path])
    monkeypatch.setattr(mnist_data, "_installed", lambda name: "0.28.0+cu126")
    monkeypatch.setattr(torch, "__version__", "2.13.0+cpu")
    with pytest.raises(SuiteError) as e:
        mnist_data.check_torchvision()
    text = str(e.value)
    assert "torchvision 0.28.0+cu126 cannot be loaded with the installed torch 2.13.0+cpu" in text
    assert "operator torchvision::nms does not exist" in text
    assert "'torchvision==0.28.*' --index-url https://download.pytorch.org/whl/cpu" in text


def test_check_torchvision_passes_when_it_imports():
    assert hasattr(mnist_data.check_torchvision(), "read_image_file")


def test_torchvision_advice_for_each_kind_of_install():
    assert "pip install --force-reinstall --no-deps 'torchvision==0.30.*'`" in (
        mnist_data.torchvision_advice("2.15.0", "0.29.2", "ImportError: x"))
    assert "whl/cu132" in mnist_data.torchvision_advice("2.15.0+cu132", "0.29.2", "x")
    missing = mnist_data.torchvision_advice("2.13.0", None, "ModuleNotFoundError: torchvision")
    assert missing.startswith("torchvision is not installed") and "0.28" in missing


# -- the task ----------------------------------------------------------------------------------
def tiny_config(root: Path, **over) -> dict:
    return {**mnist_task.TASK.defaults(), "task": "mnist", "data_root": str(root),
            "offline_test": 40, "epochs": 2, "batch_size": 16, **over}


def test_task_trains_reports_and_repeats_bit_identically(tmp_path):
    torch.set_num_threads(1)
    write_part(tmp_path, "test", *learnable(200))
    config, seeds = tiny_config(tmp_path), derive(3, 0)
    out = mnist_task.run(config, seeds, torch.device("cpu"))
    assert out.status == "ok" and out.metrics["test_accuracy"] > 0.9
    counts = np.array(out.artifacts["confusion_matrix"])
    assert counts.sum() == 40 == out.metrics["n_test"]
    assert out.metrics["test_accuracy"] == pytest.approx(np.trace(counts) / 40)
    assert out.artifacts["split"]["mode"] == "offline"
    assert out.metrics["n_parameters"] == 784 * 128 + 128 + 128 * 10 + 10
    again = mnist_task.run(config, seeds, torch.device("cpu"))
    assert again.metrics == out.metrics and again.curves == out.curves


def test_confusion_and_per_class_accuracy_match_scikit_learn():
    g = torch.Generator().manual_seed(0)
    from suite.training.datasets import Points
    data = Points(torch.rand((300, 784), generator=g), torch.randint(0, 9, (300,), generator=g))
    model, _, _ = mnist_task.build(mnist_task.TASK.defaults(), derive(0, 0), [16], 1e-3)
    counts = mnist_task.confusion(model, data)
    pred = model(data.x).argmax(1)
    oracle = confusion_matrix(data.y.numpy(), pred.numpy(), labels=range(10))
    assert np.array_equal(counts.numpy(), oracle)
    report = mnist_task.class_report(counts)
    assert report["per_class_accuracy"][9] is None  # no true 9 in the data: undefined
    for c in range(9):
        mask = data.y == c
        assert report["per_class_accuracy"][c] == pytest.approx(
            (pred[mask] == c).double().mean().item())
    assert report["accuracy"] == pytest.approx((pred == data.y).double().mean().item())


def test_data_root_does_not_change_trial_identity():
    raw = {"name": "m", "task": {"kind": "mnist"}, "scientific": {"hidden": [[128], [64]]},
           "nuisance": {"seeds": 2}}
    base = [t.trial_id for t in plan(parse(raw, "m.toml"))]
    elsewhere = [t.trial_id for t in plan(parse({**raw, "fixed": {"data_root": "/data/x",
                                                                  "download": True}}, "m.toml"))]
    assert base == elsewhere and len(set(base)) == 4
    changed = [t.trial_id for t in plan(parse({**raw, "fixed": {"epochs": 3}}, "m.toml"))]
    assert not set(changed) & set(base)


def test_trial_identity_of_tasks_without_runtime_settings_hashes_the_whole_config():
    from suite import __version__
    study = shipped.load("spiral-layers", quick=True)
    for t in plan(study):
        assert t.trial_id == digest({"study": study.name, "quick": True, "config": t.config,
                                     "seeds": t.seeds.as_dict(), "suite": __version__}, 24)
        assert t.config_hash == digest(t.config)


@pytest.mark.parametrize("name", ["mnist-architectures", "mnist-search"])
def test_studies_declare_registered_figures_and_a_quick_offline_variant(name):
    from suite.figures import FIGURES
    full, quick = shipped.load(name), shipped.load(name, quick=True)
    assert quick.fixed["split"] == "offline" and "split" not in full.fixed
    for fig in full.figures:
        assert fig in FIGURES or fig in ("metric_vs_axis", "loss_curves")


# -- the command line ----------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_missing_data_root_fails_with_the_message(tmp_path):
    missing = tmp_path / "no-mnist-here"
    r = subprocess.run([sys.executable, "-m", "suite", "run", "mnist-architectures", "--quick",
                        "--data-root", str(missing), "--store", str(tmp_path / "s.db"),
                        "--no-progress"], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith(f"suite: error: The MNIST data folder {missing} does not exist.")
    assert "t10k-images-idx3-ubyte.gz" in r.stderr and "--download" in r.stderr


@pytest.mark.slow
def test_cli_quick_architectures_on_the_shipped_data(tmp_path):
    """No data root anywhere (no flag, no variable, an empty cache): the shipped copy."""
    store = tmp_path / "s.db"
    env = {k: v for k, v in ENV.items() if k != "SUITE_DATA_ROOT"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "empty-cache")
    r = subprocess.run([sys.executable, "-m", "suite", "run", "mnist-architectures", "--quick",
                        "--seeds", "1", "--store", str(store), "--no-progress"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "3 trials planned, 0 already in the store (skipped), 3 run" in r.stdout
    from suite.store import Store
    rows = {t["labels"]["hidden"]: t for t in Store(store).trials("mnist-architectures", "quick")}
    assert rows["128"]["metrics"]["test_accuracy"] >= 0.90
    assert rows["128"]["artifacts"]["split"]["mode"] == "offline"
    assert rows["128"]["config"]["data_root"] is None  # the root is recorded, not identity
    assert rows["128"]["artifacts"]["split"]["root"] == str(SHARED)
    assert rows["cnn"]["metrics"]["test_accuracy"] >= 0.90
    assert rows["cnn"]["config"]["architecture"] == "cnn"


def test_run_time_settings_override_the_declaration_and_only_for_tasks_that_take_them():
    from suite.running.runner import with_runtime
    from suite.tasks import supervised

    declared = tiny_config(Path("/declared"))
    assert with_runtime(mnist_task.TASK, declared, {"data_root": "/flag"})["data_root"] == "/flag"
    assert with_runtime(mnist_task.TASK, declared, {"data_root": None})["data_root"] == "/declared"
    spiral = supervised.TASK.defaults()
    assert with_runtime(supervised.TASK, spiral, {"data_root": "/flag"}) == spiral


def test_missing_data_fails_before_a_run_is_recorded(tmp_path):
    from suite.running.runner import run_study
    from suite.store import Store

    store = Store(tmp_path / "s.db")
    study = shipped.load("mnist-architectures", quick=True)
    with pytest.raises(SuiteError, match="does not exist"):
        run_study(study, store, device="cpu", runtime={"data_root": str(tmp_path / "none")})
    assert store.runs("mnist-architectures") == []
    store.close()
