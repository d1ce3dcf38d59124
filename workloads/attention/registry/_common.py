"""Shared pieces of the attention registry: sizes, input builders, the case helper, ``_define``.

Shape legend: ``B`` batch, ``H`` heads, ``T`` tokens, ``D`` head dim.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from ...base import Case, Workload, register
from .. import dense

TINY = {"batch": 2, "heads": 2, "seq_len": 37, "head_dim": 8}
CPU = {"batch": 1, "heads": 4, "seq_len": 4096, "head_dim": 64}
GPU = {"batch": 1, "heads": 16, "seq_len": 16384, "head_dim": 128}


def qkv(
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


def tolerances(dtype: str) -> dict[str, float]:
    return {"atol": 1e-5, "rtol": 1e-4} if dtype == "float32" else {"atol": 3e-2, "rtol": 3e-2}


def io_bytes(p: Mapping[str, Any], dtype: str, *, scores: int = 0) -> float:
    elem = torch.empty(0, dtype=getattr(torch, dtype)).element_size()
    bhd = p["batch"] * p["heads"] * p["head_dim"]
    return elem * (4 * bhd * p["seq_len"] + 4 * p["batch"] * p["heads"] * scores)


def no_grad(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with torch.no_grad():
            return fn()

    return run


def attention_case(
    p: Mapping[str, Any],
    device: str,
    dtype: str,
    fn,
    ref,
    pairs: int,
    *,
    materialised: bool = False,
) -> Case:
    q, k, v = qkv(p, device, dtype)
    return Case(
        fn=no_grad(lambda: fn(q, k, v)),
        flops=dense.attention_flops(p["batch"], p["heads"], p["head_dim"], pairs),
        bytes_moved=io_bytes(p, dtype, scores=p["seq_len"] ** 2 if materialised else 0),
        reference=None if ref is None else no_grad(lambda: ref(q, k, v)),
        params=dict(p),
        **tolerances(dtype),
    )


ATTENTION_WORKLOADS: dict[str, Workload] = {}


def define(name: str, claims: tuple[str, ...], sizes: dict, build, description: str) -> Workload:
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
