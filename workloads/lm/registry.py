"""Registered LM workloads: one forward pass of the byte-level LM per attention/FFN variant.

Sizes map to presets: ``tiny`` → ``tiny``, ``cpu`` → ``cpu-small``, ``gpu`` → ``gpt-125m``.
FLOPs are the analytic forward FLOPs (:func:`~workloads.lm.model.flops_per_token`, training
= False) times the tokens; the reference is the same model with every layer's attention
computed by the masked-dense reference.
"""

from __future__ import annotations

import torch

from ..base import Case, Workload, register
from .config import make_variant, preset
from .model import LM, flops_per_token, param_counts

_SIZES = {
    "tiny": {"preset": "tiny", "batch": 2, "seq_len": 64},
    "cpu": {"preset": "cpu-small", "batch": 8, "seq_len": 256},
    "gpu": {"preset": "gpt-125m", "batch": 8, "seq_len": 1024},
}

_VARIANT_CLAIMS = {
    "dense": ("000-swa-98pct-accuracy", "001-curriculum-learning"),
    "sliding-window": ("000-swa-98pct-accuracy", "000-maa-32k-context"),
    "progressive": ("004-progressive-attn-2.3x",),
    "moe": ("004-moe-inference-40pct", "004-moe-aux-loss-0.1", "004-moe-domain-experts"),
    "dynamic-depth": ("001-dynamic-depth-ffn",),
}


def _builder(variant: str):
    def build(size: str, device: str, dtype: str) -> Case:
        if size not in _SIZES:
            raise ValueError(f"unknown size {size!r}; use one of {sorted(_SIZES)}")
        p = _SIZES[size]
        cfg = make_variant(preset(p["preset"]), variant)
        torch.manual_seed(0)
        model = LM(cfg).to(device, getattr(torch, dtype)).eval()
        gen = torch.Generator().manual_seed(1)
        x = torch.randint(0, cfg.vocab_size, (p["batch"], p["seq_len"]), generator=gen).to(device)
        counts = param_counts(cfg)
        elem = torch.empty(0, dtype=getattr(torch, dtype)).element_size()
        low = dtype != "float32"
        return Case(
            fn=torch.no_grad()(lambda: model(x)[0]),
            flops=flops_per_token(cfg, p["seq_len"], training=False) * x.numel(),
            bytes_moved=counts["params"] * elem,  # weights read once; activations not counted
            reference=torch.no_grad()(lambda: model(x, reference=True)[0]),
            params={**p, "variant": variant, **counts},
            atol=5e-2 if low else 1e-4,
            rtol=5e-2 if low else 1e-4,
        )

    return build


for _variant, _claims in _VARIANT_CLAIMS.items():
    register(
        Workload(
            name=f"lm-forward-{_variant}",
            claim_ids=_claims,
            sizes=_SIZES,
            build=_builder(_variant),
            description=f"byte-level LM forward, {_variant} layers (tiny / cpu-small / gpt-125m)",
        )
    )
