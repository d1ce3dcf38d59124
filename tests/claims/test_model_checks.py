"""The model checks: every issue-5 claim has one, each runs end to end at a micro scale, and
the verdict rules give the expected verdict on hand-made experiment rows."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dsbench.claims.checks import models, models_moe
from dsbench.claims.registry import CheckContext, checks_by_claim
from dsbench.claims.verdicts import Verdict
from dsbench.core import results

IDS = (
    "000-swa-98pct-accuracy", "000-maa-32k-context", "000-kg-10k-latency-200ms",
    "001-dynamic-modality-weights", "001-dynamic-depth-ffn", "001-curriculum-learning",
    "004-moe-inference-40pct", "004-moe-domain-experts", "004-moe-aux-loss-0.1",
    "004-multimodal-512d-contrastive",
)  # fmt: skip

# every loop a handful of steps: wiring, records and outcomes, not quality
MICRO = replace(
    models.QUICK,
    steps=3, batch=2, seq_len=16, eval_windows=2,
    probe_steps=2, probe_seq=16, probe_distances=(8, 15),
    mem_steps=1, mem_seg=8, mem_window=4, mem_contexts=(16, 32), mem_eval=2,
    contrastive_steps=2, contrastive_batch=8, modality_steps=2,
    kg_grid=((8, 3),), ffn_dims=(16, 32),
)  # fmt: skip


@pytest.fixture
def micro(monkeypatch, tmp_path):
    monkeypatch.setitem(models.SCALES, "quick", MICRO)
    models._reset_cache()
    yield lambda claim_id: CheckContext("quick", tmp_path, (claim_id,))
    models._reset_cache()


def test_every_issue_claim_has_a_model_check():
    owners = checks_by_claim()
    for claim_id in IDS:
        assert owners[claim_id].name.startswith("dsbench.claims.checks.models"), claim_id


@pytest.mark.parametrize("claim_id", IDS)
def test_checks_run_end_to_end_at_micro_scale(micro, claim_id):
    ctx = micro(claim_id)
    outcome = checks_by_claim()[claim_id].fn(ctx)
    assert outcome.claim_id == claim_id
    assert outcome.verdict not in (Verdict.UNCHECKED, Verdict.ERROR)
    assert outcome.measured is not None and outcome.evidence
    record = results.read_record(ctx.out_dir / outcome.evidence[0])
    assert record.kind.value == "measurement" and record.metrics


def test_models_are_trained_once_per_run(micro):
    """The dense baseline serves several checks: the second check reuses it."""
    checks = checks_by_claim()
    checks["000-swa-98pct-accuracy"].fn(micro("000-swa-98pct-accuracy"))
    trained = len(models.trainer())
    checks["004-moe-inference-40pct"].fn(micro("004-moe-inference-40pct"))
    # dense and sliding-window, then only moe, moe-equal-total and dense-equal-total are new
    assert len(models.trainer()) == trained + 3


def _swa_rows(dense_loss: float, swa_loss: float):
    import math

    return lambda *a, **k: [
        {"variant": "dense", "val_loss": dense_loss, "window": None, "quality_retained": 1.0},
        {
            "variant": "sliding-window",
            "val_loss": swa_loss,
            "window": 16,
            "quality_retained": math.exp(dense_loss - swa_loss),
        },
    ]


def _passkey_rows(dense_far: float, swa_far: float):
    def rows(configs, **kwargs):
        out = []
        for v, far in (("dense", dense_far), ("sliding-window", swa_far)):
            for d, acc in ((8, 1.0), (31, far)):
                out.append({"variant": v, "distance": d, "accuracy": acc, "chance": 1 / 16})
        return out

    return rows


@pytest.mark.parametrize(
    "swa_loss, dense_far, swa_far, verdict",
    [
        (2.005, 1.0, 0.06, Verdict.PARTLY),  # text kept, long range lost
        (2.005, 1.0, 1.0, Verdict.SUPPORTED),  # both kept
        (2.2, 0.1, 0.06, Verdict.CONTRADICTED),  # text loses 18%; probe not learned
        (2.03, 0.1, 0.06, Verdict.PARTLY),  # text loses 3%: within a factor 2 of 2%
    ],
)
def test_swa_verdict_rules(micro, monkeypatch, swa_loss, dense_far, swa_far, verdict):
    import workloads.lm.experiments as experiments
    import workloads.lm.probes as probes

    monkeypatch.setattr(experiments, "swa_quality", _swa_rows(2.0, swa_loss))
    monkeypatch.setattr(probes, "passkey_probe", _passkey_rows(dense_far, swa_far))
    outcome = models.swa_quality(micro("000-swa-98pct-accuracy"))
    assert outcome.verdict is verdict, outcome.explanation


@pytest.mark.parametrize(
    "vs_total, vs_active, verdict",
    [(4.0, 0.7, Verdict.PARTLY), (1.5, 1.45, Verdict.SUPPORTED), (0.9, 0.5, Verdict.CONTRADICTED)],
)
def test_moe_inference_depends_on_the_baseline(micro, monkeypatch, vs_total, vs_active, verdict):
    import workloads.lm.experiments as experiments

    rows = [
        {"variant": v, "val_loss": 2.0, "tokens_per_s": 1.0, "params": 1, "active_params": 1}
        for v in ("dense", "moe", "moe-equal-total", "dense-equal-total")
    ]
    monkeypatch.setattr(experiments, "moe_vs_dense", lambda *a, **k: rows)
    monkeypatch.setattr(
        models_moe,
        "_ffn_tokens_per_s",
        lambda ctx, n: {
            "moe": 100.0,
            "dense-equal-total": 100.0 / vs_total,
            "dense-equal-active": 100.0 / vs_active,
        },
    )
    outcome = models_moe.moe_inference(micro("004-moe-inference-40pct"))
    assert outcome.verdict is verdict, outcome.explanation


@pytest.mark.parametrize(
    "cv, losses, verdict",
    [
        ((1.0, 0.5, 0.1), (2.0, 2.0, 2.01), Verdict.SUPPORTED),
        ((1.0, 0.5, 0.1), (2.0, 2.0, 2.2), Verdict.PARTLY),  # balances, but costs 10% loss
        ((0.2, 0.3, 0.4), (2.0, 2.0, 2.0), Verdict.CONTRADICTED),  # no better balance
    ],
)
def test_aux_loss_verdict_rules(micro, monkeypatch, cv, losses, verdict):
    import workloads.lm.experiments as experiments

    rows = [
        {"aux_coef": c, "load_cv": v, "val_loss": loss, "dropped_fraction": 0.0}
        for c, v, loss in zip((0.0, 0.01, 0.1), cv, losses, strict=True)
    ]
    monkeypatch.setattr(experiments, "aux_coef_sweep", lambda *a, **k: rows)
    outcome = models_moe.moe_aux_loss(micro("004-moe-aux-loss-0.1"))
    assert outcome.verdict is verdict, outcome.explanation


def test_curriculum_gain_is_judged_against_seed_spread(micro, monkeypatch):
    class FakeTrainer:
        def __call__(self, cfg, tc, split):
            loss = {"random": 2.0, "short-to-long": 1.9}[tc.order.value] + 0.01 * tc.seed
            return None, {"val_loss": loss}

    monkeypatch.setattr(models, "trainer", lambda: FakeTrainer())
    outcome = models.curriculum(micro("001-curriculum-learning"))
    assert outcome.verdict is Verdict.SUPPORTED  # gain 0.1 > spread 0.01
    assert outcome.measured == pytest.approx(0.1)


def test_judge_lost():
    assert models.judge_lost(1.0) is Verdict.SUPPORTED
    assert models.judge_lost(-3.0) is Verdict.SUPPORTED  # better than dense
    assert models.judge_lost(3.0) is Verdict.PARTLY
    assert models.judge_lost(50.0) is Verdict.CONTRADICTED
