"""Registered attention workloads: one :class:`~workloads.base.Workload` per variant.

Shape legend: ``B`` batch, ``H`` heads, ``T`` tokens, ``D`` head dim, ``W`` window, ``G``
global tokens, ``K`` top-k, ``S`` block length, ``n`` blocks kept, ``M`` memory bank size,
``m`` memories retrieved.

Every case's ``fn`` runs under ``torch.no_grad`` unless its name ends in ``-fwd-bwd``; FLOPs are
the useful ``4·B·H·D·pairs`` (masked-out pairs not counted; backward counted as 2.5x forward,
the FlashAttention-2 convention); bytes are the unavoidable traffic (q, k, v read, output
written) plus, for materialised variants, the T×T scores and weights written and read once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch

from ..base import Case, Workload, register
from . import dense, kv_cache, local_global, memory, progressive, pruning, sliding_window, topk
from .fused import Backend, available_backends, sdpa_with_backend

TINY = {"batch": 2, "heads": 2, "seq_len": 37, "head_dim": 8}
CPU = {"batch": 1, "heads": 4, "seq_len": 4096, "head_dim": 64}
GPU = {"batch": 1, "heads": 16, "seq_len": 16384, "head_dim": 128}


def _qkv(
    p: Mapping[str, Any], device: str, dtype: str, *, seed: int = 0, grad: bool = False
) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator(device=device).manual_seed(seed)
    shape = (p["batch"], p["heads"], p["seq_len"], p["head_dim"])
    return tuple(
        torch.randn(
            shape, generator=gen, device=device, dtype=getattr(torch, dtype)
        ).requires_grad_(grad)
        for _ in range(3)
    )


def _tolerances(dtype: str) -> dict[str, float]:
    return {"atol": 1e-5, "rtol": 1e-4} if dtype == "float32" else {"atol": 3e-2, "rtol": 3e-2}


def _io_bytes(p: Mapping[str, Any], dtype: str, *, scores: int = 0) -> float:
    elem = torch.empty(0, dtype=getattr(torch, dtype)).element_size()
    bhd = p["batch"] * p["heads"] * p["head_dim"]
    return elem * (4 * bhd * p["seq_len"] + 4 * p["batch"] * p["heads"] * scores)


def _no_grad(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with torch.no_grad():
            return fn()

    return run


def _attention_case(
    p: Mapping[str, Any],
    device: str,
    dtype: str,
    fn,
    ref,
    pairs: int,
    *,
    materialised: bool = False,
) -> Case:
    q, k, v = _qkv(p, device, dtype)
    return Case(
        fn=_no_grad(lambda: fn(q, k, v)),
        flops=dense.attention_flops(p["batch"], p["heads"], p["head_dim"], pairs),
        bytes_moved=_io_bytes(p, dtype, scores=p["seq_len"] ** 2 if materialised else 0),
        reference=None if ref is None else _no_grad(lambda: ref(q, k, v)),
        params=dict(p),
        **_tolerances(dtype),
    )


ATTENTION_WORKLOADS: dict[str, Workload] = {}


def _define(name: str, claims: tuple[str, ...], sizes: dict, build, description: str) -> Workload:
    def build_size(size: str, device: str, dtype: str) -> Case:
        if size not in sizes:
            raise ValueError(
                f"workload {name!r}: unknown size {size!r}; use one of {sorted(sizes)}"
            )
        return build(sizes[size], device, dtype)

    workload = register(
        Workload(
            name=name, claim_ids=claims, sizes=sizes, build=build_size, description=description
        )
    )
    ATTENTION_WORKLOADS[name] = workload
    return workload


# --- dense ------------------------------------------------------------------------------

_define(
    "attention-dense-naive",
    ("000-attention-quadratic", "003-flashattn2-3x", "004-progressive-attn-16k-mem-58pct"),
    {"tiny": TINY, "cpu": CPU, "gpu": {**GPU, "seq_len": 8192}},
    lambda p, dev, dt: _attention_case(
        p,
        dev,
        dt,
        dense.naive_attention,
        None,
        dense.attention_pairs(p["seq_len"]),
        materialised=True,
    ),
    "causal attention with explicit T×T scores and mask (the reference)",
)
_define(
    "attention-dense-sdpa",
    (
        "000-attention-quadratic",
        "000-swa-linear-complexity",
        "000-swa-threshold-2k",
        "000-sqa-topk-6x-at-1024",
        "004-progressive-attn-2.3x",
    ),
    {"tiny": TINY, "cpu": CPU, "gpu": GPU},
    lambda p, dev, dt: _attention_case(
        p, dev, dt, dense.sdpa_attention, dense.naive_attention, dense.attention_pairs(p["seq_len"])
    ),
    "causal attention through scaled_dot_product_attention",
)

# --- sliding window -----------------------------------------------------------------------

_SWA_SIZES = {
    "tiny": {**TINY, "window": 8},
    "cpu": {**CPU, "window": 512},
    "gpu": {**GPU, "seq_len": 8192, "window": 512},
}
_define(
    "attention-sliding-window",
    ("000-swa-linear-complexity", "000-swa-threshold-2k", "003-swa-16k-65pct-compute"),
    _SWA_SIZES,
    lambda p, dev, dt: _attention_case(
        p,
        dev,
        dt,
        partial(sliding_window.sliding_window_attention, window=p["window"]),
        partial(sliding_window.band_reference, window=p["window"]),
        sliding_window.window_pairs(p["seq_len"], p["window"]),
    ),
    "blocked causal sliding-window attention, O(T·W), never T×T",
)
_define(
    "attention-overlapping-window",
    ("000-swa-pseudocode",),
    _SWA_SIZES,
    lambda p, dev, dt: _attention_case(
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
    return _attention_case(
        p,
        dev,
        dt,
        partial(local_global.local_global_attention, window=p["window"], global_idx=idx),
        partial(local_global.local_global_reference, window=p["window"], global_idx=idx),
        local_global.local_global_pairs(p["seq_len"], p["window"], p["n_global"]),
    )


_define(
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
_define(
    "attention-topk-exact",
    ("000-sqa-topk-6x-at-1024",),
    _TOPK_SIZES,
    lambda p, dev, dt: _attention_case(
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
_define(
    "attention-topk-block",
    ("000-sqa-topk-6x-at-1024",),
    _TOPK_SIZES,
    lambda p, dev, dt: _attention_case(
        p,
        dev,
        dt,
        partial(topk.block_topk_attention, block=p["block"], n_blocks=p["n_blocks"]),
        partial(topk.block_topk_reference, block=p["block"], n_blocks=p["n_blocks"]),
        topk.block_topk_pairs(p["seq_len"], p["block"], p["n_blocks"]),
    ),
    "NSA-style block selection: attend to the n best key blocks of S tokens",
)

# --- progressive stack --------------------------------------------------------------------


def _stack_case(p, dev, dt, schedule: Callable[[Mapping[str, Any]], tuple]) -> Case:
    torch.manual_seed(0)
    specs = schedule(p)
    model = progressive.AttentionStack(specs, p["d_model"], p["heads"]).to(
        device=dev, dtype=getattr(torch, dt)
    )
    x = torch.randn(p["batch"], p["seq_len"], p["d_model"], device=dev, dtype=getattr(torch, dt))
    head_dim = p["d_model"] // p["heads"]
    pairs = sum(_spec_pairs(s, p["seq_len"]) for s in specs)
    return Case(
        fn=_no_grad(lambda: model(x)),
        flops=dense.attention_flops(p["batch"], p["heads"], head_dim, pairs)
        + 2 * 4 * p["d_model"] ** 2 * p["batch"] * p["seq_len"] * len(specs),
        bytes_moved=None,
        reference=_no_grad(lambda: model(x, reference=True)),
        params={**p, "schedule": [(s.kind.value, s.window) for s in specs]},
        atol=1e-4 if dt == "float32" else 5e-2,
        rtol=1e-3 if dt == "float32" else 5e-2,
    )


def _spec_pairs(spec: progressive.AttentionSpec, t: int) -> int:
    if spec.kind is progressive.AttentionKind.WINDOW:
        return sliding_window.window_pairs(t, spec.window)
    if spec.kind is progressive.AttentionKind.BLOCK_TOPK:
        return topk.block_topk_pairs(t, spec.block, spec.n_blocks)
    return dense.attention_pairs(t)


_STACK_SIZES = {
    "tiny": {
        "batch": 2,
        "heads": 2,
        "seq_len": 37,
        "d_model": 16,
        "n_layers": 6,
        "first_window": 4,
        "block": 8,
        "n_blocks": 2,
    },
    "cpu": {
        "batch": 1,
        "heads": 4,
        "seq_len": 4096,
        "d_model": 256,
        "n_layers": 6,
        "first_window": 32,
        "block": 64,
        "n_blocks": 8,
    },
    "gpu": {
        "batch": 1,
        "heads": 16,
        "seq_len": 16384,
        "d_model": 2048,
        "n_layers": 12,
        "first_window": 32,
        "block": 64,
        "n_blocks": 8,
    },
}


def _progressive_specs(p) -> tuple:
    sparse = progressive.AttentionSpec(
        progressive.AttentionKind.BLOCK_TOPK, block=p["block"], n_blocks=p["n_blocks"]
    )
    return progressive.progressive_schedule(
        p["n_layers"], p["seq_len"], first_window=p["first_window"], sparse=sparse
    )


_define(
    "attention-progressive",
    ("004-progressive-attn-2.3x", "004-progressive-attn-16k-mem-58pct"),
    _STACK_SIZES,
    partial(_stack_case, schedule=_progressive_specs),
    "attention stack: window 32 → widening → dense → block top-k (seed 004 §2.1)",
)
for _kind in (progressive.AttentionKind.DENSE, progressive.AttentionKind.DENSE_MATERIALISED):
    _define(
        f"attention-stack-{_kind.value}",
        ("004-progressive-attn-2.3x", "004-progressive-attn-16k-mem-58pct"),
        _STACK_SIZES,
        partial(
            _stack_case,
            schedule=lambda p, kind=_kind: progressive.uniform_schedule(
                p["n_layers"], progressive.AttentionSpec(kind)
            ),
        ),
        f"baseline for attention-progressive: every layer {_kind.value}",
    )

# --- memory, KV cache, pruning, fused backends --------------------------------------------


def _knn_memory(p, dev, dt) -> Case:
    torch.manual_seed(0)
    bank = memory.KNNMemory(p["capacity"])
    layer = memory.MemoryAugmentedAttention(p["heads"], p["window"], p["top_m"], gate_init=0.0).to(
        dev
    )
    for seg in range(math.ceil(p["capacity"] / p["seq_len"])):
        _, k_old, v_old = _qkv(p, dev, dt, seed=seg + 1)
        bank.add(k_old, v_old)
    q, k, v = _qkv(p, dev, dt)
    gate = layer.gate_logit_H.detach().to(getattr(torch, dt))
    pairs = sliding_window.window_pairs(p["seq_len"], p["window"]) + p["seq_len"] * p["top_m"]
    return Case(
        fn=_no_grad(lambda: layer(q, k, v, bank, update=False)),
        flops=dense.attention_flops(p["batch"], p["heads"], p["head_dim"], pairs)
        + 2.0 * p["batch"] * p["heads"] * p["head_dim"] * p["seq_len"] * len(bank),
        bytes_moved=_io_bytes(p, dt) + bank.nbytes(),
        reference=_no_grad(
            lambda: memory.memory_attention_reference(
                q, k, v, bank.keys, bank.values, p["window"], p["top_m"], gate
            )
        ),
        params={**p, "bank_entries": len(bank)},
        **_tolerances(dt),
    )


_define(
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
        fn=_no_grad(lambda: kv_cache.decode_attention(q, cache, seqs)),
        flops=4.0 * h * d * sum(lengths),
        bytes_moved=2.0 * h * d * sum(lengths) * elem,
        reference=_no_grad(reference),
        params={
            **p,
            "reserved_bytes": cache.reserved_bytes(),
            "used_bytes": cache.used_bytes(),
            "lengths": lengths,
        },
        **_tolerances(dt),
    )


_KV_SIZES = {
    "tiny": {"requests": 5, "max_len": 40, "heads": 2, "head_dim": 8, "block_size": 8},
    "cpu": {"requests": 16, "max_len": 4096, "heads": 8, "head_dim": 64, "block_size": 512},
    "gpu": {"requests": 64, "max_len": 16384, "heads": 8, "head_dim": 128, "block_size": 512},
}
_define(
    "attention-kv-paged",
    ("003-kv-block-512-peak-40pct", "004-kv-block-fragmentation"),
    _KV_SIZES,
    partial(_kv_decode, paged=True),
    "decode step over a paged KV cache (512-token blocks, block table), mixed lengths",
)
_define(
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
    return _attention_case(
        p, dev, dt, fn, reference, dense.attention_pairs(p["seq_len"]), materialised=True
    )


for _renorm in (True, False):
    _define(
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


def _sdpa_backend(p, dev, dt, *, backend: Backend, backward: bool) -> Case:
    dtype = getattr(torch, dt)
    if backend not in available_backends(dev, dtype, p["head_dim"]):
        raise ValueError(
            f"SDPA backend {backend.value} cannot run on device={dev} dtype={dt} head_dim={p['head_dim']}"
        )
    attn = partial(sdpa_with_backend, backend=backend)
    pairs = dense.attention_pairs(p["seq_len"])
    flops = dense.attention_flops(p["batch"], p["heads"], p["head_dim"], pairs)
    if not backward:
        return _attention_case(
            p, dev, dt, attn, dense.naive_attention, pairs, materialised=backend is Backend.MATH
        )
    q, k, v = _qkv(p, dev, dt, grad=True)
    grad_out = torch.randn_like(q.detach())

    def grads(f) -> Callable[[], tuple]:
        return lambda: torch.autograd.grad(f(q, k, v), (q, k, v), grad_out)

    return Case(
        fn=grads(attn),
        flops=3.5 * flops,
        bytes_moved=2
        * _io_bytes(p, dt, scores=p["seq_len"] ** 2 if backend is Backend.MATH else 0),
        reference=grads(dense.naive_attention),
        params=dict(p),
        **({"atol": 1e-4, "rtol": 1e-3} if dt == "float32" else _tolerances(dt)),
    )


_FUSED_SIZES = {"tiny": TINY, "cpu": {**CPU, "seq_len": 2048}, "gpu": GPU}
for _backend in (Backend.MATH, Backend.FLASH, Backend.EFFICIENT):
    for _bwd in (False, True):
        _define(
            f"attention-sdpa-{_backend.value}" + ("-fwd-bwd" if _bwd else ""),
            ("003-flashattn2-3x",),
            _FUSED_SIZES,
            partial(_sdpa_backend, backend=_backend, backward=_bwd),
            f"causal SDPA restricted to the {_backend.value} backend"
            + (", forward + backward" if _bwd else ""),
        )
