"""Sparse variants: blocked sliding window, the seed's overlapping windows, local + global,
exact and block-selection top-k."""

from __future__ import annotations

from functools import partial

from ...base import Case
from .. import dense, local_global, sliding_window, topk
from ._common import CPU, GPU, TINY, attention_case, define

# --- sliding window -----------------------------------------------------------------------

_SWA_SIZES = {
    "tiny": {**TINY, "window": 8},
    "cpu": {**CPU, "window": 512},
    "gpu": {**GPU, "seq_len": 8192, "window": 512},
}
define(
    "attention-sliding-window",
    ("000-swa-linear-complexity", "000-swa-threshold-2k", "003-swa-16k-65pct-compute"),
    _SWA_SIZES,
    lambda p, dev, dt: attention_case(
        p,
        dev,
        dt,
        partial(sliding_window.sliding_window_attention, window=p["window"]),
        partial(sliding_window.band_reference, window=p["window"]),
        sliding_window.window_pairs(p["seq_len"], p["window"]),
    ),
    "blocked causal sliding-window attention, O(T·W), never T×T",
)
define(
    "attention-overlapping-window",
    ("000-swa-pseudocode",),
    _SWA_SIZES,
    lambda p, dev, dt: attention_case(
        p,
        dev,
        dt,
        partial(sliding_window.overlapping_window_attention, window=p["window"]),
        lambda q, k, v: dense.naive_attention(
            q,
            k,
            v,
            sliding_window.overlapping_window_mask(p["seq_len"], p["window"], device=q.device),
        ),
        2 * p["seq_len"] * p["window"],
    ),
    "seed 000 §2.1's overlapping windows (stride W/2), stitched correctly",
)

# --- local + global, top-k ----------------------------------------------------------------


def _local_global(p, dev, dt) -> Case:
    idx = list(range(p["n_global"]))
    return attention_case(
        p,
        dev,
        dt,
        partial(local_global.local_global_attention, window=p["window"], global_idx=idx),
        partial(local_global.local_global_reference, window=p["window"], global_idx=idx),
        local_global.local_global_pairs(p["seq_len"], p["window"], p["n_global"]),
    )


define(
    "attention-local-global",
    ("001-sparse-attn-n-log-n", "001-sparse-attn-sum-outputs"),
    {
        "tiny": {**TINY, "window": 8, "n_global": 3},
        "cpu": {**CPU, "window": 32, "n_global": 16},
        "gpu": {**GPU, "seq_len": 8192, "window": 32, "n_global": 64},
    },
    _local_global,
    "Longformer-style window (W=32) + G global tokens, one softmax over the union",
)
_TOPK_SIZES = {
    "tiny": {**TINY, "top_k": 5, "block": 8, "n_blocks": 2},
    "cpu": {**CPU, "seq_len": 1024, "top_k": 64, "block": 64, "n_blocks": 4},
    "gpu": {**GPU, "seq_len": 1024, "batch": 8, "top_k": 64, "block": 64, "n_blocks": 4},
}
define(
    "attention-topk-exact",
    ("000-sqa-topk-6x-at-1024",),
    _TOPK_SIZES,
    lambda p, dev, dt: attention_case(
        p,
        dev,
        dt,
        partial(topk.topk_attention, top_k=p["top_k"]),
        partial(topk.topk_reference, top_k=p["top_k"]),
        dense.attention_pairs(p["seq_len"]),
        materialised=True,
    ),
    "exact per-query top-k attention (needs all T×T scores)",
)
define(
    "attention-topk-block",
    ("000-sqa-topk-6x-at-1024",),
    _TOPK_SIZES,
    lambda p, dev, dt: attention_case(
        p,
        dev,
        dt,
        partial(topk.block_topk_attention, block=p["block"], n_blocks=p["n_blocks"]),
        partial(topk.block_topk_reference, block=p["block"], n_blocks=p["n_blocks"]),
        topk.block_topk_pairs(p["seq_len"], p["block"], p["n_blocks"]),
    ),
    "NSA-style block selection: attend to the n best key blocks of S tokens",
)
