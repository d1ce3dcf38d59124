"""Measurement helpers: records, slope fit, measured peak memory, FLOP-rate ratio.

No timing assertions: the timer is a stub wherever the value would matter.
"""

from __future__ import annotations

import math

import pytest
import torch

from workloads.attention import (
    SweepShape,
    fit_loglog_slope,
    make_sweep_case,
    measure_peak_bytes,
    scaling_exponents,
    swa_matmul_flop_rate,
    sweep,
)
from workloads.attention.measure import SWEEP_VARIANTS
from workloads.attention.measure_stack import (
    STACK_SCHEDULES,
    StackShape,
    dense_layer_fraction,
    make_stack_case,
)
from workloads.attention.peak_memory import PeakMemoryProbe
from workloads.attention.progressive import AttentionKind

SMALL = SweepShape(heads=2, head_dim=8, window=16, n_global=2, block=8, n_blocks=2, top_k=4)


def _calls(fn) -> float:
    fn()
    return 1.0


def test_fit_loglog_slope_recovers_exponents():
    xs = [512, 1024, 2048, 4096]
    assert fit_loglog_slope(xs, [3e-9 * x**2 for x in xs]) == pytest.approx(2.0)
    assert fit_loglog_slope(xs, [5 * x for x in xs]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="positive"):
        fit_loglog_slope([1, 2], [0, 1])


@pytest.mark.parametrize("variant", SWEEP_VARIANTS)
@pytest.mark.parametrize("backward", [False, True])
def test_every_sweep_variant_runs(variant, backward):
    fn, flops = make_sweep_case(variant, 37, SweepShape(**{**SMALL.__dict__, "backward": backward}))
    out = fn()
    assert flops > 0 and (out.shape[-2:] == (37, 8) if not backward else len(out) == 3)


def test_sweep_records_and_scaling_exponents():
    records = sweep(
        ["dense-naive", "sliding-window"],
        [32, 64],
        lambda fn: _calls(fn) * 1e-3,
        SMALL,
        measure_memory=False,
    )
    assert [(r.variant, r.seq_len) for r in records] == [
        ("dense-naive", 32),
        ("dense-naive", 64),
        ("sliding-window", 32),
        ("sliding-window", 64),
    ]
    assert all(r.peak_bytes is None and r.time_s == 1e-3 for r in records)
    assert records[1].flops / records[0].flops == pytest.approx(64 * 65 / (32 * 33))
    assert scaling_exponents(records) == {
        "dense-naive": pytest.approx(0.0),
        "sliding-window": pytest.approx(0.0),
    }


def test_peak_memory_is_measured_in_a_child_process():
    shape = SweepShape(heads=1, head_dim=8)
    peak = measure_peak_bytes("dense-naive", 2048, shape)
    scores_bytes = 2048 * 2048 * 4  # one fp32 T×T matrix is 16 MiB; naive holds several
    assert scores_bytes <= peak < 20 * scores_bytes


def test_swa_matmul_flop_rate_accounting():
    r = swa_matmul_flop_rate(200, _calls, SMALL, block=8)
    n_blocks, span = math.ceil(200 / 8), 8 + 16 - 1
    assert r.matmul_flops == r.swa_executed_flops == 4 * 8 * 2 * n_blocks * 8 * span
    assert r.swa_flops < r.swa_executed_flops and r.ratio == pytest.approx(
        r.swa_flops / r.matmul_flops
    )


def test_probe_measures_points_one_after_another_in_one_child():
    shape = SweepShape(heads=1, head_dim=8)
    with PeakMemoryProbe() as probe:
        small, big, again = (
            probe.measure(make_sweep_case, "dense-naive", t, shape) for t in (512, 1024, 512)
        )
    assert small >= 512 * 512 * 4  # at least one fp32 T×T matrix
    assert 3 < big / small < 5  # T^2: doubling T quadruples the peak
    assert abs(again - small) < 0.5 * small  # the earlier, larger call leaves nothing behind


@pytest.mark.parametrize("backward", [False, True])
def test_stack_schedules_share_weights_and_kernels(backward):
    shape = StackShape(d_model=8, heads=2, n_layers=3, block=8, n_blocks=2, backward=backward)
    outs = {s: make_stack_case(s, 40, shape) for s in STACK_SCHEDULES}
    kinds = {s: [spec.kind for spec in specs] for s, (_, specs) in outs.items()}
    assert kinds["progressive"] == [
        AttentionKind.WINDOW, AttentionKind.DENSE, AttentionKind.BLOCK_TOPK
    ]  # fmt: skip
    assert kinds["progressive-materialised"][1] is AttentionKind.DENSE_MATERIALISED
    assert set(kinds["dense-materialised"]) == {AttentionKind.DENSE_MATERIALISED}
    assert dense_layer_fraction(outs["progressive"][1]) == pytest.approx(1 / 3)
    dense, materialised = outs["dense"][0](), outs["dense-materialised"][0]()
    torch.testing.assert_close(dense, materialised, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="unknown stack schedule 'sparse'"):
        make_stack_case("sparse", 40, shape)
