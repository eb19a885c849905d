"""MNIST from a data root, read with torchvision's IDX readers, split by a derived seed.

The data root is a folder holding the official IDX files, gzipped or not, either directly
or in its `MNIST/raw/` (where `torchvision.datasets.MNIST` downloads them). It is taken
from, in order: the task's `data_root` (`suite run --data-root` sets it), the environment
variable `SUITE_DATA_ROOT`, `~/.cache/suite/data` (`$XDG_CACHE_HOME/suite/data`) when it
holds the test files (or a download is asked for), and last the official test set shipped
inside the package (`suite/training/data/mnist`, `SHIPPED`), whose files are checked against their
sha256 sums (`SHA256SUMS` there) whenever they are read.

Two splits (`split` = "standard", "offline", or "auto": standard when the training files
are present, else offline):

- standard: the 60,000 training digits are the development set, the 10,000 official test
  digits the test set;
- offline (only the official test set present, as on machines that reach no dataset host):
  the 10,000 test digits are permuted by a seed derived from the trial's data seed and the
  last `offline_test` (2,000) become the test set, the other 8,000 the development set.

Either way, a seeded `val_fraction` (20%, the notebook's `validation_split`) of the
development set is held out for validation: 48,000 / 12,000 / 10,000 digits (standard) or
6,400 / 1,600 / 2,000 (offline). Pixels are scaled to [0, 1] and flattened to 784 floats.
The split a trial used is described by `Split.info`, which tasks store as an artifact.
"""

import gzip
import hashlib
import importlib
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import torch

from suite.errors import SuiteError
from suite.training.datasets import Points

ENV_ROOT = "SUITE_DATA_ROOT"
PARTS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
SPLITS = {"auto": "standard when the training files are present, else offline",
          "standard": "60,000 training digits for development, the 10,000 test digits to test",
          "offline": "the 10,000 official test digits split into development and test parts"}
IMAGE_MAGIC, LABEL_MAGIC = 0x00000803, 0x00000801
SHAPE = (28, 28)
N_CLASSES = 10


# -- torchvision health -------------------------------------------------------------------
def check_torchvision():
    """`torchvision.datasets.mnist`, or a SuiteError with both versions and the fix when
    torchvision is missing or was built for another torch (its import then fails deep
    inside, e.g. 'operator torchvision::nms does not exist')."""
    try:
        return importlib.import_module("torchvision.datasets.mnist")
    except Exception as e:  # any failure inside torchvision's import means the same thing
        reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e) else ''}"
        raise SuiteError(torchvision_advice(torch.__version__, _installed("torchvision"),
                                            reason)) from None


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def torchvision_advice(torch_version: str, tv_version: str | None, reason: str) -> str:
    """The one-paragraph diagnosis for a torchvision that cannot be imported."""
    if tv_version is None:
        return (f"torchvision is not installed, and the MNIST tasks read their data with it "
                f"({reason}). Install the release built for torch {torch_version}: "
                f"{_pip_line(torch_version)}.")
    return (f"torchvision {tv_version} cannot be loaded with the installed torch "
            f"{torch_version} ({reason}). The two must be built for each other (same release "
            f"pair, and both CPU-only or both for the same CUDA): reinstall torchvision with "
            f"{_pip_line(torch_version)}, or reinstall torch and torchvision together.")


def _pip_line(torch_version: str) -> str:
    base, _, local = torch_version.partition("+")
    parts = base.split(".")
    pin = "torchvision"
    if len(parts) >= 2 and parts[0] == "2" and parts[1].isdigit():
        pin = f"'torchvision==0.{int(parts[1]) + 15}.*'"  # torch 2.N pairs with 0.(N+15)
    index = f" --index-url https://download.pytorch.org/whl/{local}" if local else ""
    return f"`pip install --force-reinstall --no-deps {pin}{index}`"


# -- where the files are --------------------------------------------------------------------
SHIPPED = Path(__file__).resolve().parent / "data" / "mnist"  # the official test set
CHECKSUMS = "SHA256SUMS"


def default_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(cache) / "suite" / "data"


def resolve_root(value: str | os.PathLike | None, download: bool = False) -> Path:
    """The data root: `value`, else $SUITE_DATA_ROOT, else the default cache folder when it
    holds the test files or `download` is asked for (downloads go there, never into the
    package), else the shipped test set (when the package has it)."""
    chosen = value or os.environ.get(ENV_ROOT)
    if chosen:
        return Path(chosen).expanduser()
    cache = default_root()
    if download or locate(cache, "test") is not None or locate(SHIPPED, "test") is None:
        return cache
    return SHIPPED


def find(root: Path, stem: str) -> Path | None:
    """The first of root/stem, root/stem.gz, root/MNIST/raw/stem(.gz) that is a file."""
    for folder in (root, root / "MNIST" / "raw"):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def locate(root: Path, part: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of `part` ('train' or 'test'), or None when either is
    missing."""
    found = [find(root, stem) for stem in PARTS[part]]
    return None if None in found else (found[0], found[1])


def missing_error(root: Path, need_train: bool = False) -> SuiteError:
    """The folder, the files it lacks, the files expected and how to get them."""
    wanted = [*PARTS["test"], *(PARTS["train"] if need_train else ())]
    lacking = [s for s in wanted if find(root, s) is None]
    state = ("does not exist" if not root.is_dir()
             else f"has no {', '.join(s + '[.gz]' for s in lacking)}")
    test, train = (", ".join(f"{s}.gz" for s in PARTS[p]) for p in ("test", "train"))
    return SuiteError(
        f"The MNIST data folder {root} {state}. Expected {test} (the official test set, "
        f"enough for the offline split) and, for the standard 60,000/10,000 split, {train}; "
        f"gzipped or not, in the folder or in its MNIST/raw/. Get them with `suite run ... "
        f"--download` (needs internet; saves to FOLDER/MNIST/raw) or copy the official files "
        f"there, then pass --data-root FOLDER or set {ENV_ROOT}.")


def resolve_split(root: Path, split: str) -> str:
    """'standard' or 'offline' for the declared `split`; raises when its files are missing."""
    if locate(root, "test") is None:
        raise missing_error(root, need_train=split == "standard")
    if split == "auto":
        return "standard" if locate(root, "train") is not None else "offline"
    if split == "standard" and locate(root, "train") is None:
        raise missing_error(root, need_train=True)
    return split


def download(root: Path) -> None:
    """Fetch the four official files into root/MNIST/raw with torchvision (needs internet)."""
    if locate(root, "train") and locate(root, "test"):
        return
    tv = check_torchvision()
    try:
        for train in (True, False):
            tv.MNIST(str(root), train=train, download=True)
    except Exception as e:  # network errors come in many types; all mean "not fetched"
        raise SuiteError(f"Could not download MNIST into {root / 'MNIST' / 'raw'} "
                         f"({type(e).__name__}: {str(e).strip().splitlines()[0]}). Check the "
                         "internet connection, or copy the files there by hand.") from None


# -- reading --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Digits:
    images: torch.Tensor  # (n, 28, 28) uint8
    labels: torch.Tensor  # (n,) int64


def read_part(images: Path, labels: Path) -> Digits:
    """One part's digits, read and checked; SuiteError naming the file when it is broken
    (for the shipped files, when they do not match their sha256 sums)."""
    for path in (images, labels):
        check_shipped(path)
    return _read_cached(str(images), str(labels), _signature(images), _signature(labels))


def check_shipped(path: Path) -> None:
    """For a file of the shipped test set (in `SHIPPED`): a SuiteError unless its sha256
    is the one `SHA256SUMS` there records. Other files pass unchecked."""
    path = Path(path)
    if path.resolve().parent != SHIPPED.resolve():
        return
    sums = SHIPPED / CHECKSUMS
    expected = _checksums(str(sums), _signature(sums)).get(path.name)
    actual = _sha256_cached(str(path), _signature(path))
    if expected != actual:
        raise SuiteError(f"The MNIST file {path} shipped with the suite does not match its "
                         f"sha256 in {sums} (expected {expected or 'an entry for it'}, got "
                         f"{actual}): the installation is damaged. Reinstall the suite, or "
                         f"pass --data-root FOLDER with the official files.")


@lru_cache(maxsize=2)
def _checksums(path: str, _signature) -> dict[str, str]:
    """{file name: sha256} from a `sha256sum` listing."""
    out = {}
    for line in Path(path).read_text().splitlines():
        digest, _, name = line.strip().partition("  ")
        if name:
            out[name.lstrip("*")] = digest
    return out


@lru_cache(maxsize=8)
def _sha256_cached(path: str, _signature) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _signature(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@lru_cache(maxsize=4)
def _read_cached(images: str, labels: str, *_signatures) -> Digits:
    tv = check_torchvision()
    x = _read_idx(Path(images), IMAGE_MAGIC, tv.read_image_file)
    y = _read_idx(Path(labels), LABEL_MAGIC, tv.read_label_file)
    if tuple(x.shape[1:]) != SHAPE:
        raise _corrupt(Path(images), f"its images are {tuple(x.shape[1:])} pixels, not 28 x 28")
    if x.shape[0] != y.shape[0]:
        raise _corrupt(Path(labels), f"it has {y.shape[0]} labels for {x.shape[0]} images")
    if y.numel() and not 0 <= int(y.min()) <= int(y.max()) < N_CLASSES:
        raise _corrupt(Path(labels), "it has labels outside 0-9")
    return Digits(x, y)


def _read_idx(path: Path, magic: int, reader) -> torch.Tensor:
    """Check the IDX header and length here (torchvision's reader asserts, or reads a
    truncated file leniently), then parse with torchvision's reader."""
    data = _bytes(path)
    if len(data) < 8 or int.from_bytes(data[:4], "big") != magic:
        raise _corrupt(path, f"it does not start with the IDX magic number 0x{magic:08x}")
    n_dims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims)]
    expected = 4 + 4 * n_dims + _product(dims)
    if len(data) != expected:
        raise _corrupt(path, f"it has {len(data)} bytes where its header {dims} promises "
                             f"{expected}")
    with tempfile.TemporaryDirectory(prefix="suite-mnist-") as tmp:
        raw = Path(tmp) / path.name.removesuffix(".gz")
        raw.write_bytes(data)  # torchvision's readers take a path to the uncompressed file
        try:
            return reader(str(raw))
        except (AssertionError, KeyError, ValueError, TypeError, RuntimeError) as e:
            raise _corrupt(path, f"torchvision could not parse it: {e}") from None


def _bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError) as e:
        raise _corrupt(path, f"it cannot be read ({e})") from None


def _product(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _corrupt(path: Path, why: str) -> SuiteError:
    return SuiteError(f"The MNIST file {path} is corrupt: {why}. Replace it with the official "
                      "file, e.g. with `suite run ... --download` into an empty folder.")


def md5(path: Path) -> str:
    return _md5_cached(str(path), _signature(path))


@lru_cache(maxsize=8)
def _md5_cached(path: str, _signature) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


# -- splitting ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    train: Points
    val: Points
    test: Points
    info: dict  # JSON-able: mode, sizes, seeds, files and their md5, test-set fingerprint

    def development(self) -> Points:
        """Training and validation parts together (what a final model is retrained on)."""
        return Points(torch.cat((self.train.x, self.val.x)), torch.cat((self.train.y, self.val.y)))


def load_split(root: Path, split: str, data_seeds: list[int], val_fraction: float = 0.2,
               offline_test: int = 2000) -> Split:
    """The train / validation / test parts for one trial. `data_seeds` are two seeds
    derived from the trial's data seed: the offline partition and the validation hold-out."""
    mode = resolve_split(root, split)
    test_files = locate(root, "test")
    test = read_part(*test_files)
    files = list(test_files)
    if mode == "standard":
        dev_files = locate(root, "train")
        dev, files = read_part(*dev_files), [*dev_files, *files]
    else:
        dev, test = _partition(test, offline_test, data_seeds[0], test_files[0])
    train, val = _hold_out(dev, val_fraction, data_seeds[1])
    info = {"mode": mode, "description": SPLITS[mode], "root": str(root),
            "sizes": {"train": len(train.labels), "val": len(val.labels),
                      "test": len(test.labels)},
            "val_fraction": val_fraction, "partition_seed": data_seeds[0] if mode == "offline"
            else None, "holdout_seed": data_seeds[1],
            "files": {p.name: md5(p) for p in files},
            "test_fingerprint": _fingerprint(test)}
    return Split(_points(train), _points(val), _points(test), info)


def _permutation(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def _take(d: Digits, idx: torch.Tensor) -> Digits:
    return Digits(d.images[idx], d.labels[idx])


def _partition(d: Digits, n_test: int, seed: int, source: Path) -> tuple[Digits, Digits]:
    n = len(d.labels)
    if not 0 < n_test < n:
        raise SuiteError(f"The offline split holds out offline_test = {n_test} test digits, but "
                         f"{source} has {n} digits; choose fewer than {n}.")
    perm = _permutation(n, seed)
    return _take(d, perm[:n - n_test]), _take(d, perm[n - n_test:])


def _hold_out(d: Digits, fraction: float, seed: int) -> tuple[Digits, Digits]:
    n = len(d.labels)
    n_val = round(n * fraction)
    if not 0 < n_val < n:
        raise SuiteError(f"val_fraction = {fraction} of {n} development digits leaves an empty "
                         "training or validation part; choose a fraction that keeps both.")
    perm = _permutation(n, seed)
    return _take(d, perm[:n - n_val]), _take(d, perm[n - n_val:])


def _points(d: Digits) -> Points:
    return Points(d.images.reshape(len(d.labels), -1).to(torch.float32) / 255.0, d.labels)


def _fingerprint(d: Digits) -> str:
    """A short hash of the test digits and labels: equal fingerprints, same test set."""
    h = hashlib.sha256(d.images.numpy().tobytes())
    h.update(d.labels.numpy().tobytes())
    return h.hexdigest()[:16]
