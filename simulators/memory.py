"""Memory per GPU by component: weights, gradients, optimiser states, activations.

Model states (Rajbhandari et al. 2020, "ZeRO", §3.1): mixed-precision Adam keeps per
parameter 2 B fp16/bf16 weights + 2 B fp16/bf16 gradients + 12 B fp32 optimiser state
(4 B master weights, 4 B momentum, 4 B variance) = 16 B. Megatron-LM accumulates gradients
in an fp32 ``main_grad`` buffer (4 B), i.e. 18 B per parameter; ``grad_bytes`` selects this.
ZeRO stage 1 shards the optimiser state over data-parallel ranks, stage 2 also the
gradients, stage 3 also the weights.

Activations (Korthikanti et al. 2022, §4, Table 2), bytes per layer for one micro-batch with
16-bit activations:

    no parallelism               s·b·h·(34 + 5·a·s/h)
    tensor parallel t            s·b·h·(10 + 24/t + 5·a·s/(h·t))
    tensor + sequence parallel   s·b·h·(34 + 5·a·s/h) / t
    selective recomputation      drops the 5·a·s/h term (attention core recomputed)
    full recomputation           2·s·b·h (the layer input; / t with sequence parallel)

The first pipeline stage holds the most: with 1F1B it keeps p micro-batches in flight, i.e.
activations of l/p · p = l layers, times (1 + (p−1)/(p·v)) with v interleaved chunks (§4.2.3);
GPipe keeps all m micro-batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from simulators.model import (
    Recompute,
    TransformerSpec,
    embedding_params,
    layer_params,
    mlp_params,
)


class Schedule(StrEnum):
    """Pipeline schedules: GPipe (all forwards, then all backwards) and 1F1B (PipeDream-
    Flush, Narayanan et al. 2021 §2.2.1), optionally interleaved with v model chunks."""

    GPIPE = "gpipe"
    ONE_F_ONE_B = "1f1b"


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per GPU (the most loaded GPU: pipeline stage 0)."""

    weights_bytes: float
    grads_bytes: float
    optimizer_bytes: float
    activations_bytes: float

    @property
    def total_bytes(self) -> float:
        return self.weights_bytes + self.grads_bytes + self.optimizer_bytes + self.activations_bytes

    def as_dict(self) -> dict[str, float]:
        return {
            "weights_bytes": self.weights_bytes,
            "grads_bytes": self.grads_bytes,
            "optimizer_bytes": self.optimizer_bytes,
            "activations_bytes": self.activations_bytes,
            "total_bytes": self.total_bytes,
        }


def activation_bytes_per_layer(
    m: TransformerSpec,
    micro_batch: int,
    tp: int = 1,
    sequence_parallel: bool = False,
    recompute: Recompute = Recompute.NONE,
) -> float:
    """Korthikanti et al. 2022 eqs. for one layer and one micro-batch (see module doc).

    Uses a = heads; for GQA the 5·a·s/h attention-core term is unchanged (scores are per
    query head).
    """
    s, b, h, a, t = m.seq, micro_batch, m.hidden, m.heads, tp
    sbh = s * b * h
    recompute = Recompute(recompute)
    if recompute is Recompute.FULL:
        return 2.0 * sbh / (t if sequence_parallel else 1)
    attn_core = 0.0 if recompute is Recompute.SELECTIVE else 5.0 * a * s / h
    if sequence_parallel:
        return sbh * (34.0 + attn_core) / t
    return sbh * (10.0 + 24.0 / t + attn_core / t)


def in_flight_layers(
    m: TransformerSpec,
    pp: int,
    micro_batches: int,
    schedule: Schedule = Schedule.ONE_F_ONE_B,
    virtual_stages: int = 1,
) -> float:
    """Layer-micro-batches of activations stage 0 holds at its peak.

    1F1B: min(p, m) micro-batches × l/p layers; interleaving multiplies by
    1 + (p−1)/(p·v) (Korthikanti et al. 2022 §4.2.3). GPipe: m × l/p.
    """
    layers_per_stage = m.layers / pp
    if Schedule(schedule) is Schedule.GPIPE:
        return micro_batches * layers_per_stage
    factor = 1.0 + (pp - 1) / (pp * virtual_stages) if virtual_stages > 1 and pp > 1 else 1.0
    return min(pp, micro_batches) * layers_per_stage * factor


def activation_bytes(
    m: TransformerSpec,
    micro_batch: int,
    tp: int,
    pp: int,
    micro_batches: int,
    sequence_parallel: bool = False,
    recompute: Recompute = Recompute.NONE,
    schedule: Schedule = Schedule.ONE_F_ONE_B,
    virtual_stages: int = 1,
) -> float:
    """Peak activation bytes on the first pipeline stage.

    With full recomputation one layer's complete activations are live while its backward
    runs, so that working set is added once.
    """
    per_layer = activation_bytes_per_layer(m, micro_batch, tp, sequence_parallel, recompute)
    total = per_layer * in_flight_layers(m, pp, micro_batches, schedule, virtual_stages)
    if Recompute(recompute) is Recompute.FULL:
        total += activation_bytes_per_layer(m, micro_batch, tp, sequence_parallel, Recompute.NONE)
    return total


def params_per_gpu(
    m: TransformerSpec, tp: int, pp: int, ep: int = 1, include_embeddings: bool = True
) -> float:
    """Parameters held by a GPU of stage 0: l/p layers (MoE experts split over ``ep``)
    plus the token embedding, all split over t; position embeddings are not split."""
    expert_share = (m.experts - m.experts / ep) * mlp_params(m) if m.is_moe else 0.0
    per_layer = (layer_params(m) - expert_share) / tp
    total = per_layer * m.layers / pp
    if include_embeddings:
        pos = m.seq * m.hidden if m.learned_pos_emb else 0
        total += (embedding_params(m) - pos) / tp + pos
    return total


def model_state_bytes(
    params: float,
    dp: int,
    zero_stage: int = 0,
    weight_bytes: int = 2,
    grad_bytes: int = 2,
    optimizer_bytes: int = 12,
) -> tuple[float, float, float]:
    """(weights, grads, optimiser) bytes for ``params`` parameters under ZeRO ``zero_stage``.

    Defaults are ZeRO's 2 + 2 + 12 = 16 B/param (Rajbhandari et al. 2020 §3.1).
    """
    if zero_stage not in (0, 1, 2, 3):
        raise ValueError(f"zero_stage({zero_stage}) must be 0, 1, 2 or 3")
    if dp < 1:
        raise ValueError(f"dp({dp}) must be >= 1")
    w = params * weight_bytes / (dp if zero_stage >= 3 else 1)
    g = params * grad_bytes / (dp if zero_stage >= 2 else 1)
    o = params * optimizer_bytes / (dp if zero_stage >= 1 else 1)
    return w, g, o


def memory_per_gpu(
    m: TransformerSpec,
    *,
    micro_batch: int,
    micro_batches: int,
    tp: int,
    pp: int,
    dp: int,
    ep: int = 1,
    sequence_parallel: bool = False,
    recompute: Recompute = Recompute.NONE,
    schedule: Schedule = Schedule.ONE_F_ONE_B,
    virtual_stages: int = 1,
    zero_stage: int = 0,
    grad_bytes: int = 2,
    include_embeddings: bool = True,
) -> MemoryBreakdown:
    """Memory of the most loaded GPU (stage 0), by component."""
    params = params_per_gpu(m, tp, pp, ep, include_embeddings)
    w, g, o = model_state_bytes(params, dp, zero_stage, grad_bytes=grad_bytes)
    act = activation_bytes(
        m,
        micro_batch,
        tp,
        pp,
        micro_batches,
        sequence_parallel,
        recompute,
        schedule,
        virtual_stages,
    )
    return MemoryBreakdown(w, g, o, act)
