"""The analytic and external checks: their computed values against hand calculations."""

from __future__ import annotations

import pytest

from dsbench.claims.catalogue import get_claim
from dsbench.claims.checks.analytic import causal_window_pairs, pipeline_bubble_fraction
from dsbench.claims.checks.external import same_figure_elsewhere
from dsbench.claims.engine import verify


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """Verdicts of the analytic and external checks only (the measuring ones have own tests)."""
    from dsbench.claims.registry import checks_by_claim

    mine = ("dsbench.claims.checks.analytic.", "dsbench.claims.checks.external.")
    registry = {i: c for i, c in checks_by_claim().items() if c.name.startswith(mine)}
    out = tmp_path_factory.mktemp("verify")
    return {r.claim.id: r.outcome for r in verify(out, only=list(registry), registry=registry)}


@pytest.mark.parametrize("claim_id, verdict, measured", [
    ("003-grad-compress-75pct", "supported", 100 * (1 - (1 + 4 / 1024) / 4)),
    ("000-175b-mem-1.2tb-to-480gb", "impossible", None),
    ("000-3d-parallel-64-devices", "supported", 64),
    ("000-dynamic-lb-cost-35pct", "partly", 100 * (1 - 1 / 1.4)),
    ("003-summary-hw-cost-45pct", "partly", 100 * (1 - 1 / 2.8)),
    ("004-fp4-1-8-size", "supported", 4.25 / 32),
    ("004-fp16-312-tflops", "impossible", 1.0),
    ("003-tensor-core-vs-cuda-core", "contradicted", 16.0),
    ("000-attention-quadratic", "supported", 2.0),
])  # fmt: skip
def test_computed_verdicts(rows, claim_id, verdict, measured):
    outcome = rows[claim_id]
    assert outcome.verdict.value == verdict, outcome.explanation
    if measured is not None:
        assert outcome.measured == pytest.approx(measured, rel=1e-3)


def test_175b_floor_is_weights_plus_grads(rows):
    outcome = rows["000-175b-mem-1.2tb-to-480gb"]
    assert 690 < outcome.measured < 710  # 2 + 2 bytes x ~174.6e9 parameters, in GB
    assert "weights" in outcome.bound


def test_pipeline_bubble_closed_form():
    assert pipeline_bubble_fraction(4, 16) == pytest.approx(3 / 19)
    assert pipeline_bubble_fraction(1, 8) == 0


def test_causal_window_pairs():
    assert causal_window_pairs(4, 4) == 10  # 1 + 2 + 3 + 4
    assert causal_window_pairs(5, 2) == 1 + 2 + 2 + 2 + 2
    assert causal_window_pairs(3, 10) == 6


def test_distinctive_figures_are_cross_referenced():
    assert "004-vqa-92.3pct" in same_figure_elsewhere(get_claim("000-kg-ner-92.3pct-bert-plus-7.1"))
    assert same_figure_elsewhere(get_claim("002-dev-cost-60pct")) == []  # 60% is too common


def test_every_issue3_claim_has_a_verdict(rows):
    issue3 = """000-deepseek-search-framework 000-dynamic-lb-cost-35pct 000-attention-quadratic
    000-3d-parallel-64-devices 000-175b-mem-1.2tb-to-480gb 000-kg-ner-92.3pct-bert-plus-7.1
    000-kg-train-cost-60pct 000-industry-benchmark 001-low-resource-requirements
    001-layered-modular-architecture 001-few-shot-10-20-samples 001-style-prompt-length
    001-code-context-static-analysis 002-yolov5-map-plus-2.1 002-mt-32-pairs-zero-shot
    002-wmt14-ende-bleu-30.2 002-rec-recall-plus-18pct 002-model-market-200 002-dev-cost-60pct
    003-grad-compress-75pct 003-triton-config 003-swa-16k-65pct-compute
    003-tensor-core-vs-cuda-core 003-summary-train-2.8x 003-summary-infer-latency-62pct
    003-summary-hw-cost-45pct 004-moe-8x12.8b-experts 004-moe-gate-transformer-layer
    004-vqa-92.3pct 004-dynamic-graph-3d-or-distilled 004-fp16-312-tflops
    004-ppo-reward-gae-config 004-ppo-parameter-efficiency 004-code-pass-68-to-89
    004-adaptive-engine-cpu-qat 004-int8-finance-dynamic-multimodal 004-fp4-1-8-size""".split()
    assert len(issue3) == 37
    for claim_id in issue3:
        assert rows[claim_id].verdict.value not in ("unchecked", "error"), claim_id
