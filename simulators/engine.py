"""Run a scenario: cost every op with the pure cost models, then simulate the pipeline.

All data-parallel replicas execute the same schedule and, contention-free, take the same
time, so one pipeline (pp stage processes) stands for the whole cluster; data-parallel
gradient reduction is costed over the real DP group (its size, the nodes it spans, the NIC
share of each member). This keeps a 1000-node scenario to a few thousand SimPy events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from simulators import collectives as co
from simulators.compute import (
    EfficiencyModel,
    LayerTimes,
    head_times,
    layer_times,
    optimizer_step_s,
)
from simulators.hardware import ClusterSpec, node
from simulators.memory import MemoryBreakdown, memory_per_gpu, params_per_gpu
from simulators.model import (
    Recompute,
    megatron_flops_per_iteration,
    model_flops_per_iteration,
)
from simulators.pipeline import PipelineCosts, PipelineResult, buckets_for, simulate_pipeline
from simulators.scenario import Scenario, to_dict
from simulators.trace import chrome_trace

GIB = 2**30


def cluster_of(scn: Scenario) -> ClusterSpec:
    s = scn.system
    return ClusterSpec(node(s.node), s.nodes, s.fabric, s.nodes_per_leaf, s.oversubscription)


def _tp_all_reduce_s(scn: Scenario, cluster: ClusterSpec, nbytes: float) -> float:
    t = scn.parallel.tp
    nd = cluster.node
    if t <= nd.gpus_per_node:
        return co.ring_all_reduce_s(
            nbytes, t, nd.intra_link.achievable_bytes_per_s, nd.intra_link.latency_s
        )
    nodes = t // nd.gpus_per_node
    return co.hierarchical_all_reduce_s(
        nbytes,
        nd.gpus_per_node,
        nodes,
        nd.intra_link.achievable_bytes_per_s,
        nd.intra_link.latency_s,
        cluster.inter_node_bytes_per_s_per_gpu(nodes),
        cluster.inter_node_latency_s(nodes),
    )


def _p2p_s(scn: Scenario, cluster: ClusterSpec) -> float:
    """Activation message between stages: b·s·h 16-bit values. When stages sit on different
    nodes each TP rank sends 1/t of it over its own NIC and the receivers all-gather over
    NVLink (Narayanan et al. 2021 §4.1, scatter/gather optimisation)."""
    p, m = scn.parallel, scn.model
    if p.pp == 1:
        return 0.0
    nbytes = 2.0 * p.micro_batch * m.seq * m.hidden
    lay = scn.layout()
    nd = cluster.node
    same_node = lay.node_of(lay.rank(0, 0, 0)) == lay.node_of(lay.rank(0, 1, 0))
    if same_node:
        return co.p2p_s(nbytes, nd.intra_link.achievable_bytes_per_s, nd.intra_link.latency_s)
    send = co.p2p_s(
        nbytes / p.tp, cluster.inter_node_bytes_per_s_per_gpu(2), cluster.inter_node_latency_s(2)
    )
    return send + co.all_gather_s(
        nbytes, p.tp, nd.intra_link.achievable_bytes_per_s, nd.intra_link.latency_s
    )


def _dp_s(scn: Scenario, cluster: ClusterSpec, grad_bytes: float, buckets: int) -> float:
    """Gradient reduction of one stage's shard over its DP group, bucket by bucket."""
    lay = scn.layout()
    dp = lay.dp
    if dp == 1:
        return 0.0
    group = lay.dp_groups()[0]
    nodes = lay.nodes_spanned(group)
    per_node = lay.ranks_per_node_in(group)
    nd = cluster.node
    intra_bw, intra_a = nd.intra_link.achievable_bytes_per_s, nd.intra_link.latency_s
    inter_bw = cluster.inter_node_bytes_per_s_per_gpu(nodes)
    inter_a = cluster.inter_node_latency_s(nodes)
    bucket = grad_bytes / buckets
    alg = scn.parallel.dp_algorithm
    bits = scn.parallel.grad_compression_bits
    if nodes == 1:
        bw, alpha = intra_bw, intra_a
    else:
        bw, alpha = min(intra_bw, per_node * inter_bw), inter_a
    if bits < 16:
        one = co.compressed_ring_all_reduce_s(
            bucket * 32 / (8 * scn.parallel.grad_bytes),
            dp,
            bw,
            alpha,
            bits,
            nd.gpu.hbm_bandwidth_bytes_per_s,
        )
    elif alg is co.Algorithm.AUTO:
        one = min(
            co.ring_all_reduce_s(bucket, dp, bw, alpha), co.tree_all_reduce_s(bucket, dp, bw, alpha)
        )
    elif alg is co.Algorithm.TREE:
        one = co.tree_all_reduce_s(bucket, dp, bw, alpha)
    elif alg is co.Algorithm.HALVING_DOUBLING:
        one = co.halving_doubling_all_reduce_s(bucket, dp, bw, alpha)
    elif alg is co.Algorithm.HIERARCHICAL and nodes > 1 and per_node > 1:
        one = co.hierarchical_all_reduce_s(
            bucket, per_node, nodes, intra_bw, intra_a, inter_bw, inter_a
        )
    else:
        one = co.ring_all_reduce_s(bucket, dp, bw, alpha)
    return one * buckets


def _chunk_times(scn: Scenario, lt: LayerTimes, head: LayerTimes, tp_msg_s: float):
    """Per virtual stage: compute and TP-comm seconds of forward and backward."""
    p = scn.parallel
    nvs = p.pp * p.virtual_stages
    per = scn.model.layers // nvs
    n_fwd_ar = 2 * per
    n_bwd_ar = 2 * per + (2 * per if p.recompute is Recompute.FULL else 0)
    fwd, bwd, ftp, btp = [], [], [], []
    for vs in range(nvs):
        f, b = per * lt.forward_s, per * (lt.backward_s + lt.recompute_s)
        fa, ba = n_fwd_ar, n_bwd_ar
        if vs == 0:
            fa += 1  # vocab-parallel embedding all-reduce
        if vs == nvs - 1:
            f, b, ba = f + head.forward_s, b + head.backward_s, ba + 1
        fwd.append(f)
        bwd.append(b)
        ftp.append(fa * tp_msg_s if p.tp > 1 else 0.0)
        btp.append(ba * tp_msg_s if p.tp > 1 else 0.0)
    return tuple(fwd), tuple(bwd), tuple(ftp), tuple(btp)


def build_costs(scn: Scenario) -> PipelineCosts:
    """Every duration the pipeline simulation needs, from the pure cost models."""
    p, m = scn.parallel, scn.model
    cluster = cluster_of(scn)
    gpu = cluster.node.gpu
    eff = EfficiencyModel(scn.system.matmul_efficiency, scn.system.memory_efficiency)
    lt = layer_times(m, p.micro_batch, p.tp, gpu, eff, p.sequence_parallel, p.recompute)
    head = head_times(m, p.micro_batch, p.tp, gpu, eff)
    tp_msg = _tp_all_reduce_s(scn, cluster, 2.0 * p.micro_batch * m.seq * m.hidden)
    fwd, bwd, ftp, btp = _chunk_times(scn, lt, head, tp_msg)
    lay = scn.layout()
    params = params_per_gpu(m, p.tp, p.pp, p.ep)
    grad_bytes = params * p.grad_bytes
    buckets = buckets_for(grad_bytes, p.dp_bucket_mb * 1e6)
    dp_s = _dp_s(scn, cluster, grad_bytes, buckets)
    opt_params = params / (lay.dp if p.zero_stage >= 1 else 1)
    opt = optimizer_step_s(opt_params, gpu, eff)
    return PipelineCosts(
        p.pp,
        p.virtual_stages,
        p.micro_batches,
        p.schedule,
        fwd,
        bwd,
        ftp,
        btp,
        _p2p_s(scn, cluster),
        (dp_s,) * p.pp,
        buckets,
        p.dp_overlap,
        (opt,) * p.pp,
    )


def memory_of(scn: Scenario) -> MemoryBreakdown:
    p = scn.parallel
    return memory_per_gpu(
        scn.model,
        micro_batch=p.micro_batch,
        micro_batches=p.micro_batches,
        tp=p.tp,
        pp=p.pp,
        dp=scn.layout().dp,
        ep=p.ep,
        sequence_parallel=p.sequence_parallel,
        recompute=p.recompute,
        schedule=p.schedule,
        virtual_stages=p.virtual_stages,
        zero_stage=p.zero_stage,
        grad_bytes=p.grad_bytes,
    )


def check_fits(scn: Scenario, mem: MemoryBreakdown) -> None:
    """ValueError saying by how much, per component, a model overflows GPU memory."""
    hbm = node(scn.system.node).gpu.hbm_bytes
    if mem.total_bytes > hbm:
        parts = ", ".join(
            f"{k.removesuffix('_bytes')} {v / GIB:.1f}"
            for k, v in mem.as_dict().items()
            if k != "total_bytes"
        )
        raise ValueError(
            f"model does not fit: needs {mem.total_bytes / GIB:.1f} GiB per GPU > "
            f"{hbm / GIB:.1f} GiB by {(mem.total_bytes - hbm) / GIB:.1f} GiB "
            f"(GiB: {parts})"
        )


@dataclass
class SimResult:
    """The outcome of :func:`run`. Times are seconds per iteration on the critical stage."""

    scenario: Scenario
    iteration_s: float
    breakdown_s: dict[str, float]
    tokens_per_s: float
    tflops_per_gpu: float  # Megatron eq. 3 convention (counts recomputation when full)
    mfu: float  # model FLOPs (no recomputation) / (time · peak · GPUs)
    memory: MemoryBreakdown
    pipeline: PipelineResult = field(repr=False)
    simpy_events: int = 0
    wall_s: float = 0.0

    def to_chrome_trace(self) -> dict:
        """Chrome/Perfetto trace of the first ``sim.trace_iterations`` iterations."""
        return chrome_trace(
            self.pipeline.events,
            self.iteration_s,
            self.scenario.sim.trace_iterations,
            self.scenario.name,
        )

    def to_dict(self) -> dict:
        """JSON-able summary: metrics with units in the keys, memory in bytes."""
        return {
            "scenario": to_dict(self.scenario),
            "iteration_s": self.iteration_s,
            "breakdown_s": dict(self.breakdown_s),
            "tokens_per_s": self.tokens_per_s,
            "tflops_per_gpu": self.tflops_per_gpu,
            "mfu": self.mfu,
            "memory_bytes": self.memory.as_dict(),
            "global_batch": self.scenario.global_batch,
            "world_size": self.scenario.layout().size,
            "simpy_events": self.simpy_events,
            "wall_s": self.wall_s,
        }


def run(scenario: Scenario, seed: int = 0) -> SimResult:
    """Simulate one training iteration of ``scenario``.

    ``seed`` is accepted for the failure/jitter models to come; this part is deterministic.
    """
    del seed
    t0 = time.perf_counter()
    mem = memory_of(scenario)
    if scenario.sim.check_memory:
        check_fits(scenario, mem)
    costs = build_costs(scenario)
    pr = simulate_pipeline(costs, record=True)
    tot = pr.by_stage[pr.critical_stage]
    dp_exposed = tot.get("dp_exposed", 0.0)
    breakdown = {
        "compute_s": tot["compute"],
        "tp_comm_s": tot["tp"],
        "pp_comm_s": tot["pp"],
        "dp_comm_exposed_s": dp_exposed,
        "optimizer_s": tot["optimizer"],
        "bubble_s": tot["bubble"],
    }
    breakdown["other_s"] = pr.iteration_s - sum(breakdown.values())
    world = scenario.layout().size
    batch = scenario.global_batch
    peak = node(scenario.system.node).gpu.peak_flops(scenario.system.dtype)
    hw_flops = megatron_flops_per_iteration(
        scenario.model, batch, recompute=scenario.parallel.recompute is Recompute.FULL
    )
    model_flops = model_flops_per_iteration(scenario.model, batch)
    return SimResult(
        scenario,
        pr.iteration_s,
        breakdown,
        batch * scenario.model.seq / pr.iteration_s,
        hw_flops / (pr.iteration_s * world) / 1e12,
        model_flops / (pr.iteration_s * world * peak),
        mem,
        pr,
        pr.simpy_events,
        time.perf_counter() - t0,
    )
