"""Layer stacks: the progressive schedule of seed 004 §2.1 and its all-dense baselines."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch

from ...base import Case
from .. import dense, progressive, sliding_window, topk
from ._common import define, no_grad

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
        fn=no_grad(lambda: model(x)),
        flops=dense.attention_flops(p["batch"], p["heads"], head_dim, pairs)
        + 2 * 4 * p["d_model"] ** 2 * p["batch"] * p["seq_len"] * len(specs),
        bytes_moved=None,
        reference=no_grad(lambda: model(x, reference=True)),
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


define(
    "attention-progressive",
    ("004-progressive-attn-2.3x", "004-progressive-attn-16k-mem-58pct"),
    _STACK_SIZES,
    partial(_stack_case, schedule=_progressive_specs),
    "attention stack: window 32 → widening → dense → block top-k (seed 004 §2.1)",
)
for _kind in (progressive.AttentionKind.DENSE, progressive.AttentionKind.DENSE_MATERIALISED):
    define(
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
