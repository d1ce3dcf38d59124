"""Sliding-window attention (SWA): each query sees only the ``W`` nearest keys.

Shape legend: ``B`` batch, ``H`` heads, ``T`` tokens, ``D`` head dim, ``W`` window,
``Q`` query-block length, ``N`` number of blocks, ``L = Q + W - 1`` (causal) or
``Q + 2W - 2`` (symmetric) keys per query block.

Window convention: causal ``0 <= i - j < W`` (``W`` keys, the query included; Mistral's and
Longformer's one-sided window); symmetric ``|i - j| < W``.

:func:`sliding_window_attention` is the blocked kernel: queries are cut into blocks of ``Q``;
each block attends to the ``L`` keys that can fall inside any of its rows' windows, taken as an
``unfold`` view of the padded keys. Scores are (B, H, N, Q, L), so time and memory are
O(T·(Q + W)) — linear in T for a fixed window — and the T×T matrix never exists
(Beltagy et al. 2020, *Longformer*, §3.1, "sliding window"; the same banded computation as
Child et al. 2019's local attention).

:func:`overlapping_window_attention` is what seed 000 §2.1 describes — windows of ``W`` at
stride ``W/2`` attended independently, outputs stitched back — done correctly: each position
takes its row from exactly one window (the one giving it the most context), so there are
T outputs in the right order. Its receptive field varies between W/2 and W with the position,
so it is *not* a sliding window; it is kept to compare against one.

What the seed's code (``sliding_window_attention(x, window_size=512)``) gets wrong, run by
:func:`run_seed_swa_pseudocode`: ``x.split([d, d, d])`` on a d-wide tensor raises (no q/k/v
projection); ``F.pad(window, (0, p))`` pads the *feature* dim, not the sequence; the ~2T rows of
the overlapping windows are concatenated and cut to T, so row r comes from the wrong position;
padded keys are not masked; there is no causal mask; scores are scaled by the full width,
not the head dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._checks import check_positive, check_self_attention, masked_fill_value
from .dense import naive_attention, window_mask

DEFAULT_MAX_BLOCK = 128  # fastest of 64-512 at W = 512, T = 4K-8K on a 2-core CPU


@dataclass(frozen=True)
class BandBlocks:
    """Queries in blocks and, per block, the keys/values its windows can reach.

    q_BHNQD: (B, H, N, Q, D) zero-padded queries.
    k_BHNDL: (B, H, N, D, L) keys, already transposed for ``q @ k`` (a strided view).
    v_BHNLD: (B, H, N, L, D) values (a strided view).
    pos_q_NQ / pos_k_NL: token positions of each query / key slot (-ve or >= T for padding).
    allowed_NQL: the band mask with padding removed.
    """

    q_BHNQD: torch.Tensor
    k_BHNDL: torch.Tensor
    v_BHNLD: torch.Tensor
    pos_q_NQ: torch.Tensor
    pos_k_NL: torch.Tensor
    allowed_NQL: torch.Tensor


def band_blocks(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, causal: bool, block: int
) -> BandBlocks:
    """Lay out q, k, v (B, H, T, D) for a blocked banded computation (no copies of k, v)."""
    t = q.shape[2]
    left, right = window - 1, 0 if causal else window - 1
    n_blocks = math.ceil(t / block)
    span = block + left + right  # L
    q_pad = F.pad(q, (0, 0, 0, n_blocks * block - t))
    tail = n_blocks * block + right - t
    k_pad = F.pad(k, (0, 0, left, tail))
    v_pad = F.pad(v, (0, 0, left, tail))
    b, h, _, d = q.shape
    dev = q.device
    pos_q_NQ = torch.arange(n_blocks, device=dev)[:, None] * block + torch.arange(block, device=dev)
    pos_k_NL = (
        torch.arange(n_blocks, device=dev)[:, None] * block + torch.arange(span, device=dev) - left
    )
    delta_NQL = pos_q_NQ[:, :, None] - pos_k_NL[:, None, :]
    real_k = (pos_k_NL >= 0) & (pos_k_NL < t)
    allowed_NQL = (delta_NQL >= -right) & (delta_NQL <= left) & real_k[:, None, :]
    # padding query rows (sliced off later) may see every slot, so no row is fully masked:
    # a fully masked row is NaN in SDPA, and NaN leaks into gradients through 0 * NaN
    allowed_NQL = allowed_NQL | (pos_q_NQ >= t)[:, :, None]
    return BandBlocks(
        q_BHNQD=q_pad.view(b, h, n_blocks, block, d),
        k_BHNDL=k_pad.unfold(2, span, block),
        v_BHNLD=v_pad.unfold(2, span, block).transpose(-1, -2),
        pos_q_NQ=pos_q_NQ,
        pos_k_NL=pos_k_NL,
        allowed_NQL=allowed_NQL,
    )


def default_block(window: int, t: int) -> int:
    """Query-block length: half the window, capped at :data:`DEFAULT_MAX_BLOCK`.

    A block of B queries scores B + W - 1 keys of which about W are inside each query's
    window, so the masked corners cost B / (B + W) of the work: 1/2 at B = W, 1/3 at B = W/2.
    Smaller blocks mean smaller matmuls; on a 2-core CPU (one thread, T = 4K-8K, head_dim 32
    and 64) B = W/2 ran 10-20% faster than B = W at W = 64 and 128, and B = 128 fastest at
    W = 512.
    """
    return max(1, min(-(-window // 2), t, DEFAULT_MAX_BLOCK))


def softmax_lowp(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim, computed in fp32 for 16-bit inputs."""
    if scores.dtype in (torch.float16, torch.bfloat16):
        return torch.softmax(scores, dim=-1, dtype=torch.float32).to(scores.dtype)
    return torch.softmax(scores, dim=-1)


def sliding_window_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    *,
    causal: bool = True,
    block: int | None = None,
    fused: bool = True,
) -> torch.Tensor:
    """Blocked sliding-window attention, (B, H, T, D) -> (B, H, T, D), O(T·W) time and memory.

    window: keys per query (``W``, the query included); block: query-block length ``Q``
    (default :func:`default_block`); fused: hand each block's (Q, L) problem with its band
    mask to ``scaled_dot_product_attention`` (mask, softmax and both products in one kernel
    where the backend supports a mask), else explicit matmul / masked_fill / softmax / matmul.
    """
    b, h, t, d = check_self_attention(q, k, v)
    check_positive("window", window)
    block = default_block(window, t) if block is None else check_positive("block", block)
    bands = band_blocks(q, k, v, window, causal, block)
    if fused:
        return _fused_band_attention(bands, t)
    scores_BHNQL = (bands.q_BHNQD @ bands.k_BHNDL) * q.shape[-1] ** -0.5
    scores_BHNQL.masked_fill_(~bands.allowed_NQL, masked_fill_value(scores_BHNQL.dtype))
    out_BHNQD = softmax_lowp(scores_BHNQL) @ bands.v_BHNLD
    return out_BHNQD.flatten(2, 3)[:, :, :t]


def _fused_band_attention(bands: BandBlocks, t: int) -> torch.Tensor:
    """SDPA over the blocks, with blocks as the batch and heads as heads: (B·N, H, Q, D).

    Blocks go in the batch dim so that one additive mask of (N, 1, Q, L) broadcasts over the
    heads; a (H·N, Q, L) boolean mask would be expanded and converted to float by SDPA, which
    costs a full extra pass over the scores (2-3x slower on CPU).
    """
    b, h, n_blocks, block, d = bands.q_BHNQD.shape
    span = bands.allowed_NQL.shape[2]
    dtype = bands.q_BHNQD.dtype
    bias_N1QL = torch.zeros(n_blocks, 1, block, span, dtype=dtype, device=bands.q_BHNQD.device)
    bias_N1QL.masked_fill_(~bands.allowed_NQL[:, None], float("-inf"))
    out = F.scaled_dot_product_attention(
        bands.q_BHNQD.transpose(1, 2).reshape(b * n_blocks, h, block, d),
        bands.k_BHNDL.permute(0, 2, 1, 4, 3).reshape(b * n_blocks, h, span, d),
        bands.v_BHNLD.transpose(1, 2).reshape(b * n_blocks, h, span, d),
        attn_mask=bias_N1QL.expand(b, -1, -1, -1, -1).reshape(b * n_blocks, 1, block, span),
    )
    return (
        out.view(b, n_blocks, h, block, d)
        .transpose(1, 2)
        .reshape(b, h, n_blocks * block, d)[:, :, :t]
    )


def window_pairs(t: int, window: int, *, causal: bool = True) -> int:
    """(query, key) pairs inside the band: the useful work of SWA is ``4·B·H·D·pairs`` FLOPs."""
    w = min(window, t)
    one_side = w * (w + 1) // 2 + (t - w) * w  # sum_i min(i + 1, W)
    return one_side if causal else 2 * one_side - t


def blocked_window_pairs(
    t: int, window: int, *, causal: bool = True, block: int | None = None
) -> int:
    """(query, key) pairs the blocked kernel actually computes (masked corners included)."""
    block = default_block(window, t) if block is None else block
    span = block + (window - 1) * (1 if causal else 2)
    return math.ceil(t / block) * block * span


# --- the seed's overlapping windows, done correctly -------------------------------------


def _overlap_geometry(t: int, window: int) -> tuple[int, int]:
    stride = max(1, window // 2)
    n_windows = 1 + math.ceil(max(t - window, 0) / stride)
    return stride, n_windows


def overlap_owner(
    t: int, window: int, *, causal: bool = True, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """(T,) index of the window each position takes its output from.

    Windows start at multiples of ``W // 2``; a position lies in two of them. Causal: the
    earlier one (more past context). Symmetric: the one in which it is more central.
    """
    stride, n_windows = _overlap_geometry(t, window)
    i = torch.arange(t, device=device)
    later = i // stride
    owner = later - 1 if causal else torch.where(2 * (i % stride) >= stride, later, later - 1)
    # an odd W leaves the earlier window short of i; W = 1 makes every window one token
    owner = torch.where(owner * stride + window > i, owner, later)
    return owner.clamp(0, n_windows - 1)


def overlapping_window_mask(
    t: int, window: int, *, causal: bool = True, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """(T, T) bool: the keys :func:`overlapping_window_attention` lets each query see."""
    check_positive("window", window)
    stride, _ = _overlap_geometry(t, window)
    start_T = overlap_owner(t, window, causal=causal, device=device) * stride
    j = torch.arange(t, device=device)[None, :]
    allowed = (j >= start_T[:, None]) & (j < start_T[:, None] + window)
    return allowed & (j <= torch.arange(t, device=device)[:, None]) if causal else allowed


def overlapping_window_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, *, causal: bool = True
) -> torch.Tensor:
    """Windows of ``W`` at stride ``W // 2``, full attention inside each, one row per position.

    (B, H, T, D) -> (B, H, T, D); work ~2·T·W pairs. See the module docstring for how this
    differs from the seed's code and from true sliding-window attention.
    """
    _, _, t, _ = check_self_attention(q, k, v)
    check_positive("window", window)
    stride, n_windows = _overlap_geometry(t, window)
    pad = (n_windows - 1) * stride + window - t
    q_w, k_w, v_w = (
        F.pad(x, (0, 0, 0, pad)).unfold(2, window, stride).transpose(-1, -2) for x in (q, k, v)
    )
    pos_NW = torch.arange(n_windows, device=q.device)[:, None] * stride + torch.arange(
        window, device=q.device
    )
    allowed_NWW = (pos_NW < t)[:, None, :].expand(-1, window, -1)
    if causal:
        allowed_NWW = allowed_NWW & (pos_NW[:, None, :] <= pos_NW[:, :, None])
    scores = (q_w @ k_w.transpose(-1, -2)) * q.shape[-1] ** -0.5
    scores = scores.masked_fill(~allowed_NWW, masked_fill_value(scores.dtype))
    out_BHNWD = softmax_lowp(scores) @ v_w
    owner_T = overlap_owner(t, window, causal=causal, device=q.device)
    row_T = torch.arange(t, device=q.device) - owner_T * stride
    return out_BHNWD[:, :, owner_T, row_T]


# --- the seed's code, run as written ------------------------------------------------------


def _seed_sliding_window_attention(
    x: torch.Tensor,
    window_size: int = 512,
    *,
    split_thirds: bool = False,
    pad_sequence: bool = False,
) -> torch.Tensor:
    """Seed 000 §2.1, transcribed line by line, with two optional patches: ``split_thirds``
    splits the width into three equal parts (the code splits d into [d, d, d], which can never
    work), ``pad_sequence`` pads the sequence dim instead of the feature dim."""
    b, n, d = x.shape
    windows = []
    for i in range(0, n, window_size // 2):
        window = x[:, i : i + window_size, :]
        if window.shape[1] < window_size:
            pad_width = (0, window_size - window.shape[1])
            if pad_sequence:
                pad_width = (0, 0, *pad_width)
            window = F.pad(window, pad_width)
        windows.append(window)
    attn_outputs = []
    for window in windows:
        part = d // 3 if split_thirds else d
        q, k, v = window.split([part, part, part], dim=-1)
        attn_weights = torch.bmm(q, k.transpose(-2, -1)) / (d**0.5)
        attn_weights = F.softmax(attn_weights, dim=-1)
        output = torch.bmm(attn_weights, v)
        attn_outputs.append(output)
    return torch.cat(attn_outputs, dim=1)[:, :n, :]


@dataclass(frozen=True)
class SeedSWAReport:
    """How seed 000 §2.1's ``sliding_window_attention`` fails (claim ``000-swa-pseudocode``).

    literal_error: the exception of the code as written (None if it ran).
    split_fixed_error: the exception once ``split`` takes thirds of the width.
    rows_before_truncation: rows the patched code concatenates before cutting to ``n``.
    misaligned_row_fraction: share of the ``n`` returned rows that come from another position.
    padded_key_weight: largest attention weight a real query puts on zero padding keys.
    max_abs_err_vs_band: patched output vs symmetric SWA with half-width W/2 (|i-j| <= W/2).
    max_abs_err_vs_overlap: patched output vs :func:`overlapping_window_attention` (symmetric).
    """

    n: int
    window_size: int
    literal_error: str | None
    split_fixed_error: str | None
    rows_before_truncation: int
    misaligned_row_fraction: float
    padded_key_weight: float
    max_abs_err_vs_band: float
    max_abs_err_vs_overlap: float

    @property
    def runs_as_written(self) -> bool:
        return self.literal_error is None


def _error_of(fn) -> str | None:
    try:
        fn()
    except Exception as exc:  # the point is to report whatever the seed's code raises
        return f"{type(exc).__name__}: {exc}"
    return None


def run_seed_swa_pseudocode(
    n: int = 1300, d: int = 16, window_size: int = 512, *, batch: int = 1, seed: int = 0
) -> SeedSWAReport:
    """Run the seed's code as written, then with the minimum patches, and measure the damage."""
    check_positive("window_size", window_size)
    gen = torch.Generator().manual_seed(seed)
    x3 = torch.randn(batch, n, 3 * d, generator=gen)
    literal_error = _error_of(lambda: _seed_sliding_window_attention(x3, window_size))
    split_error = _error_of(
        lambda: _seed_sliding_window_attention(x3, window_size, split_thirds=True)
    )
    patched = _seed_sliding_window_attention(x3, window_size, split_thirds=True, pad_sequence=True)
    stride = window_size // 2
    n_windows = len(range(0, n, stride))
    r = torch.arange(n)
    source_pos = (r // window_size) * stride + r % window_size
    q, k, v = (t[:, None] for t in x3.split([d, d, d], dim=-1))  # (B, 1, n, d)
    band = sliding_window_attention(q, k, v, stride + 1, causal=False)[:, 0]
    overlap = overlapping_window_attention(q, k, v, window_size, causal=False)[:, 0]
    return SeedSWAReport(
        n=n,
        window_size=window_size,
        literal_error=literal_error,
        split_fixed_error=split_error,
        rows_before_truncation=n_windows * window_size,
        misaligned_row_fraction=float((source_pos != r).float().mean()),
        padded_key_weight=_seed_padded_key_weight(x3, d, window_size),
        max_abs_err_vs_band=float((patched - band).abs().max()),
        max_abs_err_vs_overlap=float((patched - overlap).abs().max()),
    )


def _seed_padded_key_weight(x3: torch.Tensor, d: int, window_size: int) -> float:
    """Weight the seed's softmax gives zero-padded keys in the last (short) window."""
    n = x3.shape[1]
    start = list(range(0, n, window_size // 2))[-1]
    real = n - start
    window = F.pad(x3[:, start:], (0, 0, 0, window_size - real))
    q, k, _ = window.split([d, d, d], dim=-1)
    weights = F.softmax(torch.bmm(q, k.transpose(-2, -1)) / (3 * d) ** 0.5, dim=-1)  # as the seed
    return float(weights[:, :real, real:].sum(-1).max())


def band_reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, *, causal: bool = True
) -> torch.Tensor:
    """Masked-dense reference for :func:`sliding_window_attention` (O(T^2))."""
    return naive_attention(
        q, k, v, window_mask(q.shape[2], window, causal=causal, device=q.device), causal=causal
    )
