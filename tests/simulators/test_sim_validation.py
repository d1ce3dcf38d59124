"""Predicted vs published: every row within 10 % (Megatron-LM Table 1, Korthikanti Table 5
and Fig. 1). The same hardware table and efficiency model serve every row."""

import pytest

from simulators.validation import validate


@pytest.fixture(scope="module")
def rows():
    return validate()


def test_rows_have_the_documented_columns(rows):
    assert {"case", "metric", "published", "predicted", "error"} <= set(rows[0])
    assert len(rows) == 10 + 8 + 12


def test_every_row_within_10_percent(rows):
    worst = max(rows, key=lambda r: abs(r["error"]))
    assert abs(worst["error"]) < 0.10, worst


def test_megatron_table1_within_10_percent_mean_5(rows):
    errs = [abs(r["error"]) for r in rows if r["metric"] == "tflops_per_gpu"]
    assert max(errs) < 0.10 and sum(errs) / len(errs) < 0.05


def test_memory_rows_within_1_percent(rows):
    assert all(abs(r["error"]) < 0.01 for r in rows if r["unit"] == "GiB")
