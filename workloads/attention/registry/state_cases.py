"""Stateful and post-hoc variants: kNN memory, KV caches for decoding, weight pruning."""

from __future__ import annotations

import math
from functools import partial

import torch

from ...base import Case
from .. import dense, kv_cache, memory, pruning, sliding_window
from ._common import CPU, GPU, TINY, attention_case, define, io_bytes, no_grad, qkv, tolerances

# --- memory, KV cache, pruning, fused backends --------------------------------------------


def _knn_memory(p, dev, dt) -> Case:
    torch.manual_seed(0)
    bank = memory.KNNMemory(p["capacity"])
    layer = memory.MemoryAugmentedAttention(p["heads"], p["window"], p["top_m"], gate_init=0.0).to(
        dev
    )
    for seg in range(math.ceil(p["capacity"] / p["seq_len"])):
        _, k_old, v_old = qkv(p, dev, dt, seed=seg + 1)
        bank.add(k_old, v_old)
    q, k, v = qkv(p, dev, dt)
    gate = layer.gate_logit_H.detach().to(getattr(torch, dt))
    pairs = sliding_window.window_pairs(p["seq_len"], p["window"]) + p["seq_len"] * p["top_m"]
    return Case(
        fn=no_grad(lambda: layer(q, k, v, bank, update=False)),
        flops=dense.attention_flops(p["batch"], p["heads"], p["head_dim"], pairs)
        + 2.0 * p["batch"] * p["heads"] * p["head_dim"] * p["seq_len"] * len(bank),
        bytes_moved=io_bytes(p, dt) + bank.nbytes(),
        reference=no_grad(
            lambda: memory.memory_attention_reference(
                q, k, v, bank.keys, bank.values, p["window"], p["top_m"], gate
            )
        ),
        params={**p, "bank_entries": len(bank)},
        **tolerances(dt),
    )


define(
    "attention-knn-memory",
    ("000-maa-32k-context",),
    {
        "tiny": {**TINY, "window": 8, "capacity": 60, "top_m": 4},
        "cpu": {**CPU, "seq_len": 512, "window": 512, "capacity": 8192, "top_m": 32},
        "gpu": {**GPU, "seq_len": 2048, "window": 2048, "capacity": 32768, "top_m": 32},
    },
    _knn_memory,
    "segment attention + gated kNN retrieval from a bounded FIFO bank (Memorizing Transformers)",
)


def _kv_decode(p, dev, dt, *, paged: bool) -> Case:
    lengths = kv_cache.request_lengths(p["requests"], p["max_len"])
    dtype = getattr(torch, dt)
    h, d = p["heads"], p["head_dim"]
    if paged:
        n_blocks = sum(math.ceil(n / p["block_size"]) for n in lengths)
        cache = kv_cache.PagedKVCache(
            n_blocks, h, d, block_size=p["block_size"], dtype=dtype, device=dev
        )
    else:
        cache = kv_cache.ContiguousKVCache(
            p["requests"], p["max_len"], h, d, dtype=dtype, device=dev
        )
    gen = torch.Generator(device=dev).manual_seed(0)
    kvs = [torch.randn(2, h, n, d, generator=gen, device=dev, dtype=dtype) for n in lengths]
    for i, kv in enumerate(kvs):
        cache.append(i, kv[0], kv[1])
    q = torch.randn(len(lengths), h, d, generator=gen, device=dev, dtype=dtype)
    seqs = list(range(len(lengths)))

    def reference() -> torch.Tensor:
        rows = [
            dense.naive_attention(q[i, :, None][None], kv[0][None], kv[1][None], causal=False)[
                0, :, 0
            ]
            for i, kv in enumerate(kvs)
        ]
        return torch.stack(rows)

    elem = torch.empty(0, dtype=dtype).element_size()
    return Case(
        fn=no_grad(lambda: kv_cache.decode_attention(q, cache, seqs)),
        flops=4.0 * h * d * sum(lengths),
        bytes_moved=2.0 * h * d * sum(lengths) * elem,
        reference=no_grad(reference),
        params={
            **p,
            "reserved_bytes": cache.reserved_bytes(),
            "used_bytes": cache.used_bytes(),
            "lengths": lengths,
        },
        **tolerances(dt),
    )


_KV_SIZES = {
    "tiny": {"requests": 5, "max_len": 40, "heads": 2, "head_dim": 8, "block_size": 8},
    "cpu": {"requests": 16, "max_len": 4096, "heads": 8, "head_dim": 64, "block_size": 512},
    "gpu": {"requests": 64, "max_len": 16384, "heads": 8, "head_dim": 128, "block_size": 512},
}
define(
    "attention-kv-paged",
    ("003-kv-block-512-peak-40pct", "004-kv-block-fragmentation"),
    _KV_SIZES,
    partial(_kv_decode, paged=True),
    "decode step over a paged KV cache (512-token blocks, block table), mixed lengths",
)
define(
    "attention-kv-contiguous",
    ("003-kv-block-512-peak-40pct", "004-kv-block-fragmentation"),
    _KV_SIZES,
    partial(_kv_decode, paged=False),
    "decode step over a contiguous KV cache pre-allocated to max_len per request",
)


def _pruned(p, dev, dt, *, renormalize: bool) -> Case:
    def reference(q, k, v):
        probs = dense.naive_attention_weights(q, k)
        _, kept = pruning.prune_weights(probs, p["threshold"])
        if renormalize:
            return dense.naive_attention(q, k, v, kept)
        return (probs * kept) @ v

    fn = partial(pruning.pruned_attention, threshold=p["threshold"], renormalize=renormalize)
    return attention_case(
        p, dev, dt, fn, reference, dense.attention_pairs(p["seq_len"]), materialised=True
    )


for _renorm in (True, False):
    define(
        "attention-weight-pruning" + ("" if _renorm else "-no-renorm"),
        ("004-attn-weight-prune-0.1",),
        {
            "tiny": {**TINY, "threshold": 0.1},
            "cpu": {**CPU, "seq_len": 1024, "threshold": 0.1},
            "gpu": {**GPU, "seq_len": 4096, "threshold": 0.1},
        },
        partial(_pruned, renormalize=_renorm),
        "dense attention, post-softmax weights < threshold zeroed"
        + (", renormalised" if _renorm else ", not renormalised"),
    )
