"""The distributed sections of ``dsbench bench parallel``: ``tp`` and ``ddp`` on gloo ranks.

``tp``: the Megatron TP block against the single-device block (forward, input and weight
gradients), the seeds' ``ParallelLinear`` / ``tensor_parallel_forward`` as written, and the
fwd+bwd time of both. ``ddp``: DDP gradients against full-batch ones, step time with and
without overlap and per bucket size, and the int8 error-feedback hook (bytes per rank, loss
against fp32 all-reduce). Ranks are spawned by :mod:`workloads.training.launch`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dsbench.bench.parallel_common import BenchConfig, _record, lockstep
from dsbench.core.results import Record

# --- tensor parallel -------------------------------------------------------------------------------


def _tp_job(rank: int, world: int, quick: bool, repeats: int, device: str, timing: bool) -> dict:
    import torch

    from simulators.layout import Layout
    from workloads.lm.config import LMConfig
    from workloads.lm.model import Block
    from workloads.training import parallel as P

    out = {"errors": P.tp_job(rank, world, device), "seed": P.seed_code_job(rank, world, device)}
    if not timing:
        return out
    c, heads, b, t = (128, 4, 2, 64) if quick else (512, 8, 4, 256)
    torch.manual_seed(0)
    block = Block(LMConfig(block_size=t, n_layers=1, n_heads=heads, d_model=c, d_ff=4 * c), 0)
    block = block.to(device)
    tp = P.apply_tensor_parallel(block, P.TPGroup.from_layout(Layout(tp=world), rank))
    x = torch.randn(b, t, c, device=device)

    def step(module):
        module(x.clone().requires_grad_()).sum().backward()

    out["single"] = lockstep(lambda: step(block), repeats, device).samples_s
    out["tp"] = lockstep(lambda: step(tp), repeats, device).samples_s
    out["shape"] = {"d_model": c, "heads": heads, "batch": b, "seq": t}
    return out


def bench_tp(cfg: BenchConfig) -> Iterator[Record]:
    from dsbench.core.timing import Timing
    from workloads.training.launch import spawn

    r = spawn(_tp_job, (cfg.quick, cfg.repeats, cfg.device, cfg.timing), cfg.world_size)[0]
    metrics: dict[str, Any] = {k: (v, "1") for k, v in r["errors"].items()}
    shape = r.get("shape", {})
    if cfg.timing:
        single = Timing(tuple(r["single"]), 1, "perf_counter_ns", cfg.device)
        tp = Timing(tuple(r["tp"]), 1, "perf_counter_ns", cfg.device)
        wire = 4 * shape["batch"] * shape["seq"] * shape["d_model"] * 4  # 2 fwd + 2 bwd, fp32
        metrics.update(
            time_single_device=single.metric(),
            time_tensor_parallel=tp.metric(),
            tp_speedup=(single.median_s / tp.median_s, "x"),
            allreduce_bytes_per_step=(float(wire), "B"),
        )
    yield _record(
        cfg,
        "parallel-tp-block",
        {"world_size": cfg.world_size, **shape},
        metrics,
        note="errors: TP block and parallel linears vs single-device ones (tiny LM block); "
        "times: fwd+bwd of a larger block, each rank one thread, lock-step samples",
    )
    seed = r["seed"]
    yield _record(
        cfg,
        "parallel-seed-tp-code",
        {"world_size": cfg.world_size},
        {
            "parallel_linear_sharded_x_forward_err": (
                seed["parallel_linear_sharded_x_forward_err"],
                "1",
            ),
            "tp_forward_rel_err_vs_own_slice": (seed["tp_forward_rel_err_vs_own_slice"], "1"),
            "parallel_linear_out7_width": (seed["parallel_linear_out7_width"], "count"),
        },
        **{k: v for k, v in seed.items() if isinstance(v, str | bool | list)},
    )


# --- data parallel ---------------------------------------------------------------------------------


def _ddp_job(rank: int, world: int, quick: bool, repeats: int, device: str) -> dict:
    import copy

    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from workloads.lm.config import LMConfig, preset
    from workloads.lm.model import LM
    from workloads.training import data_parallel as DP

    out: dict[str, Any] = {"equivalence": DP.ddp_job(rank, world, device)}
    torch.manual_seed(0)
    base = LM(LMConfig(block_size=64) if quick else preset("cpu-small")).to(device)
    b, t = (4, 64) if quick else (8, 256)
    idx = torch.randint(0, 256, (b, t + 1), generator=torch.Generator().manual_seed(rank))
    idx = idx.to(device)

    def step(model, after=None):
        model.zero_grad(set_to_none=False)
        model(idx[:, :-1], idx[:, 1:])[1].backward()
        if after:
            after(model)

    def serial_allreduce(model):
        flat = torch.cat([p.grad.flatten() for p in model.parameters()])
        dist.all_reduce(flat)

    plain = copy.deepcopy(base)
    out["compute_only"] = lockstep(lambda: step(plain), repeats, device).samples_s
    out["serial_allreduce"] = lockstep(
        lambda: step(plain, serial_allreduce), repeats, device
    ).samples_s
    for label, cap in (("ddp_small_buckets", 0.25), ("ddp_default", 25.0), ("ddp_one_bucket", 1e4)):
        ddp = DDP(copy.deepcopy(base), bucket_cap_mb=cap)
        counts: dict = {}
        ddp.register_comm_hook(counts, DP.counting_allreduce_hook)
        out[label] = lockstep(lambda m=ddp: step(m), repeats, device).samples_s
        counts.clear()
        step(ddp)  # one more step to count the buckets DDP settled on
        out[f"{label}_buckets"] = counts["buckets"]
    out["param_bytes"] = sum(p.numel() * 4 for p in base.parameters())
    out["compression"] = DP.compression_job(rank, world, steps=40 if quick else 200, device=device)
    return out


def bench_ddp(cfg: BenchConfig) -> Iterator[Record]:
    from dsbench.core.timing import Timing
    from workloads.training.launch import spawn

    r = spawn(_ddp_job, (cfg.quick, cfg.repeats, cfg.device), cfg.world_size)[0]
    timings = {
        k: Timing(tuple(r[k]), 1, "perf_counter_ns", cfg.device)
        for k in ("compute_only", "serial_allreduce", "ddp_small_buckets", "ddp_default",
                  "ddp_one_bucket")
    }  # fmt: skip
    compute = timings["compute_only"].median_s
    metrics: dict[str, Any] = {f"time_{k}": t.metric() for k, t in timings.items()}
    for k, t in timings.items():
        if k != "compute_only":
            metrics[f"exposed_comm_{k}"] = (max(t.median_s - compute, 0.0) / compute * 100, "%")
    for k in ("ddp_small_buckets", "ddp_default", "ddp_one_bucket"):
        metrics[f"buckets_{k}"] = (float(r[f"{k}_buckets"]), "count")
    eq = r["equivalence"]
    metrics["ddp_grad_err_vs_full_batch"] = (eq["grad_err"], "1")
    yield _record(
        cfg,
        "parallel-ddp-overlap",
        {"world_size": cfg.world_size, "param_bytes": r["param_bytes"]},
        metrics,
        note="exposed_comm = (step - compute_only) / compute_only; gloo on loopback",
    )
    comp = r["compression"]
    fp32, ef, noef = comp["fp32"], comp["int8-ef"], comp["int8"]
    yield _record(
        cfg,
        "parallel-int8-ef-hook",
        {"world_size": cfg.world_size, "steps": len(fp32["losses"]), "chunk": 256},
        {
            "wire_bytes_ratio": (ef["payload_bytes"] / ef["fp32_bytes"], "1"),
            "final_loss_fp32": (fp32["losses"][-1], "1"),
            "final_loss_int8_ef": (ef["losses"][-1], "1"),
            "final_loss_int8_no_ef": (noef["losses"][-1], "1"),
            "rank_param_diff_int8_ef": (ef["rank_param_diff"], "1"),
        },
        losses={k: v["losses"] for k, v in comp.items()},
    )
