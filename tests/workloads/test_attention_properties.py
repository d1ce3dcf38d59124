"""Property tests over shapes, windows and blocks (few examples: the suite must stay fast)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.attention import (
    band_reference,
    block_topk_attention,
    block_topk_reference,
    local_global_attention,
    local_global_reference,
    naive_attention,
    overlapping_window_attention,
    overlapping_window_mask,
    sliding_window_attention,
    window_mask,
    window_pairs,
)

FAST = settings(max_examples=12, deadline=None)
shapes = st.tuples(
    st.integers(1, 2), st.integers(1, 3), st.integers(1, 70), st.sampled_from([1, 4, 8])
)


def _qkv(b, h, t, d, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(3, b, h, t, d, generator=gen).unbind(0)


@FAST
@given(
    shape=shapes,
    window=st.integers(1, 80),
    block=st.one_of(st.none(), st.integers(1, 40)),
    causal=st.booleans(),
    seed=st.integers(0, 9),
)
def test_sliding_window_matches_band_reference(shape, window, block, causal, seed):
    q, k, v = _qkv(*shape, seed)
    out = sliding_window_attention(q, k, v, window, causal=causal, block=block)
    assert out.shape == q.shape
    torch.testing.assert_close(
        out, band_reference(q, k, v, window, causal=causal), atol=1e-5, rtol=1e-4
    )


@FAST
@given(t=st.integers(1, 90), window=st.integers(1, 90), causal=st.booleans())
def test_window_pairs_counts_the_band(t, window, causal):
    assert window_pairs(t, window, causal=causal) == int(
        window_mask(t, window, causal=causal).sum()
    )


@FAST
@given(shape=shapes, window=st.integers(1, 30), causal=st.booleans(), seed=st.integers(0, 9))
def test_overlapping_windows_one_row_per_position(shape, window, causal, seed):
    q, k, v = _qkv(*shape, seed)
    mask = overlapping_window_mask(shape[2], window, causal=causal)
    assert bool(mask.diagonal().all())  # every position sees itself: it lies in its own window
    out = overlapping_window_attention(q, k, v, window, causal=causal)
    torch.testing.assert_close(
        out, naive_attention(q, k, v, mask, causal=causal), atol=1e-5, rtol=1e-4
    )


@FAST
@given(
    shape=shapes,
    window=st.integers(1, 20),
    data=st.data(),
    causal=st.booleans(),
    seed=st.integers(0, 9),
)
def test_local_global_matches_reference(shape, window, data, causal, seed):
    t = shape[2]
    idx = data.draw(st.lists(st.integers(0, t - 1), min_size=1, max_size=4, unique=True))
    q, k, v = _qkv(*shape, seed)
    out = local_global_attention(q, k, v, window, idx, causal=causal)
    torch.testing.assert_close(
        out, local_global_reference(q, k, v, window, idx, causal=causal), atol=1e-5, rtol=1e-4
    )


@FAST
@given(
    shape=shapes,
    block=st.integers(1, 16),
    data=st.data(),
    causal=st.booleans(),
    seed=st.integers(0, 9),
)
def test_block_topk_matches_reference(shape, block, data, causal, seed):
    n_total = -(-shape[2] // block)
    n_blocks = data.draw(st.integers(1, n_total))
    q, k, v = _qkv(*shape, seed)
    out = block_topk_attention(q, k, v, block, n_blocks, causal=causal)
    torch.testing.assert_close(
        out, block_topk_reference(q, k, v, block, n_blocks, causal=causal), atol=1e-5, rtol=1e-4
    )
