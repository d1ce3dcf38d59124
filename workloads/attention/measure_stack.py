"""Measurement cases for whole attention stacks: the progressive schedule against all-dense.

Shape legend: ``B`` batch, ``T`` tokens, ``C`` model width, ``H`` heads.

Seed 004 §2.1 claims its progressive schedule is 2.3x faster and uses 58% less memory at 16K.
Both figures depend on the baseline's dense kernel, so each schedule comes in two flavours
whose global layers use the same kernel as the baseline they are compared with:

=============================  ==========================================================
``progressive``                window 32 → widening → fused SDPA → block top-k
``progressive-materialised``   the same, with the global layer(s) materialising T×T scores
``dense``                      every layer fused SDPA (FlashAttention-style, O(T) memory)
``dense-materialised``         every layer explicit scores (the pre-FlashAttention stack)
=============================  ==========================================================

In inference (no autograd) the peak is set by the largest *single* layer, because each
layer's scores are freed before the next layer runs: one global materialised layer then costs
as much as a whole materialised stack. With ``backward`` the activations of every layer are
kept for the backward pass, so the peak is a sum over layers and the sparse layers do save.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ._checks import check_positive
from .progressive import (
    AttentionKind,
    AttentionSpec,
    AttentionStack,
    progressive_schedule,
    uniform_schedule,
)

STACK_SCHEDULES = ("progressive", "progressive-materialised", "dense", "dense-materialised")


@dataclass(frozen=True)
class StackShape:
    """Everything but T for a stack case (picklable, so a child process can rebuild it).

    n_layers: layers (>= 3); first_window: the early layers' window (seed: 32); block /
    n_blocks: block top-k of the late layers; backward: forward + backward (training).
    """

    batch: int = 1
    heads: int = 2
    d_model: int = 64
    n_layers: int = 6
    first_window: int = 32
    block: int = 64
    n_blocks: int = 8
    device: str = "cpu"
    dtype: str = "float32"
    backward: bool = False

    def __post_init__(self) -> None:
        for name in ("batch", "heads", "d_model", "n_layers", "first_window", "block", "n_blocks"):
            check_positive(name, getattr(self, name))


def stack_specs(schedule: str, t: int, shape: StackShape) -> tuple[AttentionSpec, ...]:
    """The per-layer specs of one of :data:`STACK_SCHEDULES` at length ``t``."""
    if schedule not in STACK_SCHEDULES:
        raise ValueError(f"unknown stack schedule {schedule!r}; known: {list(STACK_SCHEDULES)}")
    materialised = schedule.endswith("-materialised")
    dense = AttentionSpec(AttentionKind.DENSE_MATERIALISED if materialised else AttentionKind.DENSE)
    if schedule.startswith("dense"):
        return uniform_schedule(shape.n_layers, dense)
    sparse = AttentionSpec(AttentionKind.BLOCK_TOPK, block=shape.block, n_blocks=shape.n_blocks)
    return progressive_schedule(
        shape.n_layers, t, first_window=shape.first_window, sparse=sparse, dense=dense
    )


def make_stack_case(
    schedule: str, t: int, shape: StackShape, *, seed: int = 0
) -> tuple[Callable[[], Any], tuple[AttentionSpec, ...]]:
    """Build a stack and its input: (zero-argument fn, the specs). Same weights for every
    schedule (seeded), so outputs of different schedules can be compared."""
    specs = stack_specs(schedule, t, shape)
    torch.manual_seed(seed)
    dtype = getattr(torch, shape.dtype)
    model = AttentionStack(specs, shape.d_model, shape.heads).to(shape.device, dtype)
    x = torch.randn(shape.batch, t, shape.d_model, device=shape.device, dtype=dtype)
    if not shape.backward:

        def forward() -> torch.Tensor:
            with torch.no_grad():
                return model(x)

        return forward, specs
    x.requires_grad_()

    def forward_backward() -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()
        return x.grad

    return forward_backward, specs


def dense_layer_fraction(specs: tuple[AttentionSpec, ...]) -> float:
    """Share of layers that attend densely: the Amdahl bound on the speed-up is 1 / this."""
    dense = (AttentionKind.DENSE, AttentionKind.DENSE_MATERIALISED)
    return sum(s.kind in dense for s in specs) / len(specs)
