"""The autouse fixture of tests/conftest.py: a test that leaves torch's settings changed
fails, naming them, and the next test starts clean; the default generators are put back."""

import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

LEAKY = '''
import torch

def test_a_leaks_a_precision_and_the_dtype():
    torch.backends.mkldnn.matmul.fp32_precision = "bf16"
    torch.set_default_dtype(torch.float64)

def test_b_starts_clean():
    assert torch.backends.mkldnn.matmul.fp32_precision == "none"
    assert torch.get_default_dtype() == torch.float32

def test_c_seeds_and_draws():
    torch.manual_seed(0)
    open("c.txt", "w").write(repr(torch.rand(3).tolist()))

def test_d_draws_from_the_state_c_found():
    open("d.txt", "w").write(repr(torch.rand(3).tolist()))

def test_e_draws_again():
    open("e.txt", "w").write(repr(torch.rand(3).tolist()))
'''


@pytest.mark.slow
def test_a_leaking_test_fails_by_name_and_the_next_starts_clean(tmp_path):
    shutil.copy(REPO_ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests") + os.pathsep + str(REPO_ROOT)}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "test_leaky.py"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "5 passed, 1 error" in out  # test_a itself passes, its teardown errs
    assert ("test_leaky.py::test_a_leaks_a_precision_and_the_dtype changed torch's global "
            "settings and did not restore them") in out
    assert "fp32.mkldnn.matmul: 'none' -> 'bf16'" in out
    assert "default_dtype: 'float32' -> 'float64'" in out
    # d and e each start from the state the session began with, not from c's seed
    d, e = ((tmp_path / f"{x}.txt").read_text() for x in "de")
    assert d == e != (tmp_path / "c.txt").read_text()
