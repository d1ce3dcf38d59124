"""Attention-weight pruning: zero post-softmax weights below a threshold.

Shape legend: ``B`` batch, ``H`` heads, ``T`` tokens, ``D`` head dim.

Seed 004 §3.2: "attention-weight clipping: threshold 0.1 filters low-weight connections". Two
things follow from doing it honestly. (1) It saves no compute in a dense kernel: the scores and
the softmax must exist before anything can be compared with 0.1 (sparse *selection* before the
softmax is what top-k / NSA do). (2) A row's weights average 1/n over its n visible keys, so
once n > 10 most weights are below 0.1 and are dropped; the error grows with n. With
renormalisation the kept weights are rescaled to sum to 1 (a softmax restricted to the kept
keys); without it the output shrinks. Each row always keeps its largest weight so that
renormalisation is defined.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import check_qkv
from .dense import attention_pairs, naive_attention_weights


def _check_threshold(threshold: float) -> float:
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got threshold={threshold}")
    return threshold


def prune_weights(
    probs: torch.Tensor, threshold: float, *, renormalize: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero weights < ``threshold`` (the row maximum is always kept): (pruned, kept mask)."""
    _check_threshold(threshold)
    kept = (probs >= threshold) & (probs > 0)  # masked keys (weight 0) are never "kept"
    kept = kept.scatter(-1, probs.argmax(dim=-1, keepdim=True), True)
    pruned = probs * kept
    if renormalize:
        pruned = pruned / pruned.sum(dim=-1, keepdim=True)
    return pruned, kept


def pruned_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    threshold: float = 0.1,
    *,
    renormalize: bool = True,
    causal: bool = True,
) -> torch.Tensor:
    """Dense attention with post-softmax pruning: (B, H, Tq, D). Computes all T×T scores."""
    check_qkv(q, k, v)
    pruned, _ = prune_weights(
        naive_attention_weights(q, k, causal=causal), threshold, renormalize=renormalize
    )
    return pruned @ v


@dataclass(frozen=True)
class PruneReport:
    """Effect of pruning at one sequence length (claim ``004-attn-weight-prune-0.1``).

    kept_fraction: kept weights / visible (query, key) pairs.
    max_abs_err / rel_err: pruned output vs dense output (relative in Frobenius norm).
    dense_pairs_computed: (query, key) scores computed — the same as dense: nothing saved.
    """

    t: int
    threshold: float
    renormalize: bool
    kept_fraction: float
    max_abs_err: float
    rel_err: float
    dense_pairs_computed: int


def prune_report(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    threshold: float = 0.1,
    *,
    renormalize: bool = True,
    causal: bool = True,
) -> PruneReport:
    """Measure kept fraction and output error of pruning on given (B, H, T, D) tensors."""
    b, h, t_q, t_k, _ = check_qkv(q, k, v)
    probs = naive_attention_weights(q, k, causal=causal)
    pruned, kept = prune_weights(probs, threshold, renormalize=renormalize)
    dense, approx = probs @ v, pruned @ v
    pairs = attention_pairs(t_q, causal=causal) if t_q == t_k else t_q * t_k
    return PruneReport(
        t=t_q,
        threshold=threshold,
        renormalize=renormalize,
        kept_fraction=float(kept.sum()) / (b * h * pairs),
        max_abs_err=float((approx - dense).abs().max()),
        rel_err=float((approx - dense).norm() / dense.norm()),
        dense_pairs_computed=b * h * t_q * t_k,
    )


def prune_sweep(
    lengths: list[int], threshold: float = 0.1, *, heads: int = 4, head_dim: int = 64, seed: int = 0
) -> list[PruneReport]:
    """:func:`prune_report` on random inputs at each length, with and without renormalisation."""
    reports = []
    for t in lengths:
        gen = torch.Generator().manual_seed(seed)
        q, k, v = torch.randn(3, 1, heads, t, head_dim, generator=gen).unbind(0)
        reports += [prune_report(q, k, v, threshold, renormalize=r) for r in (True, False)]
    return reports
