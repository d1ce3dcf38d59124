"""KV-cached decoding equals recomputation; the GPU estimate is the bound it says it is."""

from __future__ import annotations

import pytest
import torch

from simulators.hardware import gpu
from workloads.inference.latency import (
    Seq2Seq,
    decode_step_estimate,
    lm_decode_step,
    lm_greedy,
    lm_prefill,
    seq2seq_decode_counts,
    seq2seq_preset,
    translate,
)
from workloads.lm.attention import AttnKind, AttnSpec
from workloads.lm.config import preset
from workloads.lm.model import LM

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    return LM(preset("tiny")).eval()


def test_cached_lm_logits_match_full_forward(lm):
    prompt = torch.randint(0, 256, (2, 6), generator=torch.Generator().manual_seed(1))
    logits, cache = lm_prefill(lm, prompt)
    torch.testing.assert_close(logits, lm(prompt)[0][:, -1])
    nxt = logits.argmax(-1)
    step = lm_decode_step(lm, nxt, cache)
    torch.testing.assert_close(
        step, lm(torch.cat([prompt, nxt[:, None]], 1))[0][:, -1], atol=1e-5, rtol=1e-4
    )
    assert cache[0][0].shape[2] == 7


def test_cached_greedy_equals_recompute(lm):
    prompt = torch.randint(0, 256, (2, 5), generator=torch.Generator().manual_seed(2))
    assert torch.equal(lm_greedy(lm, prompt, 12), lm_greedy(lm, prompt, 12, cached=False))


def test_cache_refuses_non_dense_attention_and_long_positions(lm):
    from dataclasses import replace

    cfg = replace(preset("tiny"), attention=(AttnSpec(AttnKind.WINDOW, window=4),) * 2)
    with pytest.raises(ValueError, match="dense"):
        lm_prefill(LM(cfg), torch.zeros(1, 3, dtype=torch.long))
    _, cache = lm_prefill(lm, torch.zeros(1, lm.cfg.block_size, dtype=torch.long))
    with pytest.raises(ValueError, match="block_size"):
        lm_decode_step(lm, torch.zeros(1, dtype=torch.long), cache)


def test_translation_cache_matches_uncached_decoder():
    torch.manual_seed(0)
    model = Seq2Seq(seq2seq_preset("tiny")).eval()
    src = torch.randint(2, 64, (3, 7), generator=torch.Generator().manual_seed(3))
    out = translate(model, src, 10)
    assert out.shape == (3, 10)
    assert torch.equal(out, translate(model, src, 10, cached=False))
    with pytest.raises(ValueError):
        translate(model, src, 64)


def test_seq2seq_counts_match_built_model():
    cfg = seq2seq_preset("tiny")
    built = sum(p.numel() for n, p in Seq2Seq(cfg).named_parameters() if p.dim() > 1)
    assert seq2seq_decode_counts(cfg, 8, 8)["params"] == built  # weight matrices + tables
    base = seq2seq_decode_counts(seq2seq_preset("transformer-base"), 30, 30)
    assert 55e6 < base["params"] < 65e6  # Vaswani et al.: ~65M with a 37k vocabulary


def test_estimate_is_the_bandwidth_bound_plus_launches():
    a100 = gpu("A100-80GB")
    est = decode_step_estimate(2 * 6.74e9, 2 * 6.74e9, a100, kernels=100, launch_s=5e-6)
    assert est["bandwidth_bound_s"] == pytest.approx(13.48e9 / 2039e9)
    assert est["estimate_s"] == pytest.approx(est["bandwidth_bound_s"] + 5e-4)
    assert est["compute_bound_s"] < est["bandwidth_bound_s"]  # batch 1 is bandwidth bound
