"""Memory-augmented attention: local attention plus kNN retrieval from a bank of past segments.

Shape legend: ``B`` batch, ``H`` heads, ``T`` tokens of the current segment, ``D`` head dim,
``W`` window, ``M`` entries in the bank, ``m`` entries retrieved per query.

Wu et al. 2022, *Memorizing Transformers*: keys and values of past segments go into an
external memory; each query retrieves its top-``m`` keys by inner product, attends to them with
its own softmax, and a learned per-head gate ``g = sigmoid(b_h)`` mixes the result with local
attention: ``out = g · mem + (1 - g) · local`` (their eq. for the kNN-augmented layer). Retrieval
here is exact (a matmul against the whole bank), where the paper uses approximate kNN; the bank
is bounded, and evicts the oldest entries (FIFO, as in the paper) or the least recently
retrieved (LRU). Seed 000 §2.3 describes the idea only in words ("effective context 32K").
"""

from __future__ import annotations

from enum import Enum

import torch
from torch import nn

from ._checks import check_positive, check_self_attention, check_topk
from .dense import naive_attention, window_mask
from .sliding_window import sliding_window_attention, softmax_lowp


class Eviction(Enum):
    FIFO = "fifo"  # drop the oldest entries
    LRU = "lru"  # drop the entries retrieved least recently (an insert counts as a use)


class KNNMemory:
    """A bounded bank of (key, value) pairs, one bank per batch element and head.

    keys / values: (B, H, M, D), M <= capacity; held detached (no gradient into the past).
    """

    def __init__(self, capacity: int, eviction: Eviction = Eviction.FIFO) -> None:
        self.capacity = check_positive("capacity", capacity)
        if not isinstance(eviction, Eviction):
            raise ValueError(f"eviction must be an Eviction, got {eviction!r}")
        self.eviction = eviction
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None
        self._inserted: torch.Tensor | None = None  # (B, H, M) insertion clock of each entry
        self._used: torch.Tensor | None = None  # (B, H, M) clock of the last insert or hit
        self._clock = 0

    def __len__(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]

    def nbytes(self) -> int:
        """Bytes held by keys and values."""
        return 0 if self.keys is None else 2 * self.keys.numel() * self.keys.element_size()

    def add(self, k: torch.Tensor, v: torch.Tensor) -> None:
        """Append (B, H, T, D) keys and values, then evict down to ``capacity``."""
        if k.shape != v.shape or k.dim() != 4:
            raise ValueError(
                f"k and v must be equal (B, H, T, D) shapes, got {tuple(k.shape)}, {tuple(v.shape)}"
            )
        if self.keys is not None and (
            k.shape[:2] != self.keys.shape[:2] or k.shape[3] != self.keys.shape[3]
        ):
            raise ValueError(
                f"new keys {tuple(k.shape)} do not match the bank's (B, H, M, D) = {tuple(self.keys.shape)}"
            )
        b, h, t, _ = k.shape
        stamps = torch.arange(self._clock, self._clock + t, device=k.device).expand(b, h, t)
        self._clock += t
        if self.keys is None:
            self.keys, self.values = k.detach(), v.detach()
            self._inserted, self._used = stamps.clone(), stamps.clone()
        else:
            self.keys = torch.cat([self.keys, k.detach()], dim=2)
            self.values = torch.cat([self.values, v.detach()], dim=2)
            self._inserted = torch.cat([self._inserted, stamps], dim=2)
            self._used = torch.cat([self._used, stamps], dim=2)
        if len(self) > self.capacity:
            self._evict()

    def _evict(self) -> None:
        stamp = (
            self._inserted
            if self.eviction is Eviction.FIFO
            else self._used * (1 << 32) + self._inserted
        )
        keep_BHM = stamp.topk(self.capacity, dim=-1).indices
        keep_BHM = keep_BHM.gather(
            -1, self._inserted.gather(-1, keep_BHM).argsort(dim=-1)
        )  # oldest first
        d = self.keys.shape[-1]
        idx = keep_BHM[..., None].expand(-1, -1, -1, d)
        self.keys, self.values = self.keys.gather(2, idx), self.values.gather(2, idx)
        self._inserted, self._used = (
            self._inserted.gather(-1, keep_BHM),
            self._used.gather(-1, keep_BHM),
        )

    def search(self, q: torch.Tensor, top_m: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact inner-product kNN: (B, H, T, D) queries -> keys, values (B, H, T, m, D)."""
        if self.keys is None:
            raise ValueError("search on an empty memory bank")
        check_topk(top_m, len(self), "top_m")
        if q.shape[:2] != self.keys.shape[:2] or q.shape[3] != self.keys.shape[3]:
            raise ValueError(
                f"queries {tuple(q.shape)} do not match the bank's (B, H, M, D) = {tuple(self.keys.shape)}"
            )
        with torch.no_grad():
            ids_BHTm = (q @ self.keys.transpose(-1, -2)).topk(top_m, dim=-1).indices
        b, h, t, _ = q.shape
        self._used = self._used.scatter(-1, ids_BHTm.flatten(2), self._clock)
        self._clock += 1
        flat = ids_BHTm.reshape(b, h, t * top_m, 1).expand(-1, -1, -1, q.shape[-1])
        return self.keys.gather(2, flat).view(b, h, t, top_m, -1), self.values.gather(2, flat).view(
            b, h, t, top_m, -1
        )


class MemoryAugmentedAttention(nn.Module):
    """Causal sliding-window attention over the segment, gated with kNN memory attention.

    forward((B, H, T, D) q, k, v, memory) -> (B, H, T, D); with ``update`` the segment's keys
    and values are added to the bank *after* retrieval, so a segment never retrieves itself.
    """

    def __init__(self, n_heads: int, window: int, top_m: int, gate_init: float = 0.0) -> None:
        super().__init__()
        self.window = check_positive("window", window)
        self.top_m = check_positive("top_m", top_m)
        self.gate_logit_H = nn.Parameter(
            torch.full((check_positive("n_heads", n_heads),), float(gate_init))
        )

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        memory: KNNMemory | None = None,
        *,
        update: bool = True,
    ) -> torch.Tensor:
        _, h, _, _ = check_self_attention(q, k, v)
        if h != self.gate_logit_H.shape[0]:
            raise ValueError(f"q has H={h} heads but the gate has {self.gate_logit_H.shape[0]}")
        local = sliding_window_attention(q, k, v, self.window)
        if memory is None or len(memory) == 0:
            out = local
        else:
            k_mem, v_mem = memory.search(q, min(self.top_m, len(memory)))
            scores_BHTm = torch.einsum("bhtd,bhtmd->bhtm", q, k_mem) * q.shape[-1] ** -0.5
            mem = torch.einsum("bhtm,bhtmd->bhtd", softmax_lowp(scores_BHTm), v_mem)
            g = torch.sigmoid(self.gate_logit_H).to(q.dtype)[None, :, None, None]
            out = g * mem + (1 - g) * local
        if memory is not None and update:
            memory.add(k, v)
        return out


def memory_attention_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bank_k: torch.Tensor,
    bank_v: torch.Tensor,
    window: int,
    top_m: int,
    gate_logit_H: torch.Tensor,
) -> torch.Tensor:
    """Masked-dense reference: window-masked local attention, and attention over the whole bank
    masked to each query's ``m`` best keys (found by sorting), mixed by the sigmoid gate."""
    local = naive_attention(q, k, v, window_mask(q.shape[2], window, device=q.device))
    scores = q @ bank_k.transpose(-1, -2)
    kth = scores.sort(dim=-1, descending=True).values[..., top_m - 1 : top_m]
    mem = naive_attention(q, bank_k, bank_v, scores >= kth, causal=False)
    g = torch.sigmoid(gate_logit_H)[None, :, None, None]
    return g * mem + (1 - g) * local
