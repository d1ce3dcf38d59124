"""The attention checks: every issue-4 claim gets a computed verdict, and the verdict follows
the measurement (fake timings flip it). Sizes are shrunk to tiny ones; peak memory comes from an
in-process stand-in (the child-process probe has its own tests)."""

from __future__ import annotations

import math

import pytest

from dsbench.claims.checks import attention, attention_kernels
from dsbench.claims.engine import verify
from dsbench.claims.registry import CheckContext, checks_by_claim
from dsbench.claims.verdicts import Verdict
from dsbench.core import results

IDS = [
    "000-swa-linear-complexity", "000-swa-pseudocode", "000-sqa-topk-6x-at-1024",
    "000-swa-threshold-2k", "001-sparse-attn-n-log-n", "001-sparse-attn-sum-outputs",
    "003-kv-block-512-peak-40pct", "003-flashattn2-3x", "004-progressive-attn-2.3x",
    "004-progressive-attn-16k-mem-58pct", "004-attn-weight-prune-0.1",
    "004-kv-block-fragmentation",
]  # fmt: skip

TINY = {
    "swa-linear": {"lengths": (64, 128, 256), "heads": 1, "head_dim": 8, "window": 8},
    "swa-threshold": {"lengths": (64, 128), "heads": 1, "head_dim": 8},
    "topk": {"seq_len": 64, "heads": 1, "head_dim": 8, "top_k": 8, "block": 8, "n_blocks": 2},
    "local-global": {"lengths": (64, 128), "heads": 1, "head_dim": 8, "window": 8,
                     "n_global": 2},
    "kv": {"requests": 6, "max_len": 16384, "block": 512, "heads": 1, "head_dim": 2,
           "steps": 6},
    "flash": {"lengths": (32, 64), "heads": 1, "head_dim": 8},
    "progressive": {"seq_len": 64, "d_model": 8, "heads": 1, "n_layers": 3, "n_blocks": 2},
    "prune": {"lengths": (16, 64), "heads": 1, "head_dim": 8},
}  # fmt: skip


class InProcessProbe:
    """Stands in for PeakMemoryProbe: runs the call, reports 1 KiB per token (slope 1)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    run_call = True

    def measure(self, build, *args) -> int:
        if self.run_call:
            built = build(*args)
            (built[0] if isinstance(built, tuple) else built)()
        return 1024 * args[1]


@pytest.fixture
def tiny(monkeypatch):
    import workloads.attention.peak_memory as peak_memory

    for key, size in TINY.items():
        monkeypatch.setitem(attention_kernels.SIZES[key], "quick", size)
    monkeypatch.setattr(peak_memory, "PeakMemoryProbe", InProcessProbe)


def test_every_issue_claim_has_a_check():
    registry = checks_by_claim()
    assert set(IDS) <= set(registry)
    assert "000-maa-32k-context" not in {c for c in IDS}


def test_all_checks_give_a_verdict_with_evidence(tiny, tmp_path):
    rows = {r.claim.id: r for r in verify(tmp_path, "quick", only=IDS)}
    for claim_id in IDS:
        outcome = rows[claim_id].outcome
        assert outcome.verdict not in (Verdict.ERROR, Verdict.UNCHECKED), outcome.explanation
        assert outcome.evidence, claim_id
        record = results.read_record(tmp_path / outcome.evidence[0])
        assert record.metrics, claim_id
    # the seeds' code is wrong whatever the sizes: these verdicts are fixed by the evidence
    assert rows["000-swa-pseudocode"].outcome.verdict is Verdict.CONTRADICTED
    assert rows["001-sparse-attn-sum-outputs"].outcome.measured == pytest.approx(2.0, abs=1e-4)
    assert rows["003-flashattn2-3x"].outcome.verdict is Verdict.NEEDS_GPU
    assert rows["003-kv-block-512-peak-40pct"].outcome.verdict is Verdict.PARTLY  # one-full: 0%
    assert rows["004-kv-block-fragmentation"].outcome.verdict is Verdict.SUPPORTED


def _ctx(tmp_path, *ids: str) -> CheckContext:
    return CheckContext("quick", tmp_path, ids)


def _fake_times(monkeypatch, module, cost) -> None:
    """Replace the timer of a check module: time of variant v at length t is cost(v, t)."""

    def time_variants(ctx, variants, t, shape):
        return {v: cost(v, t) for v in variants}

    monkeypatch.setattr(module, "time_variants", time_variants)


@pytest.mark.parametrize(
    ("swa_exponent", "verdict"),
    [(1.0, Verdict.SUPPORTED), (1.4, Verdict.PARTLY), (2.0, Verdict.CONTRADICTED)],
)
def test_swa_linear_follows_the_measured_exponent(
    tiny, tmp_path, monkeypatch, swa_exponent, verdict
):
    _fake_times(
        monkeypatch, attention, lambda v, t: 1e-9 * t ** (2 if "dense" in v else swa_exponent)
    )
    monkeypatch.setattr(attention, "_flop_rate", lambda ctx, t, shape: _Rate())
    outcome = attention.swa_linear(_ctx(tmp_path, "000-swa-linear-complexity"))
    assert outcome.measured == pytest.approx(swa_exponent)
    # memory exponent from the stand-in probe is 1, so a bad time exponent alone makes partly
    expected = verdict if verdict is Verdict.SUPPORTED else Verdict.PARTLY
    assert outcome.verdict is expected


class _Rate:
    ratio, executed_ratio = 0.4, 0.8


@pytest.mark.parametrize(
    ("crossover", "verdict"),
    [(2048, Verdict.SUPPORTED), (3500, Verdict.PARTLY), (20000, Verdict.CONTRADICTED)],
)
def test_swa_threshold_follows_the_crossover(tiny, tmp_path, monkeypatch, crossover, verdict):
    monkeypatch.setitem(attention_kernels.SIZES["swa-threshold"], "quick",
                        {**TINY["swa-threshold"], "lengths": (1024, 4096, 8192, 32768)})  # fmt: skip
    monkeypatch.setattr(InProcessProbe, "run_call", False)  # lengths too long to run here
    # SWA / dense time ratio = crossover / t: below 1 exactly beyond the crossover
    _fake_times(
        monkeypatch, attention, lambda v, t: crossover / t if v == "sliding-window" else 1.0
    )
    outcome = attention.swa_threshold(_ctx(tmp_path, "000-swa-threshold-2k"))
    assert outcome.measured == pytest.approx(crossover, rel=1e-6)
    assert outcome.verdict is verdict


@pytest.mark.parametrize(
    ("model", "verdict"), [("n", Verdict.CONTRADICTED), ("n log n", Verdict.PARTLY)]
)
def test_local_global_verdict_follows_the_nearer_model(tiny, tmp_path, monkeypatch, model, verdict):
    import workloads.attention.local_global as local_global

    cost = (lambda t: t) if model == "n" else (lambda t: t * math.log(t))
    # the operation count decides; the (fake) time says the opposite and is only reported
    monkeypatch.setattr(local_global, "local_global_pairs", lambda t, w, g: 64 * cost(t))
    other = (lambda t: t * math.log(t)) if model == "n" else (lambda t: t)
    _fake_times(monkeypatch, attention, lambda v, t: 1e-9 * (t * t if "dense" in v else other(t)))
    outcome = attention.local_global_scaling(_ctx(tmp_path, "001-sparse-attn-n-log-n"))
    assert outcome.verdict is verdict
    assert f"is O({model})" in outcome.explanation


@pytest.mark.parametrize(
    ("pruned_s", "verdict"), [(2.0, Verdict.CONTRADICTED), (0.5, Verdict.SUPPORTED)]
)
def test_pruning_verdict_follows_the_measured_speed(tiny, tmp_path, monkeypatch, pruned_s, verdict):
    monkeypatch.setattr(attention_kernels, "time_calls",
                        lambda ctx, fns, device="cpu": {"dense": 1.0, "pruned": pruned_s})  # fmt: skip
    outcome = attention_kernels.weight_pruning(_ctx(tmp_path, "004-attn-weight-prune-0.1"))
    assert outcome.measured == pytest.approx(1 / pruned_s)
    assert outcome.verdict is verdict


def test_nearer_model_and_n_log_n_slope():
    lengths = [1024, 2048, 4096]
    s = attention.n_log_n_slope(lengths)
    assert 1.1 < s < 1.15  # 1 + 1/ln(T) around T = 2K
    assert attention.nearer_model(1.0, lengths) == "n"
    assert attention.nearer_model(s, lengths) == "n log n"
