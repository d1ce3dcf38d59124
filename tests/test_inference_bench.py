"""`dsbench bench inference`: rows become records with units; bad input exits 2."""

from __future__ import annotations

from click.testing import CliRunner

from dsbench.bench.inference import _unit, inference, row_record
from dsbench.core import results


def test_units_follow_field_names():
    assert _unit("time_s") == "s" and _unit("fp32_time_s") == "s"
    assert _unit("tokens_per_s") == "1/s"
    assert _unit("flop_reduction_pct") == "%" and _unit("accuracy_loss_pts") == "%"
    assert _unit("speedup_vs_fp32") == "x" and _unit("bytes_ratio") == "x"
    assert _unit("bytes") == "B" and _unit("flops") == "FLOP" and _unit("val_loss") == "nats"


def test_row_record_splits_params_metrics_and_keeps_samples():
    row = {"variant": "int8", "batch": 8, "widths": [1, 2], "time_s": 0.2, "samples": [0.1, 0.3]}
    rec = row_record("int8-gemm", row, quick=True, threads=1)
    assert rec.name == "inference-int8-gemm"
    assert rec.params["variant"] == "int8" and rec.params["widths"] == [1, 2]
    assert rec.metrics["time_s"].samples == (0.1, 0.3) and rec.metrics["batch"].value == 8


def test_bench_writes_one_record_per_row(tmp_path):
    result = CliRunner().invoke(inference, ["--only", "int8-gemm", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "4 records" in result.output
    df = results.load(tmp_path)
    speed = df[df["metric"] == "speedup_vs_fp32"]
    assert set(speed["param.variant"]) == {"fp32", "int8"}
    assert (speed[speed["param.variant"] == "fp32"]["value"] == 1.0).all()


def test_unknown_experiment_exits_2(tmp_path):
    result = CliRunner().invoke(inference, ["--only", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Invalid value for '--only'" in result.output
