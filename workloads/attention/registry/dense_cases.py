"""Dense attention and the fused SDPA backends (math / flash / efficient), forward and
forward + backward: the baselines every other variant is measured against."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from ...base import Case
from .. import dense
from ..fused import Backend, available_backends, sdpa_with_backend
from ._common import CPU, GPU, TINY, attention_case, define, io_bytes, qkv, tolerances

# --- dense ------------------------------------------------------------------------------

define(
    "attention-dense-naive",
    ("000-attention-quadratic", "003-flashattn2-3x", "004-progressive-attn-16k-mem-58pct"),
    {"tiny": TINY, "cpu": CPU, "gpu": {**GPU, "seq_len": 8192}},
    lambda p, dev, dt: attention_case(
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
define(
    "attention-dense-sdpa",
    (
        "000-attention-quadratic",
        "000-swa-linear-complexity",
        "000-swa-threshold-2k",
        "000-sqa-topk-6x-at-1024",
        "004-progressive-attn-2.3x",
    ),
    {"tiny": TINY, "cpu": CPU, "gpu": GPU},
    lambda p, dev, dt: attention_case(
        p, dev, dt, dense.sdpa_attention, dense.naive_attention, dense.attention_pairs(p["seq_len"])
    ),
    "causal attention through scaled_dot_product_attention",
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
        return attention_case(
            p, dev, dt, attn, dense.naive_attention, pairs, materialised=backend is Backend.MATH
        )
    q, k, v = qkv(p, dev, dt, grad=True)
    grad_out = torch.randn_like(q.detach())

    def grads(f) -> Callable[[], tuple]:
        return lambda: torch.autograd.grad(f(q, k, v), (q, k, v), grad_out)

    return Case(
        fn=grads(attn),
        flops=3.5 * flops,
        bytes_moved=2 * io_bytes(p, dt, scores=p["seq_len"] ** 2 if backend is Backend.MATH else 0),
        reference=grads(dense.naive_attention),
        params=dict(p),
        **({"atol": 1e-4, "rtol": 1e-3} if dt == "float32" else tolerances(dt)),
    )


_FUSED_SIZES = {"tiny": TINY, "cpu": {**CPU, "seq_len": 2048}, "gpu": GPU}
for _backend in (Backend.MATH, Backend.FLASH, Backend.EFFICIENT):
    for _bwd in (False, True):
        define(
            f"attention-sdpa-{_backend.value}" + ("-fwd-bwd" if _bwd else ""),
            ("003-flashattn2-3x",),
            _FUSED_SIZES,
            partial(_sdpa_backend, backend=_backend, backward=_bwd),
            f"causal SDPA restricted to the {_backend.value} backend"
            + (", forward + backward" if _bwd else ""),
        )
