"""Workload registrations for parallelism, offload, memory tiers and the data path.

Each case runs in one process (``dsbench run``/``ds-profiler`` time zero-argument callables);
the real multi-process runs (2 gloo ranks, or NCCL under torchrun) live in
``dsbench bench parallel`` and the tests. So ``training-tensor-parallel`` times the TP shards'
maths with the all-reduce replaced by a sum (:func:`parallel.emulate_tp_block`) and checks it
against the unsharded block; the rest are the real thing on one process.

Sizes: ``tiny`` for tests, ``cpu`` for a 2-core CPU in seconds, ``gpu`` for one data-centre GPU.
Files (token file, disk tier) go to a temporary folder removed at exit.
"""

from __future__ import annotations

import atexit
import copy
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from workloads.base import Case, Workload, register

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


def _tmpdir() -> Path:
    path = tempfile.mkdtemp(prefix="dsbench-training-")
    atexit.register(shutil.rmtree, path, True)
    return Path(path)


def _lm_cfg(p):
    from workloads.lm.config import LMConfig

    c = p["d_model"]
    return LMConfig(block_size=p["seq"], n_layers=p.get("layers", 1), n_heads=p["heads"],
                    d_model=c, d_ff=4 * c)  # fmt: skip


def _block_flops(b: int, t: int, c: int) -> float:
    """Forward FLOPs of a dense block: linears 2·B·T·(4C² + 8C²), causal attention 2·B·C·T(T+1)."""
    return 2 * b * t * 12 * c * c + 2 * b * c * t * (t + 1)


# --- tensor parallel ------------------------------------------------------------------------------

TP_SIZES = {
    "tiny": {"d_model": 32, "heads": 4, "world": 2, "batch": 2, "seq": 16},
    "cpu": {"d_model": 256, "heads": 8, "world": 2, "batch": 4, "seq": 128},
    "gpu": {"d_model": 2048, "heads": 16, "world": 8, "batch": 8, "seq": 1024},
}


def build_tp(size: str, device: str, dtype: str) -> Case:
    from workloads.lm.model import Block
    from workloads.training.parallel import emulate_tp_block, tp_shards

    p = TP_SIZES[size]
    torch.manual_seed(0)
    block = Block(_lm_cfg(p), 0).to(device, _DTYPES[dtype]).eval()
    x = torch.randn(p["batch"], p["seq"], p["d_model"], device=device, dtype=_DTYPES[dtype])

    shards = tp_shards(block, p["world"])

    def reference():
        with torch.no_grad():
            return block(x)

    return Case(
        fn=lambda: emulate_tp_block(shards, x),
        flops=_block_flops(p["batch"], p["seq"], p["d_model"]),
        reference=reference,
        params={**p, "emulated": "shards summed in one process"},
        atol=1e-4,
        rtol=1e-4,
    )


# --- tiers ------------------------------------------------------------------------------------------

TIER_SIZES = {
    "tiny": {"keys": 64, "value_bytes": 1024, "accesses": 500, "device_keys": 8, "host_keys": 24},
    "cpu": {"keys": 2048, "value_bytes": 16384, "accesses": 5000, "device_keys": 128,
            "host_keys": 512},
    "gpu": {"keys": 4096, "value_bytes": 262144, "accesses": 20000, "device_keys": 256,
            "host_keys": 1024},
}  # fmt: skip


def build_tiers(size: str, device: str, dtype: str) -> Case:
    from workloads.training.tiers import TieredStore, zipf_trace

    p = TIER_SIZES[size]
    n = p["value_bytes"] // 4
    g = torch.Generator().manual_seed(0)
    values = {k: torch.randn(n, generator=g) for k in range(p["keys"])}
    trace = zipf_trace(p["keys"], p["accesses"], s=1.1, seed=0)
    store = TieredStore(p["device_keys"] * p["value_bytes"], p["host_keys"] * p["value_bytes"],
                        device, _tmpdir())  # fmt: skip
    for k, v in values.items():
        store.put(k, v)

    def run(get):
        return torch.stack([get(int(k))[:4].cpu() for k in trace])

    return Case(
        fn=lambda: run(store.get),
        bytes_moved=float(p["accesses"] * p["value_bytes"]),
        reference=lambda: run(values.__getitem__),
        params={**p, "zipf_s": 1.1},
        atol=0.0,
        rtol=0.0,
    )


# --- offload ------------------------------------------------------------------------------------------

OFFLOAD_SIZES = {
    "tiny": {"d_model": 32, "heads": 2, "layers": 4, "batch": 2, "seq": 16},
    "cpu": {"d_model": 512, "heads": 8, "layers": 8, "batch": 1, "seq": 64},
    "gpu": {"d_model": 4096, "heads": 32, "layers": 8, "batch": 1, "seq": 512},
}


def build_offload(size: str, device: str, dtype: str) -> Case:
    from workloads.lm.model import Block
    from workloads.training.offload import OffloadedLayers

    p = OFFLOAD_SIZES[size]
    torch.manual_seed(0)
    cfg = _lm_cfg(p)
    resident = nn.ModuleList(Block(cfg, i) for i in range(p["layers"])).to(device).eval()
    offloaded = OffloadedLayers(copy.deepcopy(resident).cpu(), device, prefetch=True)
    x = torch.randn(p["batch"], p["seq"], p["d_model"], device=device)

    def reference():
        with torch.no_grad():
            y = x
            for layer in resident:
                y = layer(y)
            return y

    def fn():
        with torch.no_grad():
            return offloaded(x)

    per_layer = sum(q.numel() * 4 for q in resident[0].parameters())
    return Case(
        fn=fn,
        flops=p["layers"] * _block_flops(p["batch"], p["seq"], p["d_model"]),
        bytes_moved=float(p["layers"] * per_layer),
        reference=reference,
        params={**p, "prefetch": True},
        atol=1e-5,
    )


EMB_SIZES = {
    "tiny": {"vocab": 1000, "d_model": 32, "batch": 2, "seq": 16},
    "cpu": {"vocab": 32000, "d_model": 512, "batch": 4, "seq": 256},
    "gpu": {"vocab": 256000, "d_model": 4096, "batch": 8, "seq": 2048},
}


def build_host_embedding(size: str, device: str, dtype: str) -> Case:
    from workloads.training.offload import HostEmbedding

    p = EMB_SIZES[size]
    torch.manual_seed(0)
    emb = nn.Embedding(p["vocab"], p["d_model"]).to(device)
    host = HostEmbedding(emb, device)
    idx = torch.randint(0, p["vocab"], (p["batch"], p["seq"]), device=device)
    act = p["batch"] * p["seq"] * p["d_model"] * 4
    return Case(
        fn=lambda: host(idx).detach(),
        bytes_moved=float(2 * act),
        reference=lambda: emb(idx).detach(),
        params={**p, "table_bytes": p["vocab"] * p["d_model"] * 4},
        atol=0.0,
        rtol=0.0,
    )


# --- data path --------------------------------------------------------------------------------------

MMAP_SIZES = {
    "tiny": {"tokens": 1 << 18, "seq": 64, "batch": 8},
    "cpu": {"tokens": 1 << 25, "seq": 1024, "batch": 8},
    "gpu": {"tokens": 1 << 29, "seq": 2048, "batch": 32},
}


def build_mmap(size: str, device: str, dtype: str) -> Case:
    from workloads.training.datapath import InRAMTokens, MmapTokens, random_starts, write_token_file

    p = MMAP_SIZES[size]
    path = write_token_file(_tmpdir() / "train.bin", p["tokens"])
    mm, ram = MmapTokens(path, p["seq"]), InRAMTokens(path, p["seq"])
    starts = random_starts(len(mm), p["batch"], seed=0)
    return Case(
        fn=lambda: mm.batch(starts),
        bytes_moved=float(p["batch"] * (p["seq"] + 1) * 2),
        reference=lambda: ram.batch(starts),
        params={**p, "file_bytes": 2 * p["tokens"]},
        atol=0.0,
        rtol=0.0,
    )


PIPE_SIZES = {
    "tiny": {"batches": 4, "batch": 4, "image": 16, "width": 4, "rounds": 20},
    "cpu": {"batches": 16, "batch": 32, "image": 64, "width": 16, "rounds": 200},
    "gpu": {"batches": 64, "batch": 64, "image": 224, "width": 64, "rounds": 200},
}


def build_split_pipeline(size: str, device: str, dtype: str) -> Case:
    from workloads.training.datapath import feature_net, run_overlapped, run_serial

    p = PIPE_SIZES[size]
    net = feature_net(width=p["width"]).to(device)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(p["batch"], 3, p["image"], p["image"], generator=g)
               for _ in range(p["batches"])]  # fmt: skip

    def as_tensor(results):
        return torch.tensor([[best, score] for best, _, score in results], dtype=torch.float64)

    return Case(
        fn=lambda: as_tensor(run_overlapped(net, batches, device, p["rounds"])),
        reference=lambda: as_tensor(run_serial(net, batches, device, p["rounds"])),
        params=p,
        atol=0.0,
        rtol=0.0,
    )


WORKLOADS = (
    Workload("training-tensor-parallel", ("001-tp-forward-allreduce", "003-parallel-linear-code"),
             TP_SIZES, build_tp, "Megatron TP block shards (emulated in one process) vs the block"),
    Workload("training-tiered-store", ("000-3tier-memory-hierarchy",), TIER_SIZES, build_tiers,
             "device/host/disk LRU tiers on a Zipf trace vs a plain dict"),
    Workload("training-offload-swap", ("002-smart-param-swap", "000-cpu-gpu-hybrid-partition"),
             OFFLOAD_SIZES, build_offload, "layer-wise parameter offload with prefetch vs resident"),
    Workload("training-host-embedding", ("000-embedding-on-cpu",), EMB_SIZES,
             build_host_embedding, "embedding table on the host, rows copied to the device"),
    Workload("training-mmap-tokens", ("002-mmap-loader-tb",), MMAP_SIZES, build_mmap,
             "np.memmap token windows vs the same file read into RAM"),
    Workload("training-split-pipeline", ("002-hetero-a100-cpu-37pct",), PIPE_SIZES,
             build_split_pipeline, "device features + CPU branch logic overlapped vs serial"),
)  # fmt: skip

for _w in WORKLOADS:
    register(_w)
