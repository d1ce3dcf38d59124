"""The training checks: every claim id has one, and the fast ones give the verdicts their
evidence implies (the seed's recompute code fails; the hybrid precision is less accurate than
loss scaling; BERT-large with checkpointing fits more than 48)."""

from __future__ import annotations

import pytest

from dsbench.claims.registry import _CHECKS, CheckContext, normalise
from dsbench.claims.verdicts import Verdict

IDS = (
    "000-grad-ckpt-sqrt-n", "001-fp16-fwd-bf16-bwd", "001-mixed-precision-30pct",
    "002-jit-15pct-inference", "002-grad-ckpt-resnet-sqrt-n", "002-op-fusion-23-to-7",
    "002-bert-large-batch-16-to-48", "002-precision-bf16-0.1pct-1.8x",
    "002-precision-tf32-0.3pct-1.5x", "002-precision-fp16-1pct-2.3x",
    "002-precision-int8-2pct-3.7x", "002-precision-policy-per-op",
    "003-recompute-10pct-time-30pct-mem", "003-recompute-code", "003-amp-fp16-2.3x-a100",
    "004-grad-ckpt-recompute",
)  # fmt: skip


@pytest.fixture(scope="module")
def checks():
    import dsbench.claims.checks.training  # noqa: F401 - registers

    return {cid: c for c in _CHECKS.values() if c.name.startswith("dsbench.claims.checks.training")
            for cid in c.claim_ids}  # fmt: skip


def _run(checks, claim_id, tmp_path):
    check = checks[claim_id]
    ctx = CheckContext("quick", tmp_path, check.claim_ids)
    outcomes = {o.claim_id: o for o in normalise(check, check.fn(ctx))}
    assert all(o.evidence for o in outcomes.values())
    assert (tmp_path / "records").is_dir()
    return outcomes[claim_id]


def test_every_owned_claim_has_a_check(checks):
    assert set(IDS) <= set(checks)


def test_seed_recompute_code_is_contradicted(checks, tmp_path):
    outcome = _run(checks, "003-recompute-code", tmp_path)
    assert outcome.verdict is Verdict.CONTRADICTED
    assert "TypeError" in outcome.explanation


def test_bert_large_batch_from_the_activation_formula(checks, tmp_path):
    outcome = _run(checks, "002-bert-large-batch-16-to-48", tmp_path)
    assert outcome.verdict is Verdict.SUPPORTED
    assert outcome.measured > 48


def test_fp16_forward_bf16_backward_is_contradicted(checks, tmp_path):
    outcome = _run(checks, "001-fp16-fwd-bf16-bwd", tmp_path)
    assert outcome.verdict is Verdict.CONTRADICTED
    assert outcome.measured > 0
