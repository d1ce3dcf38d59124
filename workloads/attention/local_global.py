"""Local + global attention (Longformer / BigBird): a sliding window plus ``G`` global tokens.

Shape legend: ``B`` batch, ``H`` heads, ``T`` tokens, ``D`` head dim, ``W`` window, ``G``
global tokens, ``N`` query blocks, ``Q`` query-block length, ``L`` keys per block.

Every query attends to the union of its window and the global tokens; global tokens attend to
every key (Beltagy et al. 2020, *Longformer*, §3.1 "global attention"; Zaheer et al. 2020,
*BigBird*, "global tokens"). Causal unless stated: a key is never later than its query, so a
global token only reaches queries after it. With one softmax over the union the weights of a
query sum to 1. Cost: the window band O(T·W), the global keys O(T·G), the global queries
O(G·T) — O(T·(W + G)), linear in T for fixed W and G, *not* the O(n log n) seed 001 §1.2
claims (n log n is LSH / Reformer-style bucketing).

Seed 001 §1.2's ``sparse_attention`` returns ``local_attn + global_attn``: two separately
normalised attentions added, so each query's weights sum to 2 and the output is not a convex
combination of values. :func:`seed_summed_local_global` reproduces it for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ._checks import check_positive, check_self_attention, masked_fill_value
from .dense import naive_attention, sdpa_attention, window_mask
from .sliding_window import (
    band_blocks,
    default_block,
    sliding_window_attention,
    softmax_lowp,
    window_pairs,
)


def global_index(
    global_idx: Sequence[int] | torch.Tensor, t: int, device: torch.device
) -> torch.Tensor:
    """Validate global-token positions: distinct integers in [0, T); returns a sorted (G,) long tensor."""
    idx = torch.as_tensor(global_idx, device=device)
    if idx.dim() != 1 or idx.numel() == 0 or idx.dtype.is_floating_point:
        raise ValueError(
            f"global_idx must be a non-empty 1-D integer list, got shape {tuple(idx.shape)} dtype {idx.dtype}"
        )
    idx = idx.long().sort().values
    if int(idx[0]) < 0 or int(idx[-1]) >= t:
        raise ValueError(
            f"global_idx must lie in [0, T={t}), got min {int(idx[0])}, max {int(idx[-1])}"
        )
    if bool((idx[1:] == idx[:-1]).any()):
        raise ValueError(f"global_idx has repeated positions: {idx.tolist()}")
    return idx


def local_global_mask(
    t: int,
    window: int,
    global_idx: Sequence[int] | torch.Tensor,
    *,
    causal: bool = True,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(T, T) bool: band, or key global, or query global; intersected with causal."""
    device = torch.device(device)
    is_global = torch.zeros(t, dtype=torch.bool, device=device)
    is_global[global_index(global_idx, t, device)] = True
    allowed = (
        window_mask(t, window, causal=False, device=device)
        | is_global[None, :]
        | is_global[:, None]
    )
    if causal:
        allowed = allowed & torch.ones(t, t, dtype=torch.bool, device=device).tril()
    return allowed


def local_global_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    global_idx: Sequence[int] | torch.Tensor,
    *,
    causal: bool = True,
    block: int | None = None,
) -> torch.Tensor:
    """Window + global tokens with one softmax over the union. (B, H, T, D) -> (B, H, T, D)."""
    _, _, t, _ = check_self_attention(q, k, v)
    check_positive("window", window)
    idx_G = global_index(global_idx, t, q.device)
    block = default_block(window, t) if block is None else check_positive("block", block)
    bands = band_blocks(q, k, v, window, causal, block)
    is_global_T = torch.zeros(t, dtype=torch.bool, device=q.device)
    is_global_T[idx_G] = True
    # global keys are scored once, in the global part, so the band must not count them again
    key_is_global_NL = is_global_T[bands.pos_k_NL.clamp(0, t - 1)]
    allowed_local_NQL = bands.allowed_NQL & ~key_is_global_NL[:, None, :]
    allowed_global_NQG = idx_G <= bands.pos_q_NQ[:, :, None]
    if not causal:
        allowed_global_NQG = torch.ones_like(allowed_global_NQG)
    scale = q.shape[-1] ** -0.5
    fill = masked_fill_value(q.dtype)
    scores_local = (bands.q_BHNQD @ bands.k_BHNDL * scale).masked_fill(~allowed_local_NQL, fill)
    k_G, v_G = k[:, :, idx_G], v[:, :, idx_G]
    scores_global = (bands.q_BHNQD @ k_G.transpose(-1, -2)[:, :, None] * scale).masked_fill(
        ~allowed_global_NQG, fill
    )
    probs = softmax_lowp(torch.cat([scores_local, scores_global], dim=-1))
    span = scores_local.shape[-1]
    out_BHNQD = probs[..., :span] @ bands.v_BHNLD + probs[..., span:] @ v_G[:, :, None]
    out = out_BHNQD.flatten(2, 3)[:, :, :t]
    # global queries see every (earlier) key: G rows of dense attention
    q_G = q[:, :, idx_G]
    mask_GT = (torch.arange(t, device=q.device)[None, :] <= idx_G[:, None]) if causal else None
    out_G = sdpa_attention(q_G, k, v, mask_GT, causal=False)
    return out.index_copy(2, idx_G, out_G)


def local_global_pairs(t: int, window: int, n_global: int, *, causal: bool = True) -> int:
    """Upper bound on (query, key) pairs: the band, ``G`` keys for every query and ``T`` keys
    for every global query (overlaps not subtracted). Useful work is ``4·B·H·D·pairs``."""
    return window_pairs(t, window, causal=causal) + 2 * n_global * t


def local_global_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    global_idx,
    *,
    causal: bool = True,
) -> torch.Tensor:
    """Masked-dense reference for :func:`local_global_attention`."""
    return naive_attention(
        q,
        k,
        v,
        local_global_mask(q.shape[2], window, global_idx, causal=causal, device=q.device),
        causal=causal,
    )


# --- the seed's version -------------------------------------------------------------------


def seed_summed_local_global(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    global_idx,
    *,
    causal: bool = True,
) -> torch.Tensor:
    """Seed 001 §1.2: ``local_window_attention(...) + global_token_attention(...)``, each with
    its own softmax. Queries before the first global token have no global key (NaN rows there)."""
    _, _, t, _ = check_self_attention(q, k, v)
    idx_G = global_index(global_idx, t, q.device)
    local = sliding_window_attention(q, k, v, window, causal=causal)
    mask_TG = (idx_G[None, :] <= torch.arange(t, device=q.device)[:, None]) if causal else None
    global_ = naive_attention(q, k[:, :, idx_G], v[:, :, idx_G], mask_TG, causal=False)
    return local + global_


@dataclass(frozen=True)
class SeedSumReport:
    """How seed 001 §1.2's summed outputs differ from one softmax (claim ``001-sparse-attn-sum-outputs``).

    weight_sum_min / weight_sum_max: total attention weight per query (measured by attending
        to values of ones): 2 for the seed, 1 for a correct attention.
    union_weight_sum_max_dev: largest |sum - 1| of :func:`local_global_attention`.
    max_abs_err / rel_err: seed output vs the one-softmax output (relative in Frobenius norm).
    """

    t: int
    window: int
    n_global: int
    weight_sum_min: float
    weight_sum_max: float
    union_weight_sum_max_dev: float
    max_abs_err: float
    rel_err: float


def run_seed_summed_local_global(
    t: int = 256,
    window: int = 32,
    n_global: int = 4,
    *,
    heads: int = 2,
    head_dim: int = 16,
    seed: int = 0,
) -> SeedSumReport:
    """Run the seed's summed version and the one-softmax version on random inputs."""
    gen = torch.Generator().manual_seed(seed)
    q, k, v = torch.randn(3, 1, heads, t, head_dim, generator=gen).unbind(0)
    idx = list(range(n_global))  # leading global tokens, like Longformer's [CLS]
    ones = torch.ones_like(v)
    seed_sum = seed_summed_local_global(q, k, ones, window, idx)
    union_sum = local_global_attention(q, k, ones, window, idx)
    seed_out = seed_summed_local_global(q, k, v, window, idx)
    union_out = local_global_attention(q, k, v, window, idx)
    return SeedSumReport(
        t=t,
        window=window,
        n_global=n_global,
        weight_sum_min=float(seed_sum.min()),
        weight_sum_max=float(seed_sum.max()),
        union_weight_sum_max_dev=float((union_sum - 1).abs().max()),
        max_abs_err=float((seed_out - union_out).abs().max()),
        rel_err=float((seed_out - union_out).norm() / union_out.norm()),
    )
