"""Bad input gets a ValueError that names the offending values."""

from __future__ import annotations

import pytest
import torch

from workloads.attention import (
    AttentionKind,
    AttentionSpec,
    ContiguousKVCache,
    KNNMemory,
    PagedKVCache,
    block_topk_attention,
    local_global_attention,
    naive_attention,
    overlapping_window_attention,
    progressive_schedule,
    pruned_attention,
    sliding_window_attention,
    topk_attention,
)

q = torch.randn(2, 3, 10, 4)


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: sliding_window_attention(q, q, q, 0), r"window=0"),
        (lambda: sliding_window_attention(q, q, q, -3), r"window=-3"),
        (lambda: overlapping_window_attention(q, q, q, 0), r"window=0"),
        (lambda: sliding_window_attention(q, q, q, 4, block=0), r"block=0"),
        (lambda: sliding_window_attention(q[0], q[0], q[0], 4), r"4-D .* \(3, 10, 4\)"),
        (lambda: sliding_window_attention(q, q[:, :, :7], q[:, :, :7], 4), r"Tq=10, Tk=7"),
        (lambda: naive_attention(q, q[:, :2], q[:, :2]), r"\(2, 3, 10, 4\).*\(2, 2, 10, 4\)"),
        (lambda: naive_attention(q, q, q[..., :3]), r"k \(2, 3, 10, 4\), v \(2, 3, 10, 3\)"),
        (lambda: sliding_window_attention(q, q.double(), q, 4), r"float32.*float64"),
        (lambda: naive_attention(q, q, q.to("meta")), r"device mismatch.*meta"),
        (lambda: topk_attention(q, q, q, 11), r"top_k=11 .* T=10"),
        (lambda: topk_attention(q, q, q, 0), r"top_k=0"),
        (lambda: block_topk_attention(q, q, q, 4, 4), r"n_blocks=4 .* T=3"),
        (lambda: local_global_attention(q, q, q, 4, [10]), r"\[0, T=10\).*max 10"),
        (lambda: local_global_attention(q, q, q, 4, [1, 1]), r"repeated"),
        (lambda: pruned_attention(q, q, q, 1.5), r"threshold=1.5"),
        (lambda: AttentionSpec(AttentionKind.WINDOW), r"window=None"),
        (lambda: progressive_schedule(2, 100), r"n_layers >= 3.*2"),
        (lambda: KNNMemory(0), r"capacity=0"),
        (lambda: KNNMemory(4).search(q, 1), r"empty"),
        (lambda: ContiguousKVCache(1, 4, 3, 4).append(0, q[0], q[0]), r"exceed max_len=4"),
        (
            lambda: PagedKVCache(1, 3, 4, block_size=4).append(0, q[0], q[0]),
            r"needs 3 more blocks, only 1 free",
        ),
        (
            lambda: PagedKVCache(4, 3, 4, block_size=4).append(0, q[0].double(), q[0].double()),
            r"float32.*float64",
        ),
    ],
)
def test_bad_input_raises_value_error_naming_values(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
