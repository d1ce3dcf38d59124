"""The one hardware table: GPUs, intra-node links, NICs, nodes and clusters.

Every peak here is a published figure, cited where it is declared. Dense (non-sparse)
tensor-core rates are used throughout; sparse rates are twice these and are never assumed.
Units are in the names: ``_flops`` is FLOP/s, ``_bytes`` bytes, ``_bytes_per_s`` bytes/s
(SI: 1 GB/s = 1e9 B/s), ``_s`` seconds, ``_w`` watts.

Links carry two kinds of figure: the *line rate* (per direction, per GPU or per NIC) and an
``efficiency``: the fraction of the line rate that NCCL's bus bandwidth reaches on large
messages in published nccl-tests runs. The α (per-message latency) is the software + wire
latency of one step of a collective, as the α-β model of Thakur, Rabenseifner & Gropp (2005)
uses it.

Presets are keyed by exact names; an unknown name raises ``ValueError`` listing the known ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GB = 1e9
GIB = 2**30
TERA = 1e12


class DType(StrEnum):
    """Numeric formats a GPU peak is quoted for."""

    FP32 = "fp32"
    TF32 = "tf32"
    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"
    INT8 = "int8"


def dtype_bytes(dtype: DType | str) -> int:
    """Bytes per element of ``dtype`` (TF32 is stored as FP32)."""
    d = DType(dtype)
    return {DType.FP32: 4, DType.TF32: 4, DType.BF16: 2, DType.FP16: 2}.get(d, 1)


@dataclass(frozen=True)
class GPUSpec:
    """One GPU model. Peaks are dense tensor-core rates (FP32 is the CUDA-core rate).

    ``peak_fp8_flops`` is 0 where the GPU has no FP8 tensor cores (A100).
    ``sm_count`` feeds the wave-quantisation part of the matmul efficiency model.
    """

    name: str
    peak_fp32_flops: float
    peak_tf32_flops: float
    peak_bf16_flops: float
    peak_fp16_flops: float
    peak_fp8_flops: float
    peak_int8_ops: float
    hbm_bytes: float
    hbm_bandwidth_bytes_per_s: float
    power_w: float
    sm_count: int

    def __post_init__(self) -> None:
        for field_name in ("peak_bf16_flops", "hbm_bytes", "hbm_bandwidth_bytes_per_s", "power_w"):
            value = getattr(self, field_name)
            if value <= 0:
                raise ValueError(f"GPU {self.name!r}: {field_name}({value}) must be > 0")

    def peak_flops(self, dtype: DType | str) -> float:
        """Dense peak FLOP/s (OP/s for int8) for ``dtype``; ValueError if the GPU lacks it."""
        d = DType(dtype)
        value = getattr(self, "peak_int8_ops" if d is DType.INT8 else f"peak_{d.value}_flops")
        if value <= 0:
            raise ValueError(f"GPU {self.name!r} has no {d.value} tensor-core peak")
        return value


# NVIDIA A100 datasheet (2021) and Ampere GA100 whitepaper: 312 TFLOP/s BF16/FP16 dense,
# 156 TF32, 19.5 FP32, 624 TOPS INT8; 40 GB HBM2 at 1,555 GB/s, 80 GB HBM2e at 2,039 GB/s;
# SXM4 TDP 400 W; 108 SMs.
# NVIDIA H100 datasheet (SXM5): 989.4 TFLOP/s BF16/FP16 dense, 494.7 TF32, 66.9 FP32,
# 1,978.9 FP8 and INT8; 80 GB HBM3 at 3.35 TB/s; 700 W; 132 SMs.
# NVIDIA H200 datasheet: same compute as H100 SXM; 141 GB HBM3e at 4.8 TB/s; up to 700 W.
GPUS: dict[str, GPUSpec] = {
    g.name: g
    for g in (
        GPUSpec(
            "A100-40GB",
            19.5e12,
            156e12,
            312e12,
            312e12,
            0.0,
            624e12,
            40 * GB,
            1555 * GB,
            400.0,
            108,
        ),
        GPUSpec(
            "A100-80GB",
            19.5e12,
            156e12,
            312e12,
            312e12,
            0.0,
            624e12,
            80 * GB,
            2039 * GB,
            400.0,
            108,
        ),
        GPUSpec(
            "H100-SXM",
            66.9e12,
            494.7e12,
            989.4e12,
            989.4e12,
            1978.9e12,
            1978.9e12,
            80 * GB,
            3350 * GB,
            700.0,
            132,
        ),
        GPUSpec(
            "H200",
            66.9e12,
            494.7e12,
            989.4e12,
            989.4e12,
            1978.9e12,
            1978.9e12,
            141 * GB,
            4800 * GB,
            700.0,
            132,
        ),
    )
}


class LinkKind(StrEnum):
    """Where a link sits: inside a node (GPU to GPU) or between nodes (a NIC)."""

    INTRA = "intra"
    INTER = "inter"


@dataclass(frozen=True)
class LinkSpec:
    """A link type: per-direction line rate per GPU (intra) or per NIC port (inter).

    bandwidth_bytes_per_s: line rate in one direction.
    latency_s: α of one collective step over this link (software + wire).
    efficiency: fraction of line rate that large-message NCCL bus bandwidth reaches.
    """

    name: str
    kind: LinkKind
    bandwidth_bytes_per_s: float
    latency_s: float
    efficiency: float

    def __post_init__(self) -> None:
        if self.bandwidth_bytes_per_s <= 0:
            raise ValueError(
                f"link {self.name!r}: bandwidth_bytes_per_s"
                f"({self.bandwidth_bytes_per_s}) must be > 0"
            )
        if self.latency_s < 0:
            raise ValueError(f"link {self.name!r}: latency_s({self.latency_s}) must be >= 0")
        if not 0 < self.efficiency <= 1:
            raise ValueError(f"link {self.name!r}: efficiency({self.efficiency}) not in (0, 1]")

    @property
    def achievable_bytes_per_s(self) -> float:
        """Line rate times efficiency: the bus bandwidth the α-β model uses."""
        return self.bandwidth_bytes_per_s * self.efficiency


# Intra-node. NVLink3 (A100): 12 links x 25 GB/s per direction = 300 GB/s per GPU per
# direction (600 GB/s bidirectional, A100 datasheet); through NVSwitch any GPU reaches any
# other at that rate. nccl-tests all-reduce busbw on 8x A100 SXM: 230.77 GB/s at 1 GiB
# (NVIDIA/nccl issue 527), ~200-208 GB/s (nccl-tests issues 149, 178) -> efficiency 0.75.
# NVLink4 (H100): 18 links x 25 GB/s = 450 GB/s per direction (900 GB/s bidirectional,
# H100 datasheet); NVLS-free NCCL busbw ~ 340-370 GB/s on HGX H100 -> 0.78.
# PCIe Gen4 x16: 16 GT/s x 16 lanes, 128b/130b = 31.5 GB/s per direction; Gen5 x16 63 GB/s;
# typical achieved ~ 80 % through a host bridge.
# NCCL intra-node step latency is a few microseconds (LL protocol); inter-node steps add the
# NIC and switch traversal: multi-node small all-reduce ~ 50-130 us for whole collectives
# (nccl-tests on H100/B200 clusters), i.e. ~ 5-10 us per ring step.
LINKS: dict[str, LinkSpec] = {
    ln.name: ln
    for ln in (
        LinkSpec("NVLink3", LinkKind.INTRA, 300 * GB, 2e-6, 0.75),
        LinkSpec("NVLink4", LinkKind.INTRA, 450 * GB, 2e-6, 0.78),
        LinkSpec("PCIe4", LinkKind.INTRA, 31.5 * GB, 5e-6, 0.8),
        LinkSpec("PCIe5", LinkKind.INTRA, 63 * GB, 5e-6, 0.8),
        # InfiniBand HDR 200 Gb/s = 25 GB/s per port per direction (Mellanox ConnectX-6);
        # NDR 400 Gb/s = 50 GB/s (ConnectX-7). 3 nodes x 4 HDR: busbw 84.8 avg / 96 peak of
        # 100 GB/s (nccl-tests issue 119) -> 0.9.
        LinkSpec("IB-HDR", LinkKind.INTER, 25 * GB, 6e-6, 0.9),
        LinkSpec("IB-NDR", LinkKind.INTER, 50 * GB, 6e-6, 0.9),
        # RoCEv2 at 200 / 400 Gb/s: same line rate as IB, a little more latency and loss
        # sensitivity.
        LinkSpec("RoCE-200", LinkKind.INTER, 25 * GB, 8e-6, 0.85),
        LinkSpec("RoCE-400", LinkKind.INTER, 50 * GB, 8e-6, 0.85),
        # AWS EFA (SRD): p4d.24xlarge has 4 x 100 Gb/s EFA (400 Gb/s per node, AWS P4d blog);
        # p5.48xlarge has 32 x 100 Gb/s EFAv2 (3,200 Gb/s per node, AWS P5 launch). EFA step
        # latency is higher (~15 us); 2-node p4d all-reduce busbw 57 GB/s of 50 GB/s node NIC
        # rate shows ring busbw tracks the NIC aggregate (NVIDIA/nccl issue 527).
        LinkSpec("EFA-100", LinkKind.INTER, 12.5 * GB, 15e-6, 0.85),
    )
}


def _lookup(table: dict, name: str, what: str):
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; known: {', '.join(sorted(table))}")
    return table[name]


def gpu(name: str) -> GPUSpec:
    """The GPU preset called exactly ``name``."""
    return _lookup(GPUS, name, "GPU")


def link(name: str) -> LinkSpec:
    """The link preset called exactly ``name``."""
    return _lookup(LINKS, name, "link")


class Fabric(StrEnum):
    """Inter-node network shape. RAIL: GPU i of every node shares leaf switch i (rail-
    optimised, DGX SuperPOD); FAT_TREE: nodes under leaves, leaves under spines."""

    RAIL = "rail"
    FAT_TREE = "fat-tree"


@dataclass(frozen=True)
class NodeSpec:
    """A server: ``gpus_per_node`` GPUs on ``intra_link``, ``nics_per_node`` NIC ports."""

    name: str
    gpu: GPUSpec
    gpus_per_node: int
    intra_link: LinkSpec
    nic: LinkSpec
    nics_per_node: int

    def __post_init__(self) -> None:
        if self.gpus_per_node < 1 or self.nics_per_node < 1:
            raise ValueError(
                f"node {self.name!r}: gpus_per_node({self.gpus_per_node}) and "
                f"nics_per_node({self.nics_per_node}) must be >= 1"
            )

    @property
    def nic_bytes_per_s_per_gpu(self) -> float:
        """Inter-node line rate per GPU when all GPUs send at once."""
        return self.nic.bandwidth_bytes_per_s * self.nics_per_node / self.gpus_per_node

    @property
    def nic_bytes_per_s_per_node(self) -> float:
        return self.nic.bandwidth_bytes_per_s * self.nics_per_node


# DGX A100 (Selene): 8x A100-80GB, NVSwitch (NVLink3), 8x HDR 200 Gb/s compute NICs
# (Narayanan et al. 2021 §5; DGX A100 user guide). DGX H100: 8x H100, NVLink4, 8x NDR.
NODES: dict[str, NodeSpec] = {
    n.name: n
    for n in (
        NodeSpec("dgx-a100", GPUS["A100-80GB"], 8, LINKS["NVLink3"], LINKS["IB-HDR"], 8),
        NodeSpec("dgx-a100-40gb", GPUS["A100-40GB"], 8, LINKS["NVLink3"], LINKS["IB-HDR"], 8),
        NodeSpec("p4d.24xlarge", GPUS["A100-40GB"], 8, LINKS["NVLink3"], LINKS["EFA-100"], 4),
        NodeSpec("p5.48xlarge", GPUS["H100-SXM"], 8, LINKS["NVLink4"], LINKS["EFA-100"], 32),
        NodeSpec("dgx-h100", GPUS["H100-SXM"], 8, LINKS["NVLink4"], LINKS["IB-NDR"], 8),
        NodeSpec("hgx-h200", GPUS["H200"], 8, LINKS["NVLink4"], LINKS["IB-NDR"], 8),
        NodeSpec("pcie-a100", GPUS["A100-80GB"], 8, LINKS["PCIe4"], LINKS["RoCE-200"], 2),
    )
}


def node(name: str) -> NodeSpec:
    """The node preset called exactly ``name``."""
    return _lookup(NODES, name, "node")


@dataclass(frozen=True)
class ClusterSpec:
    """``num_nodes`` nodes on a two-level network.

    nodes_per_leaf: nodes under one leaf switch (rail: per rail group; a DGX SuperPOD
        scalable unit is 20 nodes). Traffic that leaves a leaf crosses the spine.
    oversubscription: leaf down-link / up-link bandwidth ratio (1.0 = full bisection); flows
        that cross the spine get ``1 / oversubscription`` of the NIC rate.
    switch_latency_s: extra latency per switch hop beyond the leaf.
    """

    node: NodeSpec
    num_nodes: int
    fabric: Fabric = Fabric.RAIL
    nodes_per_leaf: int = 32
    oversubscription: float = 1.0
    switch_latency_s: float = 1e-6

    def __post_init__(self) -> None:
        if self.num_nodes < 1:
            raise ValueError(f"num_nodes({self.num_nodes}) must be >= 1")
        if self.nodes_per_leaf < 1:
            raise ValueError(f"nodes_per_leaf({self.nodes_per_leaf}) must be >= 1")
        if self.oversubscription < 1:
            raise ValueError(f"oversubscription({self.oversubscription}) must be >= 1")
        if self.switch_latency_s < 0:
            raise ValueError(f"switch_latency_s({self.switch_latency_s}) must be >= 0")

    @property
    def world_size(self) -> int:
        return self.num_nodes * self.node.gpus_per_node

    def inter_node_bytes_per_s_per_gpu(self, nodes_spanned: int) -> float:
        """Achievable per-GPU inter-node bandwidth for a group spanning ``nodes_spanned``
        nodes: the NIC share, reduced by the oversubscription once the group leaves a leaf."""
        bw = self.node.nic_bytes_per_s_per_gpu * self.node.nic.efficiency
        return bw / self.oversubscription if nodes_spanned > self.nodes_per_leaf else bw

    def inter_node_latency_s(self, nodes_spanned: int) -> float:
        """α of an inter-node step: NIC latency plus two more switch hops past the leaf."""
        hops = 0 if nodes_spanned <= self.nodes_per_leaf else 2
        return self.node.nic.latency_s + hops * self.switch_latency_s
