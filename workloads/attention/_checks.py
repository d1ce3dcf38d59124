"""Input validation shared by the attention variants.

Every check raises ``ValueError`` with the offending values in the message, never ``assert``
(which vanishes under ``python -O``).
"""

from __future__ import annotations

import torch


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[int, int, int, int, int]:
    """Check ``q`` (B, H, Tq, D), ``k``/``v`` (B, H, Tk, D); return (B, H, Tq, Tk, D)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() != 4:
            raise ValueError(f"{name} must be 4-D (B, H, T, D), got shape {tuple(t.shape)}")
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise ValueError(f"dtype mismatch: q {q.dtype}, k {k.dtype}, v {v.dtype}")
    if q.device != k.device or q.device != v.device:
        raise ValueError(f"device mismatch: q {q.device}, k {k.device}, v {v.device}")
    if k.shape != v.shape:
        raise ValueError(f"k and v shapes differ: k {tuple(k.shape)}, v {tuple(v.shape)}")
    b, h, t_q, d = q.shape
    if k.shape[0] != b or k.shape[1] != h or k.shape[3] != d:
        raise ValueError(
            f"q (B, H, Tq, D) = {tuple(q.shape)} and k (B, H, Tk, D) = {tuple(k.shape)} "
            "must agree on B, H and D"
        )
    if t_q == 0 or k.shape[2] == 0:
        raise ValueError(f"empty sequence: q {tuple(q.shape)}, k {tuple(k.shape)}")
    return b, h, t_q, k.shape[2], d


def check_self_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[int, ...]:
    """As :func:`check_qkv`, and require Tq == Tk (queries and keys are the same tokens)."""
    b, h, t_q, t_k, d = check_qkv(q, k, v)
    if t_q != t_k:
        raise ValueError(f"self-attention needs Tq == Tk, got Tq={t_q}, Tk={t_k}")
    return b, h, t_q, d


def check_positive(name: str, value: int) -> int:
    """Require an integer ``value`` >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
    return value


def check_topk(k: int, t: int, what: str = "k") -> int:
    """Require 1 <= k <= T."""
    check_positive(what, k)
    if k > t:
        raise ValueError(f"{what}={k} is larger than the number of keys T={t}")
    return k


def masked_fill_value(dtype: torch.dtype) -> float:
    """A large negative finite score for masked keys.

    Finite rather than ``-inf`` so that a row with every key masked (padding rows inside a
    blocked kernel) gives finite weights instead of NaN, which would leak into gradients.
    """
    return torch.finfo(dtype).min
