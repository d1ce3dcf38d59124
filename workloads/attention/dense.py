"""Dense attention: the baseline every other variant is checked against.

Shape legend: ``B`` batch, ``H`` heads, ``T`` tokens (``Tq`` queries, ``Tk`` keys), ``D`` head
dim, ``W`` window. Tensors are (B, H, T, D), the layout of
:func:`torch.nn.functional.scaled_dot_product_attention`. Masks are boolean, ``True`` where a
query *may* attend to a key.

Causal masks are aligned bottom-right: query ``i`` of ``Tq`` sits at position
``Tk - Tq + i`` of the key sequence, so a single decode query sees every cached key.

- :func:`naive_attention` — explicit scores, explicit mask, ``softmax``, ``@ v``: slow,
  O(T^2) memory, obviously correct. It is the reference for every test in this package.
- :func:`sdpa_attention` — the fast path through ``scaled_dot_product_attention``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import check_positive, check_qkv


def causal_mask(
    t_q: int, t_k: int | None = None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """(Tq, Tk) bool: query i (at key position Tk - Tq + i) sees keys j <= its position."""
    t_k = t_q if t_k is None else t_k
    pos_q = torch.arange(t_q, device=device)[:, None] + (t_k - t_q)
    pos_k = torch.arange(t_k, device=device)[None, :]
    return pos_k <= pos_q


def window_mask(
    t: int, window: int, *, causal: bool = True, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """(T, T) bool band: causal ``0 <= i - j < W``; otherwise ``|i - j| < W``.

    ``W`` counts the query itself, so a causal window of 1 is attention to self only.
    """
    check_positive("window", window)
    i = torch.arange(t, device=device)[:, None]
    j = torch.arange(t, device=device)[None, :]
    band = (i - j).abs() < window
    return band & (j <= i) if causal else band


def naive_attention_weights(
    q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None, *, causal: bool = True
) -> torch.Tensor:
    """Softmax weights (B, H, Tq, Tk) with masked keys at exactly zero.

    ``mask`` broadcasts to (B, H, Tq, Tk); with ``causal`` it is intersected with the causal
    mask. A row whose keys are all masked is NaN (the reference makes no attempt to hide it).
    """
    scores_BHTT = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    allowed = causal_mask(q.shape[2], k.shape[2], q.device) if causal else None
    if mask is not None:
        allowed = mask if allowed is None else allowed & mask
    if allowed is not None:
        scores_BHTT = scores_BHTT.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores_BHTT.float(), dim=-1).to(q.dtype)


def naive_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    causal: bool = True,
) -> torch.Tensor:
    """Materialised attention: (B, H, Tq, D). Memory O(B·H·Tq·Tk)."""
    check_qkv(q, k, v)
    return naive_attention_weights(q, k, mask, causal=causal) @ v


def sdpa_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    causal: bool = True,
) -> torch.Tensor:
    """Dense attention through ``scaled_dot_product_attention`` (fused where PyTorch can).

    ``is_causal`` in SDPA is aligned top-left, so for Tq != Tk the causal mask is passed
    explicitly (which rules out the flash backend for that call).
    """
    _, _, t_q, t_k, _ = check_qkv(q, k, v)
    if mask is None and (not causal or t_q == t_k):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    allowed = causal_mask(t_q, t_k, q.device) if causal else None
    if mask is not None:
        allowed = mask if allowed is None else allowed & mask
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)


def attention_pairs(t: int, *, causal: bool = True) -> int:
    """Number of (query, key) pairs dense self-attention scores: T(T+1)/2 causal, T^2 not."""
    return t * (t + 1) // 2 if causal else t * t


def attention_flops(batch: int, heads: int, head_dim: int, pairs: int) -> float:
    """FLOPs of scores and weighted sum: 2·D per pair for ``q·k`` and 2·D for ``p·v``.

    ``4·B·H·D·pairs``; softmax and masking (O(pairs)) are left out, as in the
    FlashAttention papers' FLOP counts.
    """
    return 4.0 * batch * heads * head_dim * pairs
