"""Attention variants from the seeds, each checked against a masked-dense reference.

Shape legend (all modules): ``B`` batch, ``H`` heads, ``T`` tokens, ``D`` head dim, ``W``
window, ``G`` global tokens, ``K`` top-k, ``S`` block length. Tensors are (B, H, T, D);
everything is causal unless a ``causal=False`` argument says otherwise.

Importing this package does not register workloads; :mod:`workloads.attention.registry` does
(it is listed in ``workloads.base.WORKLOAD_MODULES``).
"""

from .dense import (
    attention_flops,
    attention_pairs,
    causal_mask,
    naive_attention,
    naive_attention_weights,
    sdpa_attention,
    window_mask,
)
from .fused import Backend, available_backends, forward_backward, sdpa_with_backend
from .kv_cache import (
    ContiguousKVCache,
    PagedKVCache,
    decode_attention,
    decode_step,
    kv_footprint,
    request_lengths,
)
from .local_global import (
    SeedSumReport,
    local_global_attention,
    local_global_mask,
    local_global_reference,
    run_seed_summed_local_global,
    seed_summed_local_global,
)
from .measure import (
    FlopRateRatio,
    SweepRecord,
    SweepShape,
    fit_loglog_slope,
    make_sweep_case,
    measure_peak_bytes,
    scaling_exponents,
    swa_matmul_flop_rate,
    sweep,
    sweep_flops,
)
from .measure_stack import STACK_SCHEDULES, StackShape, dense_layer_fraction, make_stack_case
from .memory import Eviction, KNNMemory, MemoryAugmentedAttention, memory_attention_reference
from .peak_memory import PeakMemoryProbe
from .progressive import (
    AttentionKind,
    AttentionSpec,
    AttentionStack,
    SelfAttention,
    attend,
    progressive_schedule,
    reference_attend,
    uniform_schedule,
)
from .pruning import PruneReport, prune_report, prune_sweep, prune_weights, pruned_attention
from .sliding_window import (
    SeedSWAReport,
    band_reference,
    overlapping_window_attention,
    overlapping_window_mask,
    run_seed_swa_pseudocode,
    sliding_window_attention,
    window_pairs,
)
from .topk import (
    block_selection_mask,
    block_topk_attention,
    block_topk_reference,
    select_key_blocks,
    topk_attention,
    topk_reference,
)

__all__ = [
    "AttentionKind",
    "AttentionSpec",
    "AttentionStack",
    "Backend",
    "ContiguousKVCache",
    "Eviction",
    "FlopRateRatio",
    "KNNMemory",
    "MemoryAugmentedAttention",
    "PagedKVCache",
    "PruneReport",
    "PeakMemoryProbe",
    "STACK_SCHEDULES",
    "SeedSWAReport",
    "StackShape",
    "SeedSumReport",
    "SelfAttention",
    "SweepRecord",
    "SweepShape",
    "attend",
    "attention_flops",
    "attention_pairs",
    "available_backends",
    "band_reference",
    "block_selection_mask",
    "block_topk_attention",
    "block_topk_reference",
    "causal_mask",
    "decode_attention",
    "dense_layer_fraction",
    "decode_step",
    "fit_loglog_slope",
    "forward_backward",
    "kv_footprint",
    "local_global_attention",
    "local_global_mask",
    "local_global_reference",
    "make_stack_case",
    "make_sweep_case",
    "measure_peak_bytes",
    "memory_attention_reference",
    "naive_attention",
    "naive_attention_weights",
    "overlapping_window_attention",
    "overlapping_window_mask",
    "progressive_schedule",
    "prune_report",
    "prune_sweep",
    "prune_weights",
    "pruned_attention",
    "reference_attend",
    "request_lengths",
    "run_seed_summed_local_global",
    "run_seed_swa_pseudocode",
    "scaling_exponents",
    "sdpa_attention",
    "sdpa_with_backend",
    "seed_summed_local_global",
    "select_key_blocks",
    "sliding_window_attention",
    "swa_matmul_flop_rate",
    "sweep",
    "sweep_flops",
    "topk_attention",
    "topk_reference",
    "uniform_schedule",
    "window_mask",
    "window_pairs",
]
