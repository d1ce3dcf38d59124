"""Top-k sparse attention: each query attends to only ``K`` keys.

Shape legend: ``B`` batch, ``H`` heads, ``T`` tokens (``Tq``/``Tk``), ``D`` head dim, ``K``
keys kept per query, ``S`` block length, ``N`` blocks, ``n`` blocks selected per query block.

Seed 000 §2.2 ("sparse query attention", a learnable top-k pattern, "6x faster at length
1024") gives no algorithm. Two honest versions:

- :func:`topk_attention` — exact: full scores, keep each query's ``K`` largest, softmax over
  them. It needs the whole T×T score matrix first, so it cannot be cheaper than dense attention;
  it is the accuracy reference for the cheap one.
- :func:`block_topk_attention` — block selection in the spirit of DeepSeek's NSA (Yuan et al.
  2025, *Native Sparse Attention*, "token selection" branch) and MoBA: keys are cut into blocks
  of ``S``, each query block scores every key block with mean-pooled queries and keys
  (O((T/S)^2·D)), keeps its own block plus the ``n - 1`` best earlier ones, and attends only to
  those ``n·S`` keys. Work is O(T·n·S) instead of O(T^2): compute really drops. The selection
  is discrete (no gradient flows through which blocks were chosen, as in NSA's selection).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._checks import check_positive, check_qkv, check_self_attention, check_topk, masked_fill_value
from .dense import causal_mask, naive_attention
from .sliding_window import softmax_lowp


def topk_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, top_k: int, *, causal: bool = True
) -> torch.Tensor:
    """Exact top-k attention: (B, H, Tq, D). Rows with fewer than ``K`` visible keys use them all."""
    _, _, t_q, t_k, _ = check_qkv(q, k, v)
    check_topk(top_k, t_k, "top_k")
    scores_BHTT = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    if causal:
        scores_BHTT = scores_BHTT.masked_fill(~causal_mask(t_q, t_k, q.device), float("-inf"))
    top_vals_BHTK, top_ids_BHTK = scores_BHTT.topk(top_k, dim=-1)
    probs_BHTK = softmax_lowp(top_vals_BHTK)  # -inf (masked) picks get weight 0
    weights_BHTT = torch.zeros_like(scores_BHTT).scatter(-1, top_ids_BHTK, probs_BHTK)
    return weights_BHTT @ v


def topk_reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, top_k: int, *, causal: bool = True
) -> torch.Tensor:
    """Masked-dense reference: keep keys whose score is >= the K-th largest (found by sorting)."""
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[2], k.shape[2], q.device), float("-inf"))
    kth = scores.sort(dim=-1, descending=True).values[..., top_k - 1 : top_k]
    return naive_attention(q, k, v, scores >= kth, causal=causal)


def _pooled_blocks(x: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad (B, H, T, D) to whole blocks: returns (B, H, N, S, D) and the per-block mean of real rows."""
    t = x.shape[2]
    n_blocks = math.ceil(t / block)
    x_BHNSD = F.pad(x, (0, 0, 0, n_blocks * block - t)).unflatten(2, (n_blocks, block))
    counts_N = (t - torch.arange(n_blocks, device=x.device) * block).clamp(max=block)
    return x_BHNSD, x_BHNSD.sum(3) / counts_N[:, None].to(x.dtype)


def select_key_blocks(
    q: torch.Tensor, k: torch.Tensor, block: int, n_blocks: int, *, causal: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick ``n`` key blocks per query block: (ids (B, H, N, n), valid (B, H, N, n)).

    Score = mean query of the block · mean key of the block. A query block always keeps its
    own block; causal excludes later blocks (``valid`` is False for picks of excluded blocks,
    which happen when fewer than ``n`` blocks are visible).
    """
    check_positive("block", block)
    check_positive("n_blocks", n_blocks)
    with torch.no_grad():
        _, q_mean_BHND = _pooled_blocks(q, block)
        _, k_mean_BHND = _pooled_blocks(k, block)
        scores_BHNN = (q_mean_BHND @ k_mean_BHND.transpose(-1, -2)).float()
        n_total = scores_BHNN.shape[-1]
        ids = torch.arange(n_total, device=q.device)
        if causal:
            scores_BHNN = scores_BHNN.masked_fill(ids[None, :] > ids[:, None], float("-inf"))
        scores_BHNN = scores_BHNN.masked_fill(
            torch.eye(n_total, dtype=torch.bool, device=q.device), float("inf")
        )
        vals, picks = scores_BHNN.topk(min(n_blocks, n_total), dim=-1)
    return picks, vals > float("-inf")


def block_topk_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    block: int,
    n_blocks: int,
    *,
    causal: bool = True,
) -> torch.Tensor:
    """Attention restricted to the selected key blocks: (B, H, T, D), O(T·n·S) work."""
    b, h, t, d = check_self_attention(q, k, v)
    check_topk(n_blocks, math.ceil(t / check_positive("block", block)), "n_blocks")
    picks_BHNn, valid_BHNn = select_key_blocks(q, k, block, n_blocks, causal=causal)
    q_BHNSD, _ = _pooled_blocks(q, block)
    k_BHNSD, _ = _pooled_blocks(k, block)
    v_BHNSD, _ = _pooled_blocks(v, block)
    n_q, n_sel = picks_BHNn.shape[2], picks_BHNn.shape[3]
    gather_ids = picks_BHNn.reshape(b, h, n_q * n_sel, 1, 1).expand(-1, -1, -1, block, d)
    k_sel = k_BHNSD.gather(2, gather_ids).reshape(b, h, n_q, n_sel * block, d)
    v_sel = v_BHNSD.gather(2, gather_ids).reshape(b, h, n_q, n_sel * block, d)
    offs_S = torch.arange(block, device=q.device)
    pos_k_BHNm = (picks_BHNn[..., None] * block + offs_S).flatten(-2)
    pos_q_NS = torch.arange(n_q, device=q.device)[:, None] * block + offs_S
    allowed = (valid_BHNn[..., None].expand(-1, -1, -1, -1, block).flatten(-2) & (pos_k_BHNm < t))[
        :, :, :, None, :
    ]
    if causal:
        allowed = allowed & (pos_k_BHNm[:, :, :, None, :] <= pos_q_NS[None, None, :, :, None])
    scores = (q_BHNSD @ k_sel.transpose(-1, -2)) * d**-0.5
    scores = scores.masked_fill(~allowed, masked_fill_value(scores.dtype))
    return (softmax_lowp(scores) @ v_sel).flatten(2, 3)[:, :, :t]


def block_selection_mask(
    q: torch.Tensor, k: torch.Tensor, block: int, n_blocks: int, *, causal: bool = True
) -> torch.Tensor:
    """(B, H, T, T) bool: the tokens of each query's selected blocks (for the masked-dense reference)."""
    t = q.shape[2]
    picks, valid = select_key_blocks(q, k, block, n_blocks, causal=causal)
    n_total = math.ceil(t / block)
    chosen_BHNN = torch.zeros(*picks.shape[:3], n_total, dtype=torch.bool, device=q.device)
    chosen_BHNN.scatter_(-1, picks, valid)
    token_block = torch.arange(t, device=q.device) // block
    return chosen_BHNN[:, :, token_block][:, :, :, token_block]


def block_topk_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    block: int,
    n_blocks: int,
    *,
    causal: bool = True,
) -> torch.Tensor:
    """Masked-dense reference for :func:`block_topk_attention`."""
    return naive_attention(
        q, k, v, block_selection_mask(q, k, block, n_blocks, causal=causal), causal=causal
    )


def block_topk_pairs(t: int, block: int, n_blocks: int) -> int:
    """(query, key) pairs scored by the block-selection kernel (masked ones included)."""
    return math.ceil(t / block) * block * min(n_blocks, math.ceil(t / block)) * block
