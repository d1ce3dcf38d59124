"""The per-layer attention choice of the language model: a small spec and a factory.

Shape legend: ``B`` batch, ``H`` heads, ``T`` tokens, ``D`` head dim, ``W`` window, ``G``
global tokens, ``K`` top-k keys, ``S`` key-block length.

A layer's attention is an :class:`AttnSpec`; :func:`attention_fn` turns it into a function
``(q, k, v) -> out`` on (B, H, T, D) tensors, always causal. Dense is plain fused
``scaled_dot_product_attention``. The sparse variants come from :mod:`workloads.attention`
(the blocked kernels, each tested there against a masked-dense reference); if that package
does not provide one, the masked-dense reference of this module is used instead, so the model
always runs. :func:`reference_attention` is that masked-dense reference: it materialises the
T×T mask, which is what every variant must equal.

Window convention (the attention package's): causal ``0 <= i - j < W``, the query included.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import torch
import torch.nn.functional as F

AttentionFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class AttnKind(Enum):
    DENSE = "dense"
    WINDOW = "window"  # sliding window of W keys
    LOCAL_GLOBAL = "local-global"  # window plus the first G tokens as global tokens
    TOPK = "topk"  # exact top-K keys per query
    BLOCK_TOPK = "block-topk"  # NSA-style selection of key blocks
    MEMORY = (
        "memory"  # window + kNN retrieval from a bank of past segments (Memorizing Transformers)
    )


@dataclass(frozen=True)
class AttnSpec:
    """How one layer attends. ``window`` for WINDOW / LOCAL_GLOBAL / MEMORY, ``n_global`` for
    LOCAL_GLOBAL, ``top_k`` for TOPK, ``block`` / ``n_blocks`` for BLOCK_TOPK, ``top_m``
    (memories retrieved per query) for MEMORY. Without a memory bank a MEMORY layer is a
    WINDOW layer; the bank is passed to the model's forward (see ``LM.new_memories``)."""

    kind: AttnKind = AttnKind.DENSE
    window: int | None = None
    n_global: int = 0
    top_k: int | None = None
    block: int = 64
    n_blocks: int = 4
    top_m: int = 8

    def __post_init__(self) -> None:
        if not isinstance(self.kind, AttnKind):
            raise ValueError(f"kind must be an AttnKind, got kind={self.kind!r}")
        if self.kind in (AttnKind.WINDOW, AttnKind.LOCAL_GLOBAL, AttnKind.MEMORY) and (
            self.window is None or self.window <= 0
        ):
            raise ValueError(
                f"{self.kind.value} attention needs window > 0, got window={self.window}"
            )
        if self.kind is AttnKind.LOCAL_GLOBAL and self.n_global <= 0:
            raise ValueError(
                f"local-global attention needs n_global > 0, got n_global={self.n_global}"
            )
        if self.kind is AttnKind.TOPK and (self.top_k is None or self.top_k <= 0):
            raise ValueError(f"top-k attention needs top_k > 0, got top_k={self.top_k}")
        if self.top_m <= 0:
            raise ValueError(f"top_m must be > 0, got top_m={self.top_m}")
        if self.block <= 0 or self.n_blocks <= 0:
            raise ValueError(
                f"block and n_blocks must be > 0, got block={self.block}, n_blocks={self.n_blocks}"
            )

    @property
    def label(self) -> str:
        extra = {
            AttnKind.DENSE: "",
            AttnKind.WINDOW: f"-w{self.window}",
            AttnKind.LOCAL_GLOBAL: f"-w{self.window}-g{self.n_global}",
            AttnKind.TOPK: f"-k{self.top_k}",
            AttnKind.BLOCK_TOPK: f"-s{self.block}x{self.n_blocks}",
            AttnKind.MEMORY: f"-w{self.window}-m{self.top_m}",
        }[self.kind]
        return self.kind.value + extra


def _allowed_TT(q: torch.Tensor, k: torch.Tensor, spec: AttnSpec) -> torch.Tensor:
    """Bool (T, T) or (B, H, T, T) mask of the (query, key) pairs ``spec`` allows."""
    t = q.shape[2]
    i = torch.arange(t, device=q.device)[:, None]
    j = torch.arange(t, device=q.device)[None, :]
    causal = j <= i
    if spec.kind is AttnKind.DENSE:
        return causal
    if spec.kind in (AttnKind.WINDOW, AttnKind.MEMORY):
        return causal & (i - j < spec.window)
    if spec.kind is AttnKind.LOCAL_GLOBAL:
        g = min(spec.n_global, t)
        return causal & ((i - j < spec.window) | (j < g) | (i < g))
    scores = (q @ k.transpose(-1, -2)).masked_fill(~causal, float("-inf"))
    if spec.kind is AttnKind.TOPK:
        kth = scores.topk(min(spec.top_k, t), dim=-1).values[..., -1:]
        return causal & (scores >= kth)
    # BLOCK_TOPK is delegated to the attention package's own reference
    raise NotImplementedError


def reference_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, spec: AttnSpec
) -> torch.Tensor:
    """Masked-dense causal attention (materialises T×T): the reference every variant equals."""
    if spec.kind is AttnKind.BLOCK_TOPK:
        fn = _package_fn("reference_attend", spec)
        if fn is None:
            raise NotImplementedError("block-topk needs workloads.attention.reference_attend")
        return fn(q, k, v)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=_allowed_TT(q, k, spec))


def _package_fn(name: str, spec: AttnSpec) -> AttentionFn | None:
    """The variant from :mod:`workloads.attention`, or None if that package lacks it."""
    try:
        pkg = importlib.import_module("workloads.attention")
    except ImportError:
        return None
    fn = getattr(pkg, name, None)
    if fn is None:
        return None
    t_clip = lambda q, n: min(n, q.shape[2])  # noqa: E731
    if name == "MemoryAugmentedAttention":
        return fn
    if name == "sliding_window_attention":
        return lambda q, k, v: fn(q, k, v, spec.window)
    if name == "local_global_attention":
        return lambda q, k, v: fn(q, k, v, spec.window, list(range(t_clip(q, spec.n_global))))
    if name == "topk_attention":
        return lambda q, k, v: fn(q, k, v, t_clip(q, spec.top_k))
    if name in ("attend", "reference_attend"):
        AttentionKind, AttentionSpec = pkg.AttentionKind, pkg.AttentionSpec
        theirs = AttentionSpec(AttentionKind.BLOCK_TOPK, block=spec.block, n_blocks=spec.n_blocks)
        return lambda q, k, v: fn(q, k, v, theirs)
    return None


_PACKAGE_NAME = {
    AttnKind.WINDOW: "sliding_window_attention",
    AttnKind.MEMORY: "sliding_window_attention",  # the bank-free part; the bank is the model's
    AttnKind.LOCAL_GLOBAL: "local_global_attention",
    AttnKind.TOPK: "topk_attention",
    AttnKind.BLOCK_TOPK: "attend",
}


def attention_fn(spec: AttnSpec) -> AttentionFn:
    """The fast implementation of ``spec``: fused SDPA for dense, the attention package's kernel
    for the rest, the masked-dense reference where the package has none."""
    if spec.kind is AttnKind.DENSE:
        return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)
    fn = _package_fn(_PACKAGE_NAME[spec.kind], spec)
    return fn if fn is not None else (lambda q, k, v: reference_attention(q, k, v, spec))


def attention_pairs(spec: AttnSpec, t: int) -> int:
    """(query, key) pairs a layer scores at length ``t`` (for FLOPs: ``4·B·H·D·pairs``)."""
    dense = t * (t + 1) // 2
    if spec.kind is AttnKind.DENSE:
        return dense
    if spec.kind in (AttnKind.WINDOW, AttnKind.MEMORY):  # memory retrieval not counted
        w = min(spec.window, t)
        return w * (w + 1) // 2 + (t - w) * w
    if spec.kind is AttnKind.LOCAL_GLOBAL:
        w = min(spec.window, t)
        return min(dense, w * (w + 1) // 2 + (t - w) * w + 2 * spec.n_global * t)
    if spec.kind is AttnKind.TOPK:
        return min(dense, t * spec.top_k)
    return min(dense, t * spec.block * spec.n_blocks)


def memory_attention_module(spec: AttnSpec, n_heads: int):
    """The attention package's ``MemoryAugmentedAttention`` for a MEMORY layer (a module with a
    learned per-head gate); a ValueError if that package does not provide it."""
    cls = _package_fn("MemoryAugmentedAttention", spec)
    if cls is None:
        raise ValueError("memory attention needs workloads.attention.MemoryAugmentedAttention")
    return cls(n_heads, spec.window, spec.top_m)


def new_memory(capacity: int):
    """An empty kNN bank (the attention package's ``KNNMemory``, FIFO eviction)."""
    return importlib.import_module("workloads.attention").KNNMemory(capacity)


def receptive_field(specs: tuple[AttnSpec, ...]) -> int | None:
    """How far back (tokens) information can travel through the stack; None if unbounded.
    A stack of window-``W`` layers reaches ``L·(W − 1)`` positions back."""
    reach = 0
    for spec in specs:
        if spec.kind is not AttnKind.WINDOW:
            return None
        reach += spec.window - 1
    return reach
