"""``dsbench bench attention``: records per point, summary, bad input; and its helpers."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from dsbench.bench.attention import VARIANTS, attention, crossover_length, race
from dsbench.core import results
from dsbench.core.timing import TimerConfig

TINY_ARGS = ["--lengths", "32,64", "--window", "8", "--variant", "sliding-window"]


def test_variant_names_match_the_workload_sweep():
    from workloads.attention.measure import SWEEP_VARIANTS

    assert VARIANTS == SWEEP_VARIANTS


def test_import_loads_no_torch():
    code = "import sys, dsbench.bench.attention; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sweep_stores_a_record_per_point_and_a_summary(tmp_path):
    result = CliRunner().invoke(attention, [*TINY_ARGS, "--no-memory", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    records = [r for _, r in results.load_records([tmp_path])]
    points = [r for r in records if r.name != "attention-sweep/summary"]
    assert sorted((r.params["variant"], r.params["seq_len"]) for r in points) == [
        ("dense-sdpa", 32), ("dense-sdpa", 64), ("sliding-window", 32), ("sliding-window", 64),
    ]  # fmt: skip
    dense = {r.params["seq_len"]: r for r in points if r.params["variant"] == "dense-sdpa"}
    for r in points:
        assert r.metrics["time"].samples and r.metrics["flops"].value > 0
        assert r.info["clock"] == "thread CPU time"
        ratio = r.metrics["time"].value / dense[r.params["seq_len"]].metrics["time"].value
        assert r.metrics["time_ratio_to_dense"].value == pytest.approx(ratio)
    summary = next(r for r in records if r.name == "attention-sweep/summary")
    assert "sliding-window/time_exponent" in summary.metrics
    assert "log-log exponent" in result.output and "sliding-window" in result.output


def test_sweep_measures_peak_memory(tmp_path):
    args = ["--lengths", "256,512", "--variant", "dense-naive", "--out", str(tmp_path)]
    result = CliRunner().invoke(attention, args)
    assert result.exit_code == 0, result.output
    points = {
        (r.params["variant"], r.params["seq_len"]): r.metrics["peak_bytes"].value
        for _, r in results.load_records([tmp_path])
        if r.name != "attention-sweep/summary"
    }
    # materialised scores: 2 heads x T^2 fp32 per matrix, so doubling T quadruples the peak
    assert points[("dense-naive", 512)] >= 2 * 512 * 512 * 4
    assert 2.5 < points[("dense-naive", 512)] / points[("dense-naive", 256)] < 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--variant", "flash-v9"], "'flash-v9' is not one of"),
        (["--lengths", "64,abc"], "comma-separated integers"),
        (["--lengths", "0,64"], "positive"),
        (["--window", "0"], "0"),
        (["--device", "tpu"], "not supported"),
    ],
)
def test_bad_input_is_exit_2(tmp_path, args, message):
    from dsbench.core.errors import DsbenchError

    result = CliRunner().invoke(attention, [*args, "--no-memory", "--out", str(tmp_path)])
    if isinstance(result.exception, DsbenchError):  # run_cli turns these into exit 2
        assert message in str(result.exception)
        return
    assert result.exit_code == 2 and message in result.output


def test_crossover_length():
    assert crossover_length([1, 2, 4], [2.0, 1.0, 0.5]) == pytest.approx(2 * 2**0.0)
    assert crossover_length([1024, 4096], [2.0, 0.5]) == pytest.approx(2048)
    assert crossover_length([1, 2], [0.5, 0.4]) == 1
    assert crossover_length([1, 2, 4], [0.5, 2.0, 3.0]) is None  # ahead only at the start
    assert crossover_length([1, 2, 4], [0.5, 2.0, 0.5]) == pytest.approx(2 * 2**0.5)


def test_race_keeps_the_fastest_timing_of_each():
    # a simulated clock: each call of "a" costs 2 ms, of "b" 1 ms, plus 5 ms in round 1
    now = {"ns": 0}

    def make(cost_ms: float, extra_first_ms: float = 0.0):
        calls = []

        def fn():  # round 1 of a 6 ms call is 1 sizing call + 3 samples
            calls.append(1)
            now["ns"] += int(1e6 * (cost_ms + (extra_first_ms if len(calls) <= 4 else 0)))

        return fn

    config = TimerConfig(warmup_s=0.0, budget_s=0.0, min_samples=3, max_time_s=1.0)
    best = race({"a": make(2.0), "b": make(1.0, 5.0)}, rounds=3, config=config,
                now_ns=lambda: now["ns"])  # fmt: skip
    assert best["a"].min_s == pytest.approx(2e-3) and best["b"].min_s == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="rounds=0"):
        race({"a": make(1.0)}, rounds=0)
