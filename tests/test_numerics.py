"""suite.numerics: torch's numeric settings read, set and restored through one module, on
the per-backend fp32_precision API (torch >= 2.9) and on the legacy switches before it."""

import pytest
import torch

from suite import numerics

LEGACY_CONSISTENT = "the legacy getters still answer"


def legacy_getters() -> tuple:
    """What torch's old switches say; each raises when the two APIs were mixed."""
    return (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32)


def user_reduces_everything():
    """What a user's script might have done before calling the suite."""
    torch.set_float32_matmul_precision("medium")
    torch.backends.mkldnn.conv.fp32_precision = "bf16"
    torch.backends.cudnn.rnn.fp32_precision = "ieee"
    torch.backends.cudnn.benchmark = True
    torch.backends.mkldnn.enabled = False
    torch.set_default_dtype(torch.float64)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_num_threads(2)


def test_defaults_read_as_torch_documents_them():
    """torch's defaults: IEEE float32 everywhere except cuDNN, which may use TF32."""
    assert numerics.precisions() == {
        "cuda.matmul": "ieee", "cuda.conv": "tf32", "cuda.rnn": "tf32",
        "mkldnn.matmul": "ieee", "mkldnn.conv": "ieee", "mkldnn.rnn": "ieee"}
    assert legacy_getters() == ("highest", False, True)


def test_precision_follows_each_of_torchs_switches():
    with numerics.preserved():
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"
        assert numerics.precision("mkldnn", "matmul") == "bf16"
        assert numerics.precision("mkldnn", "conv") == "ieee"
        torch.backends.fp32_precision = "bf16"  # the root: oneDNN ops that say "none" follow
        assert numerics.precision("mkldnn", "conv") == "bf16"
        assert numerics.precision("cuda", "matmul") == "ieee"  # bf16 is not a CUDA choice
    with numerics.preserved():
        torch.backends.cudnn.allow_tf32 = False
        assert numerics.precision("cuda", "conv") == numerics.precision("cuda", "rnn") == "ieee"
        torch.backends.cuda.matmul.allow_tf32 = True
        assert numerics.precision("cuda", "matmul") == "tf32"
    with numerics.preserved():
        torch.set_float32_matmul_precision("high")
        assert numerics.precision("cuda", "matmul") == "tf32"


def test_set_precision_changes_one_and_rejects_bad_names():
    with numerics.preserved():
        numerics.set_precision("mkldnn", "matmul", "bf16")
        assert torch.backends.mkldnn.matmul.fp32_precision == "bf16"
        assert numerics.precisions()["mkldnn.conv"] == "ieee"
    assert numerics.precision("mkldnn", "matmul") == "ieee"
    with pytest.raises(ValueError, match="backend must be one of"):
        numerics.precision("mps", "matmul")
    with pytest.raises(ValueError, match="precision must be one of"):
        numerics.set_precision("cuda", "conv", "fp16")


def test_preserved_restores_every_setting_exactly():
    before = numerics.snapshot()
    with numerics.preserved():
        user_reduces_everything()
        changed = numerics.differences(before, numerics.snapshot())
    assert numerics.snapshot() == before
    names = {line.split(":")[0] for line in changed}
    assert {"fp32.mkldnn.matmul", "fp32.mkldnn.conv", "fp32.cuda.rnn", "fp32.legacy_matmul",
            "cudnn_benchmark", "mkldnn_enabled", "default_dtype", "deterministic_algorithms",
            "deterministic_warn_only"} <= names
    # restored through the new API without leaving torch in a "mixed API" state
    assert legacy_getters() == ("highest", False, True)
    # and a node that followed its parent follows it again
    with numerics.preserved():
        torch.backends.fp32_precision = "bf16"
        assert torch.backends.mkldnn.rnn.fp32_precision == "bf16"


def test_a_snapshot_taken_under_a_reduced_precision_is_restored_too():
    with numerics.preserved():
        torch.backends.fp32_precision = "tf32"
        torch.backends.cudnn.conv.fp32_precision = "ieee"
        reduced = numerics.snapshot()
        with numerics.preserved():
            torch.backends.fp32_precision = "none"
            torch.backends.cudnn.conv.fp32_precision = "tf32"
        assert numerics.snapshot() == reduced


def test_the_legacy_switches_are_used_where_torch_has_no_fp32_precision(monkeypatch):
    """torch before 2.9 (only the old switches): the same functions through them. torch
    2.14 still has the old switches, so this path runs against real torch too."""
    with numerics.preserved():  # through the new API, after the legacy path is done
        with monkeypatch.context() as m:
            m.setattr(numerics, "new_api", lambda: False)
            before = numerics.snapshot()
            assert before["fp32.legacy_matmul"] == "highest"
            assert "fp32.mkldnn.matmul" not in before
            assert numerics.precisions()["cuda.conv"] == "tf32"
            numerics.set_precision("cuda", "conv", "ieee")
            assert torch.backends.cudnn.allow_tf32 is False
            assert numerics.precision("cuda", "rnn") == "ieee"
            numerics.set_precision("mkldnn", "matmul", "bf16")
            assert torch.get_float32_matmul_precision() == "medium"
            assert numerics.precision("mkldnn", "matmul") == "bf16"
            assert numerics.precision("cuda", "matmul") == "tf32"  # legacy: one switch for all
            with pytest.raises(ValueError, match="cannot set mkldnn.conv"):
                numerics.set_precision("mkldnn", "conv", "bf16")
            numerics.restore(before)
            assert numerics.snapshot() == before
            with numerics.trial_settings(1):
                assert set(numerics.precisions().values()) == {"ieee"}
            assert numerics.snapshot() == before


def test_trial_settings_override_what_the_caller_set_and_give_it_back():
    with numerics.preserved():
        user_reduces_everything()
        torch.manual_seed(123)
        outside = numerics.snapshot()
        rng = torch.random.get_rng_state()
        with numerics.trial_settings(1):
            assert set(numerics.precisions().values()) == {"ieee"}
            assert torch.get_default_dtype() == torch.float32
            assert torch.get_num_threads() == 1
            assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
            assert torch.backends.mkldnn.enabled
            assert legacy_getters() == ("highest", False, False), LEGACY_CONSISTENT
            torch.manual_seed(0)  # a trial seeds the default generator
            torch.rand(3)
        assert numerics.snapshot() == outside
        assert torch.equal(torch.random.get_rng_state(), rng)


def test_a_product_in_a_trial_is_the_ieee_product_whatever_the_caller_set():
    """Bit for bit the product of a clean process, and within the float32 error bound of
    the product in float64 (the oracle). The caller's bfloat16 setting changes it here."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 256, generator=g), torch.randn(256, 64, generator=g)
    exact = (a.double() @ b.double())
    clean = a @ b
    with numerics.preserved():
        torch.backends.mkldnn.matmul.fp32_precision = "bf16"
        reduced = a @ b
        with numerics.trial_settings(1):
            inside = a @ b
    assert torch.equal(inside, clean)
    # 256 float32 products summed: within gamma_256 of the sizes' sum (|a| |b| in float64)
    bound = 256 * 2.0**-24 / (1 - 256 * 2.0**-24) * (a.double().abs() @ b.double().abs())
    assert bool(((inside.double() - exact).abs() <= bound).all())
    if torch.equal(reduced, clean):
        pytest.skip("this CPU's oneDNN has no bfloat16 path: the caller's setting changed "
                    "nothing to guard against")


def test_trial_record_is_what_trials_run_with():
    record = numerics.trial_record()
    assert record == {"fp32_precision": dict.fromkeys(numerics.precisions(), "ieee"),
                      "cudnn_deterministic": True, "cudnn_benchmark": False,
                      "mkldnn_enabled": True, "default_dtype": "float32"}
    with numerics.preserved():
        user_reduces_everything()
        assert numerics.trial_record() == record


def test_describe_says_what_a_record_holds_in_one_line():
    record = numerics.trial_record()
    assert numerics.describe(record) == ("float32 ieee everywhere; cudnn_benchmark False, "
                                         "cudnn_deterministic True, default_dtype float32, "
                                         "mkldnn_enabled True")
    record["fp32_precision"]["cuda.conv"] = "tf32"
    assert numerics.describe(record).startswith("float32 cuda.conv tf32, cuda.matmul ieee, ")
    assert numerics.describe(None) == "not recorded"
