"""Time of a transformer layer on one GPU: FLOPs, bytes and an achieved-efficiency model.

A layer is broken into the kernels Megatron-LM launches (Narayanan et al. 2021 §3;
Korthikanti et al. 2022 Fig. 4-5): six matmuls (QKV, scores, context, output projection,
two MLP matmuls) and the memory-bound kernels between them (LayerNorm, fused
bias-dropout-add, fused scale-mask-softmax, attention dropout, fused bias-GeLU).
Each kernel takes the roofline time

    t = max(FLOPs / (peak · e_mm(m, n)),  bytes / (HBM bandwidth · e_mem))

where e_mm is an achieved matmul efficiency (as Calculon models it, Isaev et al. SC'23): a
ceiling ``matmul_efficiency`` for large GEMMs, times the wave-quantisation utilisation of
output tiles over the GPU's SMs (tiles of 128 × 256, one per SM per wave, as cuBLAS picks for
large bf16 GEMMs on A100/H100). ``e_mem`` is the achievable fraction of HBM bandwidth of
streaming kernels. Both are properties of the GPU and library, not of a workload; the
defaults are the only constants of the model and are not fitted per case.

Backward costs two matmuls (data and weight gradient) per forward matmul and about twice
the memory traffic of each memory-bound kernel. Bytes are for 2-byte activations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulators.hardware import GPUSpec
from simulators.model import Recompute, TransformerSpec

ACT_BYTES = 2  # bf16 / fp16 activations


@dataclass(frozen=True)
class EfficiencyModel:
    """Achieved fractions of the GPU's peaks.

    matmul_efficiency: large-GEMM throughput / dense peak inside a training step. One value
        for the whole stack (0.75 ≈ 234 of 312 TFLOP/s on A100; isolated cuBLAS bf16 GEMMs
        reach ~ 0.8-0.85, a training step loses some to clocks under power capping and to
        launch gaps). It was set once against the aggregate of Megatron-LM 2021 Table 1 and
        Korthikanti 2022 Table 5, never per row; those two papers differ by ~ 8 % on the same
        1T pipeline configuration (163 vs 177 TFLOP/s-equivalent: newer software), which
        bounds how well any single value can fit both.
    memory_efficiency: streaming-kernel bandwidth / HBM peak (STREAM-like ~ 0.8-0.9).
    tile_m, tile_n: output tile of one thread block, for wave quantisation.
    """

    matmul_efficiency: float = 0.75
    memory_efficiency: float = 0.80
    tile_m: int = 128
    tile_n: int = 256

    def __post_init__(self) -> None:
        for f in ("matmul_efficiency", "memory_efficiency"):
            if not 0 < getattr(self, f) <= 1:
                raise ValueError(f"{f}({getattr(self, f)}) must be in (0, 1]")
        if self.tile_m < 1 or self.tile_n < 1:
            raise ValueError(f"tile_m({self.tile_m}) and tile_n({self.tile_n}) must be >= 1")


def wave_utilisation(m: int, n: int, batch: int, sm_count: int, tile_m: int, tile_n: int) -> float:
    """Fraction of SM-waves doing useful work: tiles / (⌈tiles / SMs⌉ · SMs)."""
    tiles = math.ceil(m / tile_m) * math.ceil(n / tile_n) * batch
    waves = math.ceil(tiles / sm_count)
    return tiles / (waves * sm_count)


def matmul_s(
    m: int, n: int, k: int, gpu: GPUSpec, eff: EfficiencyModel, batch: int = 1, dtype: str = "bf16"
) -> float:
    """Roofline time of ``batch`` GEMMs (m × k) · (k × n) in 2-byte precision."""
    flops = 2.0 * m * n * k * batch
    util = wave_utilisation(m, n, batch, gpu.sm_count, eff.tile_m, eff.tile_n)
    compute = flops / (gpu.peak_flops(dtype) * eff.matmul_efficiency * util)
    traffic = ACT_BYTES * batch * (m * k + k * n + m * n)
    return max(compute, traffic / (gpu.hbm_bandwidth_bytes_per_s * eff.memory_efficiency))


def memory_bound_s(nbytes: float, gpu: GPUSpec, eff: EfficiencyModel) -> float:
    """Time of a streaming kernel moving ``nbytes``."""
    return nbytes / (gpu.hbm_bandwidth_bytes_per_s * eff.memory_efficiency)


@dataclass(frozen=True)
class LayerTimes:
    """Seconds for one layer and one micro-batch on one GPU (compute only, no comm).

    forward_s: forward pass; backward_s: backward pass; recompute_s: the extra forward
    work done before backward (0, the attention core, or the whole forward).
    """

    forward_s: float
    backward_s: float
    recompute_s: float

    @property
    def total_s(self) -> float:
        return self.forward_s + self.backward_s + self.recompute_s


def _attention_core(
    m: TransformerSpec, b: int, tp: int, gpu: GPUSpec, eff: EfficiencyModel
) -> tuple[float, float]:
    """(matmul, memory) seconds of scores, softmax, dropout and context for a micro-batch."""
    s, d = m.seq, m.head_dim
    heads = max(1, m.heads // tp)
    mm = 2 * matmul_s(s, s, d, gpu, eff, batch=b * heads)
    scores = b * heads * s * s
    # fused scale-mask-softmax reads and writes the scores (4 B), dropout reads them and
    # writes the result and a 1-byte mask (5 B)
    return mm, memory_bound_s(9.0 * scores, gpu, eff)


def layer_times(
    m: TransformerSpec,
    micro_batch: int,
    tp: int,
    gpu: GPUSpec,
    eff: EfficiencyModel,
    sequence_parallel: bool = False,
    recompute: Recompute = Recompute.NONE,
) -> LayerTimes:
    """Compute time of one transformer layer for one micro-batch on one tensor-parallel rank.

    Matmul shapes per rank (T = b·s tokens, q = kv·d): QKV T × h → (h + 2q)/t; output
    projection T × h/t → h; MLP T × h → f/t (×2 when gated) and T × f/t → h; experts
    multiply the MLP work by top_k.
    """
    b, h, t = micro_batch, m.hidden, tp
    tokens = b * m.seq
    kv_dim = m.n_kv_heads * m.head_dim
    f = m.ffn_hidden
    mlp_in = (2 if m.gated_mlp else 1) * f
    proj = matmul_s(tokens, (h + 2 * kv_dim) // t, h, gpu, eff) + matmul_s(
        tokens, h, h // t, gpu, eff
    )
    mlp = matmul_s(tokens, mlp_in // t, h, gpu, eff) + matmul_s(tokens, h, f // t, gpu, eff)
    mlp *= m.top_k
    attn_mm, attn_mem = _attention_core(m, b, t, gpu, eff)
    sbh = tokens * h
    # two LayerNorms (read+write, 4 B/elem) and two fused bias-dropout-adds (read 2 inputs,
    # write output + 1-byte mask, 7 B/elem): replicated on every TP rank unless sequence
    # parallelism splits them.
    replicated = 22.0 * sbh / (t if sequence_parallel else 1)
    gelu = 4.0 * tokens * (f // t) * m.top_k * (1.5 if m.gated_mlp else 1.0)
    other_mem = memory_bound_s(replicated + gelu, gpu, eff)
    fwd = proj + mlp + attn_mm + attn_mem + other_mem
    bwd = 2.0 * fwd
    recompute = Recompute(recompute)
    if recompute is Recompute.FULL:
        rec = fwd
    elif recompute is Recompute.SELECTIVE:
        rec = attn_mm + attn_mem
    else:
        rec = 0.0
    return LayerTimes(fwd, bwd, rec)


def head_times(
    m: TransformerSpec, micro_batch: int, tp: int, gpu: GPUSpec, eff: EfficiencyModel
) -> LayerTimes:
    """Output layer (logits T × h → V/t) and vocab-parallel cross entropy for a micro-batch.

    Cross entropy works in fp32 over the T × V/t logits: cast, max-subtract, exp, sum and
    normalise (~16 B/elem forward) and the gradient written back in 16 bits (~8 B/elem).
    """
    tokens = micro_batch * m.seq
    vocab = -(-m.vocab // tp)
    logits = matmul_s(tokens, vocab, m.hidden, gpu, eff)
    ce_fwd = memory_bound_s(16.0 * tokens * vocab, gpu, eff)
    ce_bwd = memory_bound_s(8.0 * tokens * vocab, gpu, eff)
    return LayerTimes(logits + ce_fwd, 2.0 * logits + ce_bwd, 0.0)


def optimizer_step_s(
    params: float, gpu: GPUSpec, eff: EfficiencyModel, bytes_per_param: float = 34.0
) -> float:
    """Fused mixed-precision Adam: memory-bound; reads fp32 master, m, v and grad and the
    16-bit weight, writes them back (~34 B/param)."""
    return memory_bound_s(bytes_per_param * params, gpu, eff)
