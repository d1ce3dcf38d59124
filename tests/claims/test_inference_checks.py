"""The inference checks: registration, the verdict rules, and two checks run end to end."""

from __future__ import annotations

import pytest

from dsbench.claims.checks.inference import LOSSLESS_PCT, _at_most, _qat_verdict
from dsbench.claims.engine import verify
from dsbench.claims.registry import checks_by_claim
from dsbench.claims.verdicts import Verdict
from dsbench.core import results

IDS = [
    "001-int8-cpu-2-4x", "001-int4-needs-qat", "001-structured-prune-30pct-flops",
    "002-resnet50-prune-42pct-98pct", "003-l1-channel-prune-30pct-1pct",
    "003-qat-int8-4x-throughput",
]  # fmt: skip


def test_every_owned_claim_has_an_inference_check():
    registry = checks_by_claim()
    for claim_id in IDS:
        assert registry[claim_id].name.startswith("dsbench.claims.checks.inference.")


@pytest.mark.parametrize(
    "group, tensor, qat, verdict",
    [
        (0.1, 0.2, 0.0, Verdict.CONTRADICTED),  # rounding alone is lossless
        (0.1, 5.0, 0.0, Verdict.PARTLY),  # only naive per-tensor rounding needs QAT
        (3.0, 9.0, 0.5, Verdict.SUPPORTED),  # PTQ loses, QAT recovers
        (3.0, 9.0, 2.0, Verdict.PARTLY),  # QAT helps, not enough
        (3.0, 9.0, 4.0, Verdict.CONTRADICTED),  # QAT does not help
    ],
)
def test_qat_verdict_rule(group, tensor, qat, verdict):
    assert LOSSLESS_PCT == 1.0
    assert _qat_verdict(group, tensor, qat)[0] is verdict


def test_at_most_accepts_no_loss_and_judges_loss():
    assert _at_most(1.0, -0.3) is Verdict.SUPPORTED
    assert _at_most(1.0, 1.1) is Verdict.SUPPORTED  # inside the 25% measurement band
    assert _at_most(1.0, 1.8) is Verdict.PARTLY
    assert _at_most(1.0, 3.0) is Verdict.CONTRADICTED


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from workloads.inference import zoo

    out = tmp_path_factory.mktemp("verify")
    saved = zoo.MODELS["cnn-digits"]["train_steps"]
    zoo.MODELS["cnn-digits"]["train_steps"] = 2  # a short base training keeps the test fast
    try:
        rows = verify(out, only=["002-resnet50-prune-42pct-98pct", "003-qat-int8-4x-throughput"])
    finally:
        zoo.MODELS["cnn-digits"]["train_steps"] = saved
    return out, {r.claim.id: r.outcome for r in rows}


def test_magnitude_prune_check_measures_thirty_not_42(run):
    out, outcomes = run
    o = outcomes["002-resnet50-prune-42pct-98pct"]
    assert o.verdict in (Verdict.PARTLY, Verdict.CONTRADICTED), o.explanation
    assert o.measured == pytest.approx(30.0, abs=1.0)
    rec = results.read_record(out / o.evidence[0])
    assert rec.metrics["param_reduction_stored_round1"].value == 0.0
    assert rec.metrics["sparsity_round2"].value == pytest.approx(51.0, abs=0.5)
    assert rec.metrics["rounds_for_claimed_reduction"].value == pytest.approx(1.527, abs=1e-3)


def test_int8_throughput_check_on_this_machine(run):
    import torch

    o = run[1]["003-qat-int8-4x-throughput"]
    expected = Verdict.NEEDS_GPU if not torch.cuda.is_available() else o.verdict
    assert o.verdict is expected and o.measured > 0
    if o.verdict is Verdict.NEEDS_GPU:
        assert "32x fp32" in o.prediction and "_int_mm not used" in o.explanation
