"""The parallel/offload/data-path checks: every id registered, verdicts from the evidence."""

from __future__ import annotations

import pytest

from dsbench.bench import parallel as pb
from dsbench.claims.checks import parallel as checks
from dsbench.claims.engine import verify
from dsbench.claims.registry import CheckContext, checks_by_claim
from dsbench.claims.verdicts import Verdict
from dsbench.core.results import Kind, Metric, Record

IDS = (
    "000-cpu-gpu-hybrid-partition", "000-3tier-memory-hierarchy", "000-embedding-on-cpu",
    "001-tp-forward-allreduce", "002-hetero-a100-cpu-37pct", "002-smart-param-swap",
    "002-mmap-loader-tb", "003-parallel-linear-code",
)  # fmt: skip


def test_every_id_has_a_check_here():
    registry = checks_by_claim()
    for claim_id in IDS:
        assert registry[claim_id].name.startswith("dsbench.claims.checks.parallel."), claim_id


def _rec(name, metrics, params=None, **info):
    return Record(
        Kind.MEASUREMENT,
        name,
        params=params or {},
        metrics={k: Metric(v, "x") for k, v in metrics.items()},
        info=info,
    )


def _ctx(tmp_path, *ids):
    return CheckContext(mode="quick", out_dir=tmp_path, claim_ids=ids)


def test_tp_checks_contradict_the_seed_code(tmp_path, monkeypatch):
    block = _rec("parallel-tp-block", {"block_forward_err": 1e-7, "row_weight_grad_err": 2e-6})
    seed = _rec(
        "parallel-seed-tp-code",
        {
            "parallel_linear_sharded_x_forward_err": 0.0,
            "tp_forward_rel_err_vs_own_slice": 0.87,
            "parallel_linear_out7_width": 6,
        },
        tp_forward_as_written="NameError: name 'num_devices' is not defined",
        tp_forward_output_shape=[4, 3],
        tp_forward_reference_shape=[4, 6],
        parallel_linear_replicated_x="RuntimeError: mat1 and mat2 shapes cannot be multiplied",
        parallel_linear_output_requires_grad=False,
    )
    monkeypatch.setattr(pb, "bench_tp", lambda cfg: iter([block, seed]))
    out = checks.tensor_parallel_code(
        _ctx(tmp_path, "001-tp-forward-allreduce", "003-parallel-linear-code")
    )
    by_id = {o.claim_id: o for o in out}
    assert {o.verdict for o in out} == {Verdict.CONTRADICTED}
    assert "NameError" in by_id["001-tp-forward-allreduce"].explanation
    assert "87%" in by_id["001-tp-forward-allreduce"].explanation
    assert "gives 6 outputs" in by_id["003-parallel-linear-code"].explanation
    assert by_id["003-parallel-linear-code"].measured == 2e-6
    assert len(by_id["001-tp-forward-allreduce"].evidence) == 2


def test_hetero_split_needs_gpu_and_states_the_bound(tmp_path, monkeypatch):
    rec = _rec(
        "parallel-split-pipeline",
        {
            "speedup": 1.3,
            "overlap_bound": 1.5,
            "post_over_feature_time": 0.5,
            "serial_vs_overlapped_ratio_ci_low": 0.7,
            "serial_vs_overlapped_ratio_ci_high": 0.8,
        },
    )
    monkeypatch.setattr(pb, "bench_pipeline", lambda cfg: rec)
    out = checks.hetero_split(_ctx(tmp_path, "002-hetero-a100-cpu-37pct"))
    assert out.verdict is Verdict.NEEDS_GPU and out.measured == 1.3
    assert "1.50x" in out.explanation and "<= 2x" in out.prediction


def test_param_swap_prediction_uses_pcie_and_peak(tmp_path, monkeypatch):
    rec = _rec(
        "parallel-offload-swap",
        {
            "max_abs_err_prefetch": 0.0,
            "peak_param_bytes_prefetch": 2.0,
            "moved_bytes_per_forward_prefetch": 8.0,
            "prefetch_ratio": 1.2,
            "no_prefetch_ratio": 1.5,
        },
        params={"layers": 8},
    )
    monkeypatch.setattr(pb, "bench_swap", lambda cfg: iter([rec]))
    out = checks.smart_param_swap(_ctx(tmp_path, "002-smart-param-swap"))
    assert out.verdict is Verdict.NEEDS_GPU and "25%" in out.explanation
    # A100 bf16 312 TFLOP/s, PCIe4 25.2 GB/s: decode (1 token) is copy-bound by ~12,000x
    assert "12381x at 1 token" in out.prediction


def test_mmap_check_judges_tb_against_the_address_space(tmp_path, monkeypatch):
    rec = _rec(
        "parallel-mmap-tokens",
        {
            "in_ram_refused_over_budget": 1.0,
            "samples_per_s_mmap_cold": 1e4,
            "samples_per_s_mmap_warm": 1e5,
            "samples_per_s_in_ram": 3e5,
        },
        params={"seq": 1024, "file_bytes": 8e6, "memory_budget_bytes": 2e6},
    )
    monkeypatch.setattr(pb, "bench_mmap", lambda cfg: rec)
    o = checks.mmap_loader(_ctx(tmp_path, "002-mmap-loader-tb"))
    assert o.verdict is Verdict.SUPPORTED, o.explanation
    assert o.measured == pytest.approx(2**47 / 1e12)
    assert "refused: True" in o.explanation and len(o.evidence) == 2


def test_three_tier_check_runs_for_real(tmp_path):
    from dsbench.core import results

    (row,) = verify(tmp_path, only=["000-3tier-memory-hierarchy"])
    o = row.outcome
    assert o.verdict is Verdict.PARTLY, o.explanation
    assert 0 < o.measured < 100 and "gpu_cache dict grew" in o.explanation
    rec = results.read_record(tmp_path / o.evidence[0])
    m = {k: v.value for k, v in rec.metrics.items()}
    for layout in ("tiered", "all_device", "host_only", "disk_only"):
        total = sum(m[f"{layout}_hit_rate_{t}"] for t in ("device", "host", "disk"))
        assert total == pytest.approx(100.0)
    assert m["disk_only_hit_rate_disk"] == 100.0
    assert m["tiered_hit_rate_device"] <= m["oracle_device_hit_rate"] + 2
    assert m["seed_gpu_tier_bytes"] > m["tiered_device_budget_bytes"]
    assert rec.params["threads"] == 1


def test_hetero_split_flags_a_speedup_above_the_overlap_bound(tmp_path, monkeypatch):
    rec = _rec(
        "parallel-split-pipeline",
        {
            "speedup": 3.0,
            "overlap_bound": 1.5,
            "post_over_feature_time": 0.5,
            "serial_vs_overlapped_ratio_ci_low": 0.3,
            "serial_vs_overlapped_ratio_ci_high": 1.1,
        },
    )
    monkeypatch.setattr(pb, "bench_pipeline", lambda cfg: rec)
    out = checks.hetero_split(_ctx(tmp_path, "002-hetero-a100-cpu-37pct"))
    assert "exceeds what overlap can give" in out.explanation
