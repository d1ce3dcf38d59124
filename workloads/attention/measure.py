"""Measurement helpers for the attention variants: sequence-length sweeps, measured peak
memory, scaling exponents and the blocked-SWA vs matmul FLOP/s ratio.

Shape legend: ``B`` batch, ``H`` heads, ``T`` tokens, ``D`` head dim, ``W`` window, ``N``
query blocks, ``Q`` query-block length, ``L`` keys per block.

These are library functions: the caller passes the timer (``time_fn(fn) -> seconds``), so the
workbench's timer, or a plain ``perf_counter`` loop, can drive them. Peak memory is measured,
never computed, by :class:`~workloads.attention.peak_memory.PeakMemoryProbe` (the CUDA
allocator's peak, or a child process's high-water mark on CPU); one probe serves a whole sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from ._checks import check_positive
from .dense import attention_flops, attention_pairs, naive_attention, sdpa_attention
from .fused import Backend, sdpa_with_backend
from .local_global import local_global_attention, local_global_pairs
from .peak_memory import PeakMemoryProbe
from .sliding_window import (
    blocked_window_pairs,
    default_block,
    sliding_window_attention,
    window_pairs,
)
from .topk import block_topk_attention, block_topk_pairs, topk_attention

TimeFn = Callable[[Callable[[], Any]], float]


@dataclass(frozen=True)
class SweepShape:
    """Everything but T that a sweep point needs; picklable so a child process can rebuild it.

    window: W for the windowed variants; n_global: G for local+global; block / n_blocks: S and
    n for block top-k; top_k: K for exact top-k; backward: time forward + backward.
    """

    batch: int = 1
    heads: int = 4
    head_dim: int = 64
    window: int = 512
    n_global: int = 16
    block: int = 64
    n_blocks: int = 8
    top_k: int = 64
    device: str = "cpu"
    dtype: str = "float32"
    backward: bool = False


@dataclass(frozen=True)
class SweepRecord:
    """One sweep point. time_s: from the caller's timer; peak_bytes: measured extra memory of
    one call (None when not measured); flops: useful analytic FLOPs (4·B·H·D·pairs)."""

    variant: str
    seq_len: int
    time_s: float
    peak_bytes: int | None
    flops: float
    shape: dict = field(default_factory=dict)


def _pairs(variant: str, t: int, s: SweepShape) -> int:
    return {
        "sliding-window": lambda: window_pairs(t, s.window),
        "local-global": lambda: local_global_pairs(t, s.window, s.n_global),
        "block-topk": lambda: block_topk_pairs(t, s.block, s.n_blocks),
        "topk-exact": lambda: attention_pairs(t),
    }.get(variant, lambda: attention_pairs(t))()


def _attention_fn(variant: str, t: int, s: SweepShape) -> Callable[..., torch.Tensor]:
    fns: dict[str, Callable[..., torch.Tensor]] = {
        "dense-naive": naive_attention,
        "dense-sdpa": sdpa_attention,
        "sdpa-math": lambda q, k, v: sdpa_with_backend(q, k, v, Backend.MATH),
        "sdpa-flash": lambda q, k, v: sdpa_with_backend(q, k, v, Backend.FLASH),
        "sliding-window": lambda q, k, v: sliding_window_attention(q, k, v, min(s.window, t)),
        "local-global": lambda q, k, v: local_global_attention(
            q, k, v, min(s.window, t), list(range(min(s.n_global, t)))
        ),
        "block-topk": lambda q, k, v: block_topk_attention(
            q, k, v, s.block, min(s.n_blocks, -(-t // s.block))
        ),
        "topk-exact": lambda q, k, v: topk_attention(q, k, v, min(s.top_k, t)),
    }
    if variant not in fns:
        raise ValueError(f"unknown sweep variant {variant!r}; known: {sorted(fns)}")
    return fns[variant]


SWEEP_VARIANTS = (
    "dense-naive",
    "dense-sdpa",
    "sdpa-math",
    "sdpa-flash",
    "sliding-window",
    "local-global",
    "block-topk",
    "topk-exact",
)


def sweep_flops(variant: str, t: int, shape: SweepShape) -> float:
    """Useful FLOPs of one call of a sweep point (4·B·H·D·pairs; x3.5 with backward)."""
    flops = attention_flops(shape.batch, shape.heads, shape.head_dim, _pairs(variant, t, shape))
    return 3.5 * flops if shape.backward else flops  # backward ≈ 2.5x forward (FA-2 §4 count)


def make_sweep_case(
    variant: str, t: int, shape: SweepShape, *, seed: int = 0
) -> tuple[Callable[[], Any], float]:
    """Build inputs for one sweep point: returns (zero-argument fn, useful FLOPs of one call)."""
    attn = _attention_fn(variant, t, shape)
    gen = torch.Generator(device=shape.device).manual_seed(seed)
    dtype = getattr(torch, shape.dtype)
    q, k, v = (
        torch.randn(
            shape.batch,
            shape.heads,
            t,
            shape.head_dim,
            generator=gen,
            device=shape.device,
            dtype=dtype,
        ).requires_grad_(shape.backward)
        for _ in range(3)
    )
    flops = sweep_flops(variant, t, shape)
    if not shape.backward:

        def forward() -> torch.Tensor:
            with torch.no_grad():
                return attn(q, k, v)

        return forward, flops
    grad_out = torch.randn_like(q.detach())

    def forward_backward() -> tuple[torch.Tensor, ...]:
        return torch.autograd.grad(attn(q, k, v), (q, k, v), grad_out)

    return forward_backward, flops


def measure_peak_bytes(variant: str, t: int, shape: SweepShape) -> int:
    """Measured extra memory of one call of a sweep point (see :mod:`.peak_memory`)."""
    with PeakMemoryProbe(shape.device) as probe:
        return probe.measure(make_sweep_case, variant, t, shape)


def sweep(
    variants: Iterable[str],
    lengths: Iterable[int],
    time_fn: TimeFn,
    shape: SweepShape = SweepShape(),
    *,
    measure_memory: bool = True,
) -> list[SweepRecord]:
    """Time (and measure peak memory of) every variant at every length; returns records."""
    records = []
    with PeakMemoryProbe(shape.device) if measure_memory else nullcontext() as probe:
        for variant in variants:
            for t in lengths:
                fn, flops = make_sweep_case(variant, t, shape)
                time_s = time_fn(fn)
                del fn
                peak = probe.measure(make_sweep_case, variant, t, shape) if probe else None
                records.append(SweepRecord(variant, t, time_s, peak, flops, asdict(shape)))
    return records


def fit_loglog_slope(xs: Iterable[float], ys: Iterable[float]) -> float:
    """Least-squares slope of log(y) against log(x): the scaling exponent ``p`` in y ∝ x^p."""
    x, y = np.asarray(list(xs), dtype=float), np.asarray(list(ys), dtype=float)
    if x.size < 2 or x.size != y.size or (x <= 0).any() or (y <= 0).any():
        raise ValueError(
            f"need >= 2 positive (x, y) pairs of equal count, got {x.size} x and {y.size} y"
        )
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def scaling_exponents(records: Iterable[SweepRecord], metric: str = "time_s") -> dict[str, float]:
    """Per variant, the log-log slope of ``metric`` (``time_s`` or ``peak_bytes``) against T."""
    by_variant: dict[str, list[tuple[int, float]]] = {}
    for r in records:
        value = getattr(r, metric)
        if value:
            by_variant.setdefault(r.variant, []).append((r.seq_len, value))
    return {
        v: fit_loglog_slope(*zip(*pts, strict=True))
        for v, pts in by_variant.items()
        if len(pts) >= 2
    }


@dataclass(frozen=True)
class FlopRateRatio:
    """Blocked SWA against a plain batched matmul doing the same block products.

    swa_flops / swa_executed_flops: useful band FLOPs and FLOPs actually computed (masked
    corners included); matmul_flops: FLOPs of the two plain ``bmm`` calls
    ((B·H·N, Q, D) @ (D, L) and (Q, L) @ (L, D), equal to ``swa_executed_flops``).
    ratio = (swa_flops / swa_time_s) / (matmul_flops / matmul_time_s).
    """

    seq_len: int
    window: int
    block: int
    swa_time_s: float
    matmul_time_s: float
    swa_flops: float
    swa_executed_flops: float
    matmul_flops: float

    @property
    def swa_flops_per_s(self) -> float:
        return self.swa_flops / self.swa_time_s

    @property
    def matmul_flops_per_s(self) -> float:
        return self.matmul_flops / self.matmul_time_s

    @property
    def ratio(self) -> float:
        return self.swa_flops_per_s / self.matmul_flops_per_s

    @property
    def executed_ratio(self) -> float:
        return self.swa_executed_flops / self.swa_time_s / self.matmul_flops_per_s


def swa_matmul_flop_rate(
    t: int,
    time_fn: TimeFn,
    shape: SweepShape = SweepShape(),
    *,
    block: int | None = None,
    rounds: int = 3,
) -> FlopRateRatio:
    """Time blocked SWA (forward) and a plain matmul of the same block shapes on this machine.

    The two are timed alternately ``rounds`` times and each keeps its fastest time, so that a
    burst of load from other processes does not land on one side of the ratio only.
    """
    window = min(shape.window, t)
    block = default_block(window, t) if block is None else block
    dev, dtype = shape.device, getattr(torch, shape.dtype)
    q, k, v = torch.randn(
        3, shape.batch, shape.heads, t, shape.head_dim, device=dev, dtype=dtype
    ).unbind(0)
    n = -(-t // block)
    span = block + window - 1
    bhn = shape.batch * shape.heads * n
    a = torch.randn(bhn, block, shape.head_dim, device=dev, dtype=dtype)
    b = torch.randn(bhn, shape.head_dim, span, device=dev, dtype=dtype)
    c = torch.randn(bhn, span, shape.head_dim, device=dev, dtype=dtype)

    def swa() -> torch.Tensor:
        with torch.no_grad():
            return sliding_window_attention(q, k, v, window, block=block)

    def matmul() -> torch.Tensor:
        return torch.bmm(torch.bmm(a, b), c)

    times = [time_fn(f) for _ in range(check_positive("rounds", rounds)) for f in (swa, matmul)]
    per_pair = 4.0 * shape.batch * shape.heads * shape.head_dim
    executed = per_pair * blocked_window_pairs(t, window, block=block)
    return FlopRateRatio(
        seq_len=t,
        window=window,
        block=block,
        swa_time_s=min(times[0::2]),
        matmul_time_s=min(times[1::2]),
        swa_flops=per_pair * window_pairs(t, window),
        swa_executed_flops=executed,
        matmul_flops=4.0 * shape.head_dim * bhn * block * span,
    )
