"""Registered attention workloads: one :class:`~workloads.base.Workload` per variant.

One module per family: :mod:`.dense_cases` (dense, fused SDPA backends), :mod:`.sparse_cases`
(window, overlapping windows, local + global, top-k), :mod:`.stack_cases` (progressive stack
and its baselines), :mod:`.state_cases` (kNN memory, KV caches, pruning). Importing this
package registers them all; ``ATTENTION_WORKLOADS`` maps name -> workload.

Shape legend: ``B`` batch, ``H`` heads, ``T`` tokens, ``D`` head dim, ``W`` window, ``G``
global tokens, ``K`` top-k, ``S`` block length, ``n`` blocks kept, ``M`` memory bank size,
``m`` memories retrieved.

Every case's ``fn`` runs under ``torch.no_grad`` unless its name ends in ``-fwd-bwd``; FLOPs are
the useful ``4·B·H·D·pairs`` (masked-out pairs not counted; backward counted as 2.5x forward,
the FlashAttention-2 convention); bytes are the unavoidable traffic (q, k, v read, output
written) plus, for materialised variants, the T×T scores and weights written and read once.
"""

from __future__ import annotations

from . import dense_cases, sparse_cases, stack_cases, state_cases
from ._common import ATTENTION_WORKLOADS

__all__ = ["ATTENTION_WORKLOADS", "dense_cases", "sparse_cases", "stack_cases", "state_cases"]
