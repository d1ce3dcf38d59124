"""Every attention variant against its masked-dense reference, forward and backward."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from workloads.attention import (
    AttentionKind,
    AttentionSpec,
    AttentionStack,
    Backend,
    available_backends,
    band_reference,
    block_topk_attention,
    block_topk_reference,
    local_global_attention,
    local_global_reference,
    naive_attention,
    naive_attention_weights,
    overlapping_window_attention,
    overlapping_window_mask,
    progressive_schedule,
    prune_weights,
    pruned_attention,
    sdpa_attention,
    sdpa_with_backend,
    sliding_window_attention,
    topk_attention,
    topk_reference,
    window_mask,
)

B, H, T, D = 2, 3, 53, 8  # T prime: never a multiple of a window or block


def _overlap_ref(q, k, v, causal, *, window):
    return naive_attention(
        q, k, v, overlapping_window_mask(q.shape[2], window, causal=causal), causal=causal
    )


def _pruned_ref(q, k, v, causal):
    _, kept = prune_weights(naive_attention_weights(q, k, causal=causal), 0.1)
    return naive_attention(q, k, v, kept, causal=causal)


# (name, fast, reference); each takes (q, k, v, causal)
VARIANTS = [
    (
        "sdpa",
        lambda q, k, v, c: sdpa_attention(q, k, v, causal=c),
        lambda q, k, v, c: naive_attention(q, k, v, causal=c),
    ),
    (
        "swa-w8",
        lambda q, k, v, c: sliding_window_attention(q, k, v, 8, causal=c),
        lambda q, k, v, c: band_reference(q, k, v, 8, causal=c),
    ),
    (
        "swa-w8-b5",
        lambda q, k, v, c: sliding_window_attention(q, k, v, 8, causal=c, block=5),
        lambda q, k, v, c: band_reference(q, k, v, 8, causal=c),
    ),
    (
        "swa-w8-b20",
        lambda q, k, v, c: sliding_window_attention(q, k, v, 8, causal=c, block=20),
        lambda q, k, v, c: band_reference(q, k, v, 8, causal=c),
    ),
    (
        "swa-w7-explicit",
        lambda q, k, v, c: sliding_window_attention(q, k, v, 7, causal=c, fused=False),
        lambda q, k, v, c: band_reference(q, k, v, 7, causal=c),
    ),
    (
        "swa-wide",
        lambda q, k, v, c: sliding_window_attention(q, k, v, 80, causal=c),
        lambda q, k, v, c: naive_attention(q, k, v, causal=c),
    ),
    (
        "overlap-w10",
        lambda q, k, v, c: overlapping_window_attention(q, k, v, 10, causal=c),
        partial(_overlap_ref, window=10),
    ),
    (
        "overlap-w7",
        lambda q, k, v, c: overlapping_window_attention(q, k, v, 7, causal=c),
        partial(_overlap_ref, window=7),
    ),
    (
        "local-global",
        lambda q, k, v, c: local_global_attention(q, k, v, 6, [0, 17, 52], causal=c),
        lambda q, k, v, c: local_global_reference(q, k, v, 6, [0, 17, 52], causal=c),
    ),
    (
        "topk-exact",
        lambda q, k, v, c: topk_attention(q, k, v, 7, causal=c),
        lambda q, k, v, c: topk_reference(q, k, v, 7, causal=c),
    ),
    (
        "topk-block",
        lambda q, k, v, c: block_topk_attention(q, k, v, 8, 3, causal=c),
        lambda q, k, v, c: block_topk_reference(q, k, v, 8, 3, causal=c),
    ),
    ("pruned", lambda q, k, v, c: pruned_attention(q, k, v, 0.1, causal=c), _pruned_ref),
]


def _inputs(dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, T, D, generator=gen).to(dtype).requires_grad_() for _ in range(3)]


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "bidir"])
@pytest.mark.parametrize(("name", "fast", "ref"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_forward_and_backward_match_reference(name, fast, ref, causal):
    q, k, v = _inputs()
    out, expected = fast(q, k, v, causal), ref(q, k, v, causal)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    grad_out = torch.randn_like(out)
    got = torch.autograd.grad(out, (q, k, v), grad_out)
    want = torch.autograd.grad(expected, (q, k, v), grad_out)
    for g, w, which in zip(got, want, "qkv", strict=True):
        torch.testing.assert_close(
            g, w, atol=2e-5, rtol=1e-4, msg=lambda m, which=which: f"d{which}: {m}"
        )


@pytest.mark.parametrize(
    ("name", "fast", "ref"),
    VARIANTS[:4] + VARIANTS[8:9],
    ids=[v[0] for v in VARIANTS[:4] + VARIANTS[8:9]],
)
def test_bfloat16_forward_close_to_fp32_reference(name, fast, ref):
    q, k, v = _inputs()
    out = fast(*(x.detach().bfloat16() for x in (q, k, v)), True)
    torch.testing.assert_close(out.float(), ref(q, k, v, True).detach(), atol=3e-2, rtol=3e-2)


def test_window_covering_everything_is_dense():
    q, k, v = _inputs()
    torch.testing.assert_close(
        sliding_window_attention(q, k, v, T), naive_attention(q, k, v), atol=1e-5, rtol=1e-4
    )


def test_topk_with_k_equal_t_and_all_blocks_is_dense():
    q, k, v = _inputs()
    dense = naive_attention(q, k, v)
    torch.testing.assert_close(topk_attention(q, k, v, T), dense, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(block_topk_attention(q, k, v, 8, 7), dense, atol=1e-5, rtol=1e-4)


def test_window_mask_counts_w_keys_causally():
    m = window_mask(10, 3)
    assert m.sum(-1).tolist() == [1, 2] + [3] * 8
    assert window_mask(10, 3, causal=False).sum(-1).tolist() == [3, 4] + [5] * 6 + [4, 3]


@pytest.mark.parametrize("backend", [Backend.MATH, Backend.FLASH, Backend.EFFICIENT])
def test_sdpa_backends_forward_and_backward(backend):
    if backend not in available_backends("cpu", torch.float32, D):
        pytest.skip(f"{backend.value} backend not available on CPU")
    q, k, v = _inputs()
    out, ref = sdpa_with_backend(q, k, v, backend), naive_attention(q, k, v)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
    g = torch.randn_like(out)
    for a, b in zip(
        torch.autograd.grad(out, (q, k, v), g), torch.autograd.grad(ref, (q, k, v), g), strict=True
    ):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)


def test_progressive_stack_matches_reference_forward_and_backward():
    torch.manual_seed(0)
    sparse = AttentionSpec(AttentionKind.BLOCK_TOPK, block=8, n_blocks=3)
    specs = progressive_schedule(6, T, first_window=4, sparse=sparse) + (
        AttentionSpec(AttentionKind.TOPK, top_k=9),
    )
    assert [s.kind for s in specs[:2]] == [AttentionKind.WINDOW] * 2 and specs[
        3
    ].kind is AttentionKind.DENSE
    model = AttentionStack(specs, 24, 3)
    x = torch.randn(2, T, 24, requires_grad=True)
    out, ref = model(x), model(x, reference=True)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
    g = torch.randn_like(out)
    torch.testing.assert_close(
        torch.autograd.grad(out, x, g)[0], torch.autograd.grad(ref, x, g)[0], atol=1e-4, rtol=1e-4
    )


def test_progressive_schedule_widens_in_the_middle():
    specs = progressive_schedule(12, 16384)
    windows = [s.window for s in specs[4:7]]
    assert specs[0].window == 32 and windows == sorted(windows) and windows[0] > 32
    assert specs[7].kind is AttentionKind.DENSE and all(
        s.kind is AttentionKind.BLOCK_TOPK for s in specs[8:]
    )
