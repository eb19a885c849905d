"""The golden-copy check (tests/golden/check.py): what it lets through, what it reports."""

import pytest

from tests.golden import check

GOLDEN = ("lr,n,val_accuracy_mean,final_loss_mean,diagnosis\n"
          "0.1,2,0.625,0.23067899793386459,underfitting (2/2)\n"
          "1.0,2,0.5,0.0,fine\n")


def test_equal_results_pass():
    assert check.compare("s", GOLDEN, GOLDEN) == []


def test_a_last_bit_difference_of_float32_size_passes_and_a_larger_one_is_reported():
    ulp = 0.23067899793386459 * 2.0 ** -23
    within = GOLDEN.replace("0.23067899793386459", repr(0.23067899793386459 + 3 * ulp))
    assert check.compare("s", GOLDEN, within) == []
    low = GOLDEN.replace("0.23067899793386459", repr(0.23067899793386459 + 100 * ulp))
    [line] = check.compare("s", GOLDEN, low)
    assert "row 1 (lr=0.1), final_loss_mean" in line and "low bits" in line


def test_a_moved_accuracy_and_a_changed_diagnosis_are_named():
    moved = GOLDEN.replace("0.625", "0.63").replace("fine", "overfitting (1/2)")
    lines = check.compare("s", GOLDEN, moved)
    assert len(lines) == 2
    assert "val_accuracy_mean: golden 0.625, now 0.63" in lines[0] and "changed" in lines[0]
    assert "diagnosis: golden 'fine', now 'overfitting (1/2)'" in lines[1]


def test_timings_are_not_compared():
    golden = "lr,n,tpe_seconds_to_tol_mean,final_loss_mean\n0.1,2,0.129,0.5\n"
    assert check.compare("s", golden, golden.replace("0.129", "0.276")) == []
    assert check.compare("s", golden, golden.replace("0.5\n", "0.6\n")) != []


def test_new_columns_and_missing_rows_are_reported():
    assert "columns changed" in check.compare("s", GOLDEN, GOLDEN.replace("lr,", "rate,"))[0]
    assert "3 rows in the golden copy" not in check.compare("s", GOLDEN, GOLDEN)
    short = "\n".join(GOLDEN.splitlines()[:2]) + "\n"
    assert "2 rows in the golden copy, 1 now" in check.compare("s", GOLDEN, short)[0]


@pytest.mark.slow
def test_a_fresh_quick_run_of_a_cheap_study_matches_its_golden_copy():
    name = "paths-bowl"
    path = check.HERE / f"{name}.csv"
    if not path.exists():
        pytest.skip(f"no golden copy of {name} yet (nox -s golden -- --update)")
    assert check.compare(name, path.read_text(), check.fresh_results(name, None)) == []
