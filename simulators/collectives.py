"""α–β costs of collective communication.

The model of Thakur, Rabenseifner & Gropp (2005, "Optimization of Collective Communication
Operations in MPICH"): sending n bytes costs α + n/B. With p ranks and N bytes per rank:

    ring all-reduce            2(p−1)·α + 2·(p−1)/p · N/B        (Patarasuk & Yuan 2009)
    recursive halving-doubling 2·log2(p)·α + 2·(p−1)/p · N/B     (Thakur et al. 2005 §4)
    double binary tree         2·log2(p)·α + 2·N/B               (pipelined; NCCL ≥ 2.4)
    reduce-scatter / all-gather (p−1)·α + (p−1)/p · N/B          (N = the full tensor)
    hierarchical all-reduce    intra reduce-scatter, inter all-reduce on N/g, intra all-gather

B is the *bus bandwidth* in the sense of nccl-tests (NVIDIA/nccl-tests doc/PERFORMANCE.md):
the per-rank rate of the bottleneck link, so that busbw = algbw · 2(n−1)/n for all-reduce
(algbw = N/t), · (n−1)/n for reduce-scatter, all-gather and all-to-all, · 1 for broadcast.

All sizes are bytes, times seconds, bandwidths bytes/s. Functions are pure.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np


class Collective(StrEnum):
    ALL_REDUCE = "all_reduce"
    REDUCE_SCATTER = "reduce_scatter"
    ALL_GATHER = "all_gather"
    ALL_TO_ALL = "all_to_all"
    BROADCAST = "broadcast"
    REDUCE = "reduce"
    P2P = "p2p"


class Algorithm(StrEnum):
    RING = "ring"
    TREE = "tree"  # NCCL double binary tree
    HALVING_DOUBLING = "halving_doubling"
    HIERARCHICAL = "hierarchical"
    AUTO = "auto"  # the faster of ring and tree per message, as NCCL's tuner picks


def _check(size_bytes: float, p: int, bandwidth_bytes_per_s: float, alpha_s: float) -> None:
    if size_bytes < 0:
        raise ValueError(f"size_bytes({size_bytes}) must be >= 0")
    if p < 1:
        raise ValueError(f"ranks({p}) must be >= 1")
    if bandwidth_bytes_per_s <= 0:
        raise ValueError(f"bandwidth_bytes_per_s({bandwidth_bytes_per_s}) must be > 0")
    if alpha_s < 0:
        raise ValueError(f"alpha_s({alpha_s}) must be >= 0")


def bus_bandwidth_factor(op: Collective | str, n: int) -> float:
    """nccl-tests: busbw = algbw × this factor."""
    op = Collective(op)
    if n <= 1:
        return 1.0
    if op is Collective.ALL_REDUCE:
        return 2.0 * (n - 1) / n
    if op in (Collective.REDUCE_SCATTER, Collective.ALL_GATHER, Collective.ALL_TO_ALL):
        return (n - 1) / n
    return 1.0


def algbw(size_bytes: float, time_s: float) -> float:
    """nccl-tests algorithm bandwidth S / t."""
    return size_bytes / time_s


def ring_all_reduce_s(
    size_bytes: float, p: int, bandwidth_bytes_per_s: float, alpha_s: float
) -> float:
    """2(p−1)·α + 2·(p−1)/p·N/B; 0 for one rank."""
    _check(size_bytes, p, bandwidth_bytes_per_s, alpha_s)
    if p == 1:
        return 0.0
    return 2 * (p - 1) * alpha_s + 2 * (p - 1) / p * size_bytes / bandwidth_bytes_per_s


def halving_doubling_all_reduce_s(
    size_bytes: float, p: int, bandwidth_bytes_per_s: float, alpha_s: float
) -> float:
    """Rabenseifner: 2·⌈log2 p⌉·α + 2·(p−1)/p·N/B."""
    _check(size_bytes, p, bandwidth_bytes_per_s, alpha_s)
    if p == 1:
        return 0.0
    return (
        2 * math.ceil(math.log2(p)) * alpha_s + 2 * (p - 1) / p * size_bytes / bandwidth_bytes_per_s
    )


def tree_all_reduce_s(
    size_bytes: float, p: int, bandwidth_bytes_per_s: float, alpha_s: float
) -> float:
    """Pipelined double binary tree (Sanders et al. 2009; NCCL 2.4): reduce up and
    broadcast down, 2·⌈log2 p⌉·α + 2·N/B. Logarithmic latency, slightly more bytes than ring."""
    _check(size_bytes, p, bandwidth_bytes_per_s, alpha_s)
    if p == 1:
        return 0.0
    return 2 * math.ceil(math.log2(p)) * alpha_s + 2 * size_bytes / bandwidth_bytes_per_s


def reduce_scatter_s(
    size_bytes: float, p: int, bandwidth_bytes_per_s: float, alpha_s: float
) -> float:
    """Ring reduce-scatter of an N-byte tensor: (p−1)·α + (p−1)/p·N/B."""
    _check(size_bytes, p, bandwidth_bytes_per_s, alpha_s)
    if p == 1:
        return 0.0
    return (p - 1) * alpha_s + (p - 1) / p * size_bytes / bandwidth_bytes_per_s


def all_gather_s(size_bytes: float, p: int, bandwidth_bytes_per_s: float, alpha_s: float) -> float:
    """Ring all-gather producing an N-byte tensor: same cost as reduce-scatter."""
    return reduce_scatter_s(size_bytes, p, bandwidth_bytes_per_s, alpha_s)


def all_to_all_s(size_bytes: float, p: int, bandwidth_bytes_per_s: float, alpha_s: float) -> float:
    """Pairwise all-to-all: each rank sends (p−1)/p of its N bytes, (p−1) messages."""
    return reduce_scatter_s(size_bytes, p, bandwidth_bytes_per_s, alpha_s)


def p2p_s(size_bytes: float, bandwidth_bytes_per_s: float, alpha_s: float) -> float:
    """One point-to-point message: α + N/B."""
    _check(size_bytes, 1, bandwidth_bytes_per_s, alpha_s)
    return alpha_s + size_bytes / bandwidth_bytes_per_s


def hierarchical_all_reduce_s(
    size_bytes: float,
    gpus_per_node: int,
    nodes: int,
    intra_bytes_per_s: float,
    intra_alpha_s: float,
    inter_bytes_per_s_per_gpu: float,
    inter_alpha_s: float,
) -> float:
    """Two-level all-reduce: intra-node reduce-scatter (g ranks), g parallel inter-node ring
    all-reduces of N/g over ``nodes`` (each on its GPU's NIC share), intra-node all-gather.

    Inter-node bytes per GPU fall by g compared with a flat ring that treated every GPU
    alike; with NCCL's multi-ring flat all-reduce the bandwidth term is the same and the
    gain is the α term: 2(n−1) inter-node steps instead of 2(g·n−1).
    """
    g = gpus_per_node
    rs = reduce_scatter_s(size_bytes, g, intra_bytes_per_s, intra_alpha_s)
    ar = ring_all_reduce_s(size_bytes / g, nodes, inter_bytes_per_s_per_gpu, inter_alpha_s)
    return 2 * rs + ar


def flat_ring_all_reduce_s(
    size_bytes: float,
    gpus_per_node: int,
    nodes: int,
    intra_bytes_per_s: float,
    intra_alpha_s: float,
    inter_bytes_per_s_per_gpu: float,
    inter_alpha_s: float,
) -> float:
    """One logical ring over all g·n GPUs, as NCCL builds it with one channel per NIC.

    Bus bandwidth is the slower of NVLink and the node's NIC aggregate shared by the g
    GPUs (g · per-GPU NIC share); every step waits for the slowest hop, so α is the
    inter-node α once the ring leaves a node.
    """
    p = gpus_per_node * nodes
    if nodes == 1:
        return ring_all_reduce_s(size_bytes, p, intra_bytes_per_s, intra_alpha_s)
    bw = min(intra_bytes_per_s, gpus_per_node * inter_bytes_per_s_per_gpu)
    return ring_all_reduce_s(size_bytes, p, bw, inter_alpha_s)


# --- parameter server --------------------------------------------------------------------


def parameter_server_s(
    size_bytes: float,
    workers: int,
    worker_bytes_per_s: float,
    server_bytes_per_s: float,
    alpha_s: float,
    servers: int = 1,
) -> float:
    """Synchronous push-then-pull through ``servers`` sharded servers (Li et al. 2014).

    Each worker pushes its N-byte gradient (N/k to each shard) and pulls the N-byte result;
    a server's NIC receives workers·N/k bytes (incast) and sends as many. Time =
    2·(α + max(workers·N/(k·B_server), N/B_worker)).
    """
    _check(size_bytes, workers, min(worker_bytes_per_s, server_bytes_per_s), alpha_s)
    if servers < 1:
        raise ValueError(f"servers({servers}) must be >= 1")
    one_way = max(
        workers * size_bytes / (servers * server_bytes_per_s), size_bytes / worker_bytes_per_s
    )
    return 2 * (alpha_s + one_way)


# --- gossip averaging --------------------------------------------------------------------


class GossipGraph(StrEnum):
    RING = "ring"  # each node averages with its two neighbours
    EXPONENTIAL = "exponential"  # peers at distance 1, 2, 4, … (Assran et al. 2019)
    COMPLETE = "complete"


def mixing_matrix(graph: GossipGraph | str, n: int) -> np.ndarray:
    """Symmetric doubly-stochastic W (n × n) with uniform weights over self + neighbours."""
    graph = GossipGraph(graph)
    if n < 2:
        raise ValueError(f"gossip needs n >= 2 nodes, got n({n})")
    if graph is GossipGraph.COMPLETE:
        return np.full((n, n), 1.0 / n)
    if graph is GossipGraph.RING:
        offsets = {1, n - 1}
    else:
        offsets = set()
        k = 1
        while k < n:
            offsets |= {k, n - k}
            k *= 2
    adj = np.eye(n)
    for i in range(n):
        for o in offsets:
            adj[i, (i + o) % n] = 1.0
    adj = np.maximum(adj, adj.T)
    deg = adj.sum(axis=1).max()
    w = adj / deg  # regular graph: uniform weights keep rows and columns summing to 1
    np.fill_diagonal(w, 0.0)
    np.fill_diagonal(w, 1.0 - w.sum(axis=1))
    return w


def gossip_degree(graph: GossipGraph | str, n: int) -> int:
    """Neighbours each node exchanges with per round."""
    w = mixing_matrix(graph, n)
    return int((w[0] > 0).sum() - 1)


def spectral_gap(w: np.ndarray) -> float:
    """1 − |λ₂(W)|, the second-largest eigenvalue modulus of a symmetric W."""
    eig = np.sort(np.abs(np.linalg.eigvalsh(w)))[::-1]
    return float(1.0 - eig[1])


def gossip_rounds_to_consensus(w: np.ndarray, epsilon: float) -> int:
    """Rounds until the consensus error ‖x − x̄‖ has contracted by ``epsilon``:
    ⌈ln ε / ln |λ₂|⌉ (≈ ln(1/ε)/(1 − |λ₂|) for a small gap; Boyd et al. 2006)."""
    if not 0 < epsilon < 1:
        raise ValueError(f"epsilon({epsilon}) must be in (0, 1)")
    lam2 = 1.0 - spectral_gap(w)
    if lam2 <= 0:
        return 1
    return max(1, math.ceil(math.log(epsilon) / math.log(lam2)))


def gossip_round_s(
    size_bytes: float, degree: int, bandwidth_bytes_per_s: float, alpha_s: float
) -> float:
    """One round: a node sends its N-byte model to ``degree`` peers through one NIC
    (full duplex, so receiving overlaps): degree·(α + N/B). The per-hop α is the network's,
    exactly as for any other collective."""
    _check(size_bytes, max(degree, 1), bandwidth_bytes_per_s, alpha_s)
    return degree * (alpha_s + size_bytes / bandwidth_bytes_per_s)


def gossip_consensus_s(
    size_bytes: float,
    n: int,
    graph: GossipGraph | str,
    bandwidth_bytes_per_s: float,
    alpha_s: float,
    epsilon: float,
) -> float:
    """Time for gossip averaging on ``graph`` to reach ε-consensus."""
    w = mixing_matrix(graph, n)
    rounds = gossip_rounds_to_consensus(w, epsilon)
    return rounds * gossip_round_s(
        size_bytes, gossip_degree(graph, n), bandwidth_bytes_per_s, alpha_s
    )


# --- gradient compression ----------------------------------------------------------------


def compressed_bytes(
    size_bytes: float,
    bits: int,
    source_bits: int = 32,
    bucket_elems: int = 1024,
    scale_bytes: int = 4,
) -> float:
    """Bytes after quantising ``size_bytes`` of ``source_bits`` values to ``bits`` with one
    ``scale_bytes`` scale per ``bucket_elems`` values (e.g. 8/32 + 4/(4·1024) ≈ 25.1 %)."""
    if bits not in (4, 8, 16, 32):
        raise ValueError(f"bits({bits}) must be one of 4, 8, 16, 32")
    if bucket_elems < 1:
        raise ValueError(f"bucket_elems({bucket_elems}) must be >= 1")
    elems = size_bytes * 8 / source_bits
    scales = 0 if bits >= 16 else math.ceil(elems / bucket_elems) * scale_bytes
    return elems * bits / 8 + scales


def quantisation_s(size_bytes: float, hbm_bytes_per_s: float, passes: float = 2.0) -> float:
    """Quantise + dequantise cost: memory-bound passes over the fp32 tensor (read fp32, write
    the compressed copy; read it and write fp32 back): ``passes`` · N / HBM bandwidth."""
    if hbm_bytes_per_s <= 0:
        raise ValueError(f"hbm_bytes_per_s({hbm_bytes_per_s}) must be > 0")
    return passes * size_bytes / hbm_bytes_per_s


def compressed_ring_all_reduce_s(
    size_bytes: float,
    p: int,
    bandwidth_bytes_per_s: float,
    alpha_s: float,
    bits: int,
    hbm_bytes_per_s: float,
) -> float:
    """Ring all-reduce of a compressed tensor. Integers cannot be summed along the ring
    without overflow, so every reduce-scatter hop dequantises, adds and requantises its
    chunk: 2 passes over N at the start and end plus one per hop over N/p, i.e. ~3·N."""
    wire = compressed_bytes(size_bytes, bits)
    comm = ring_all_reduce_s(wire, p, bandwidth_bytes_per_s, alpha_s)
    compute = quantisation_s(size_bytes, hbm_bytes_per_s, passes=2.0 + (p - 1) / p)
    return comm + compute
