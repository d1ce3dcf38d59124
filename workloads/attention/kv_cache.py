"""KV caches for decoding: contiguous pre-allocation vs paged blocks with a block table.

Shape legend: ``B`` sequences in the decode batch, ``H`` heads, ``D`` head dim, ``L`` tokens
cached for a sequence, ``S`` tokens per block, ``P`` blocks in the pool.

- :class:`ContiguousKVCache` reserves ``max_len`` tokens for every slot up front, however
  short the request turns out to be (the pre-vLLM serving layout).
- :class:`PagedKVCache` (Kwon et al. 2023, *vLLM / PagedAttention*): a pool of fixed-size
  blocks; each sequence has a block table and takes a new block only when its last one is full,
  so at most ``S - 1`` tokens per sequence are wasted. Seed 003 §3.1 uses ``S = 512`` and claims
  "40% less peak memory" at 16K; seed 004 §3.2 "less fragmentation". Both savings exist only
  against over-reservation: a single full-length sequence saves nothing.

Both caches hold one layer (bytes per token = 2·H·D·element size; multiply by layers).
:func:`decode_attention` is the decode step: one new query per sequence against its cache. It
gathers the cache into a padded batch and calls SDPA with a length mask; vLLM's kernel reads the
blocks in place, which this CPU-friendly version does not attempt.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
import torch.nn.functional as F

from ._checks import check_positive


class KVCache(Protocol):
    def append(self, seq: int, k_HTD: torch.Tensor, v_HTD: torch.Tensor) -> None: ...
    def gather(self, seqs: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]: ...
    def reserved_bytes(self) -> int: ...
    def used_bytes(self) -> int: ...


def _check_new(
    k_HTD: torch.Tensor,
    v_HTD: torch.Tensor,
    heads: int,
    head_dim: int,
    dtype: torch.dtype,
    device: torch.device,
) -> int:
    if (
        k_HTD.shape != v_HTD.shape
        or k_HTD.dim() != 3
        or k_HTD.shape[0] != heads
        or k_HTD.shape[2] != head_dim
    ):
        raise ValueError(
            f"k and v must be (H={heads}, T, D={head_dim}), got {tuple(k_HTD.shape)} and {tuple(v_HTD.shape)}"
        )
    if (
        k_HTD.dtype != dtype
        or v_HTD.dtype != dtype
        or k_HTD.device != device
        or v_HTD.device != device
    ):
        raise ValueError(
            f"cache is {dtype} on {device}; got k {k_HTD.dtype} on {k_HTD.device}, v {v_HTD.dtype} on {v_HTD.device}"
        )
    return k_HTD.shape[1]


class ContiguousKVCache:
    """``n_slots`` sequences, each with ``max_len`` tokens reserved: k, v (slots, H, max_len, D)."""

    def __init__(
        self,
        n_slots: int,
        max_len: int,
        n_heads: int,
        head_dim: int,
        *,
        dtype=torch.float32,
        device="cpu",
    ) -> None:
        for name, val in (
            ("n_slots", n_slots),
            ("max_len", max_len),
            ("n_heads", n_heads),
            ("head_dim", head_dim),
        ):
            check_positive(name, val)
        self.max_len, self.dtype, self.device = max_len, dtype, torch.device(device)
        self.k = torch.zeros(n_slots, n_heads, max_len, head_dim, dtype=dtype, device=device)
        self.v = torch.zeros_like(self.k)
        self.lengths = [0] * n_slots

    def append(self, seq: int, k_HTD: torch.Tensor, v_HTD: torch.Tensor) -> None:
        n_new = _check_new(k_HTD, v_HTD, self.k.shape[1], self.k.shape[3], self.dtype, self.device)
        start = self.lengths[seq]
        if start + n_new > self.max_len:
            raise ValueError(f"slot {seq}: {start} + {n_new} tokens exceed max_len={self.max_len}")
        self.k[seq, :, start : start + n_new] = k_HTD
        self.v[seq, :, start : start + n_new] = v_HTD
        self.lengths[seq] = start + n_new

    def gather(self, seqs: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Padded (B, H, Lmax, D) keys and values and (B,) lengths of ``seqs``."""
        lengths = torch.tensor([self.lengths[s] for s in seqs], device=self.device)
        l_max = int(lengths.max())
        ids = torch.tensor(seqs, device=self.device)
        return self.k[ids, :, :l_max], self.v[ids, :, :l_max], lengths

    def reserved_bytes(self) -> int:
        return 2 * self.k.numel() * self.k.element_size()

    def used_bytes(self) -> int:
        return 2 * sum(self.lengths) * self.k.shape[1] * self.k.shape[3] * self.k.element_size()


class PagedKVCache:
    """A pool of ``n_blocks`` blocks of ``block_size`` tokens; k, v pools (P, H, S, D).

    ``reserved_bytes`` counts the blocks handed to sequences (what a right-sized pool must
    hold); ``pool_bytes`` is the whole pre-allocated pool.
    """

    def __init__(
        self,
        n_blocks: int,
        n_heads: int,
        head_dim: int,
        *,
        block_size: int = 512,
        dtype=torch.float32,
        device="cpu",
    ) -> None:
        for name, val in (
            ("n_blocks", n_blocks),
            ("block_size", block_size),
            ("n_heads", n_heads),
            ("head_dim", head_dim),
        ):
            check_positive(name, val)
        self.block_size, self.dtype, self.device = block_size, dtype, torch.device(device)
        self.k_pool = torch.zeros(
            n_blocks, n_heads, block_size, head_dim, dtype=dtype, device=device
        )
        self.v_pool = torch.zeros_like(self.k_pool)
        self.free_blocks = list(range(n_blocks - 1, -1, -1))
        self.block_tables: dict[int, list[int]] = {}
        self.lengths: dict[int, int] = {}

    def append(self, seq: int, k_HTD: torch.Tensor, v_HTD: torch.Tensor) -> None:
        n_new = _check_new(
            k_HTD, v_HTD, self.k_pool.shape[1], self.k_pool.shape[3], self.dtype, self.device
        )
        table = self.block_tables.setdefault(seq, [])
        start = self.lengths.get(seq, 0)
        need = math.ceil((start + n_new) / self.block_size) - len(table)
        if need > len(self.free_blocks):
            raise ValueError(
                f"sequence {seq} needs {need} more blocks, only {len(self.free_blocks)} free of {self.k_pool.shape[0]}"
            )
        table.extend(self.free_blocks.pop() for _ in range(need))
        written = 0
        while written < n_new:  # copy block by block through the table
            pos = start + written
            blk, off = table[pos // self.block_size], pos % self.block_size
            n = min(self.block_size - off, n_new - written)
            self.k_pool[blk, :, off : off + n] = k_HTD[:, written : written + n]
            self.v_pool[blk, :, off : off + n] = v_HTD[:, written : written + n]
            written += n
        self.lengths[seq] = start + n_new

    def release(self, seq: int) -> None:
        """Return a finished sequence's blocks to the pool."""
        self.free_blocks.extend(reversed(self.block_tables.pop(seq)))
        del self.lengths[seq]

    def block_table(self, seqs: list[int]) -> torch.Tensor:
        """(B, max blocks) block ids, padded with block 0 (masked by length downstream)."""
        width = max(len(self.block_tables[s]) for s in seqs)
        rows = [self.block_tables[s] + [0] * (width - len(self.block_tables[s])) for s in seqs]
        return torch.tensor(rows, device=self.device)

    def gather(self, seqs: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Padded (B, H, n·S, D) keys and values through the block table, and (B,) lengths."""
        table_Bn = self.block_table(seqs)
        lengths = torch.tensor([self.lengths[s] for s in seqs], device=self.device)

        def pages(pool: torch.Tensor) -> torch.Tensor:
            return (
                pool[table_Bn].permute(0, 2, 1, 3, 4).flatten(2, 3)
            )  # (B, n, H, S, D) -> (B, H, n·S, D)

        return pages(self.k_pool), pages(self.v_pool), lengths

    def reserved_bytes(self) -> int:
        blocks = sum(len(t) for t in self.block_tables.values())
        return 2 * blocks * self.k_pool[0].numel() * self.k_pool.element_size()

    def pool_bytes(self) -> int:
        return 2 * self.k_pool.numel() * self.k_pool.element_size()

    def used_bytes(self) -> int:
        return (
            2
            * sum(self.lengths.values())
            * self.k_pool.shape[1]
            * self.k_pool.shape[3]
            * self.k_pool.element_size()
        )


def decode_attention(q_BHD: torch.Tensor, cache: KVCache, seqs: list[int]) -> torch.Tensor:
    """One decode query per sequence against its whole cache: (B, H, D) -> (B, H, D)."""
    k, v, lengths_B = cache.gather(seqs)
    if (
        q_BHD.dim() != 3
        or q_BHD.shape[0] != len(seqs)
        or q_BHD.shape[1:] != (k.shape[1], k.shape[3])
    ):
        raise ValueError(
            f"q must be (B={len(seqs)}, H={k.shape[1]}, D={k.shape[3]}), got {tuple(q_BHD.shape)}"
        )
    visible_B11L = (torch.arange(k.shape[2], device=k.device) < lengths_B[:, None])[
        :, None, None, :
    ]
    return F.scaled_dot_product_attention(q_BHD[:, :, None], k, v, attn_mask=visible_B11L)[:, :, 0]


def decode_step(
    q_BHD: torch.Tensor, k_BHD: torch.Tensor, v_BHD: torch.Tensor, cache: KVCache, seqs: list[int]
) -> torch.Tensor:
    """Append each sequence's new token, then attend with it: (B, H, D) -> (B, H, D)."""
    for i, s in enumerate(seqs):
        cache.append(s, k_BHD[i, :, None], v_BHD[i, :, None])
    return decode_attention(q_BHD, cache, seqs)


def kv_footprint(
    lengths: list[int], max_len: int, block_size: int, bytes_per_token: int
) -> dict[str, int]:
    """Analytic KV bytes for a batch of ``lengths``: used, contiguous-reserved, paged-reserved.

    bytes_per_token = 2 (k and v) · layers · kv_heads · head_dim · element size.
    """
    if any(n > max_len for n in lengths):
        raise ValueError(f"a length exceeds max_len={max_len}: max length {max(lengths)}")
    return {
        "used_bytes": sum(lengths) * bytes_per_token,
        "contiguous_reserved_bytes": len(lengths) * max_len * bytes_per_token,
        "paged_reserved_bytes": sum(math.ceil(n / block_size) * block_size for n in lengths)
        * bytes_per_token,
    }


def request_lengths(n_requests: int, max_len: int, *, seed: int = 0) -> list[int]:
    """A mixed request trace: lengths uniform in [1, max_len] (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(1, max_len + 1, (n_requests,), generator=gen).tolist()
