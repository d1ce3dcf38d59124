"""``dsbench bench parallel``: tensor/data parallelism, memory tiers, offload and the data path.

Each section measures a technique against its unoptimised twin *in one run* and returns
records (saved as they are produced, so Ctrl-C keeps what was measured):

* ``tp`` — 2 gloo ranks on 127.0.0.1: the Megatron TP block equals the single-device block
  (forward, input and weight gradients), the seeds' ``ParallelLinear`` /
  ``tensor_parallel_forward`` as written, and fwd+bwd time of the TP block against the
  single-device block.
* ``ddp`` — 2 gloo ranks: DDP gradients equal full-batch ones; step time of compute only,
  compute then one all-reduce (no overlap), and DDP with small / default / one bucket; the
  int8 error-feedback hook: bytes per rank and loss against fp32 all-reduce.
* ``tiers`` — a Zipf trace through the device/host/disk store: hit rate per tier, bytes moved,
  replay time against all-on-device, host-only and disk-only; the seed's GPU dict growth.
* ``offload`` — layer-wise parameter swap (prefetch on/off) against resident; host Adam
  (ZeRO-Offload) against device Adam; host embedding against device embedding.
* ``datapath`` — ``np.memmap`` samples/s (cold and warm page cache) against in-RAM on a file
  larger than a configured memory budget; the split feature/post-processing pipeline,
  overlapped against serial.

Distributed ranks must call collectives the same number of times, so their timings use a
fixed repeat count in lock-step (a barrier before each sample) and are summarised with
:class:`dsbench.timing.Timing`; single-process timings use :func:`dsbench.timing.time_fn`.
Without a GPU the "device" is the CPU: speed ratios then say nothing about PCIe or HBM, and
the records carry ``device`` so nobody mistakes them for GPU numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from dsbench import environment
from dsbench.results import Kind, Metric, Record
from workloads.threads import torch_threads

SECTIONS = ("tp", "ddp", "tiers", "offload", "datapath")


@dataclass(frozen=True)
class BenchConfig:
    """quick: sizes for seconds on a 2-core CPU; world_size: gloo ranks; device: cpu/cuda."""

    quick: bool = True
    world_size: int = 2
    device: str = "cpu"
    budget_s: float = 0.3  # timer budget per single-process measurement
    repeats: int = 7  # lock-step samples per distributed measurement
    threads: int | None = None  # torch intra-op threads in this process (None: leave as is)
    timing: bool = True  # False: equivalence only in the distributed sections (checks)

    def __post_init__(self) -> None:
        if self.world_size < 2:
            raise ValueError(f"world_size({self.world_size}) must be >= 2 for parallel runs")
        if self.repeats < 1 or self.budget_s <= 0:
            raise ValueError(f"need repeats({self.repeats}) >= 1 and budget_s({self.budget_s}) > 0")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads({self.threads}) must be >= 1")

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def timer(self):
        from dsbench.timing import TimerConfig

        return TimerConfig(warmup_s=0.02, budget_s=self.budget_s, min_samples=5, max_time_s=20.0)


def _record(cfg: BenchConfig, name: str, params: dict, metrics: dict, **info: Any) -> Record:
    import torch

    return Record(
        kind=Kind.MEASUREMENT,
        name=name,
        params={
            "device": cfg.device,
            "mode": cfg.mode,
            "threads": torch.get_num_threads(),
            **params,
        },  # fmt: skip
        metrics={k: v if isinstance(v, Metric) else Metric(*v) for k, v in metrics.items()},
        info=info,
        tags=("parallel", cfg.mode),
        environment=environment.capture(),
    )


def _timed(fn: Callable[[], Any], cfg: BenchConfig):
    from dsbench.timing import time_fn

    return time_fn(fn, device=cfg.device, config=cfg.timer())


def ab_compare(fn_a: Callable[[], Any], fn_b: Callable[[], Any], cfg: BenchConfig, prefix: str):
    """Interleaved A/B (:mod:`dsbench.ab`): metrics ``{prefix}_time_a/_b``, ratio b/a, CI, p."""
    from dsbench.ab import interleave, workload_block

    block_s = cfg.budget_s / 4
    r = interleave(
        workload_block(fn_a, cfg.device, block_s),
        workload_block(fn_b, cfg.device, block_s),
        rounds=7 if cfg.quick else 15,
    )
    med = sorted(r.a)[len(r.a) // 2], sorted(r.b)[len(r.b) // 2]
    return {
        f"{prefix}_time_a": Metric(med[0], "s", r.a),
        f"{prefix}_time_b": Metric(med[1], "s", r.b),
        f"{prefix}_ratio": Metric(r.ratio, "x"),
        f"{prefix}_ratio_ci_low": Metric(r.ci[0], "x"),
        f"{prefix}_ratio_ci_high": Metric(r.ci[1], "x"),
        f"{prefix}_p_value": Metric(r.test.p, "1"),
    }


def lockstep(fn: Callable[[], Any], repeats: int, device: str = "cpu", warmup: int = 2):
    """Time ``fn`` ``repeats`` times on every rank together; a :class:`Timing` of the samples."""
    import torch
    import torch.distributed as dist

    from dsbench.timing import Timing

    cuda = device.startswith("cuda")
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        dist.barrier()
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - t0)
    return Timing(tuple(samples), 1, "perf_counter_ns", device)


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
    from dsbench.timing import Timing
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
    from dsbench.timing import Timing
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


# --- memory tiers ----------------------------------------------------------------------------------


def bench_tiers(cfg: BenchConfig) -> Iterator[Record]:
    import torch

    from workloads.training.tiers import Tier, TieredStore, seed_gpu_growth, top_k_mass, zipf_trace

    keys, value_bytes, accesses = (256, 4096, 2000) if cfg.quick else (4096, 65536, 40000)
    s, device_keys, host_keys = 1.1, keys // 20, keys // 4
    g = torch.Generator().manual_seed(0)
    values = {k: torch.randn(value_bytes // 4, generator=g) for k in range(keys)}
    trace = zipf_trace(keys, accesses, s=s, seed=0)
    total = keys * value_bytes
    layouts = {  # (device bytes, host bytes)
        "tiered": (device_keys * value_bytes, host_keys * value_bytes),
        "all_device": (total, 0),
        "host_only": (0, host_keys * value_bytes),
        "disk_only": (0, 0),
    }
    metrics: dict[str, Any] = {}
    for label, (dev_b, host_b) in layouts.items():
        with TieredStore(dev_b, host_b, cfg.device) as store:
            for k, v in values.items():
                store.put(k, v)
            for k in trace:  # the cold pass: hit rates and bytes from an empty cache
                store.get(int(k))
            st = store.stats
            for tier in Tier:
                metrics[f"{label}_hit_rate_{tier.value}"] = (100 * st.hit_rate(tier), "%")
            metrics[f"{label}_bytes_moved"] = (float(sum(st.moved_bytes.values())), "B")
            steady = _timed(lambda store=store: [store.get(int(k)) for k in trace[:200]], cfg)
            metrics[f"{label}_fetch_time"] = Metric(
                steady.median_s / 200, "s", tuple(x / 200 for x in steady.samples_s)
            )
    dict_time = _timed(lambda: [values[int(k)] for k in trace[:200]], cfg)
    metrics["plain_dict_fetch_time"] = (dict_time.median_s / 200, "s")
    metrics["oracle_device_hit_rate"] = (100 * top_k_mass(keys, device_keys, s), "%")
    growth = seed_gpu_growth(trace, values)
    metrics["seed_gpu_tier_bytes"] = (float(growth[-1]), "B")
    metrics["tiered_device_budget_bytes"] = (float(device_keys * value_bytes), "B")
    yield _record(
        cfg,
        "parallel-memory-tiers",
        {"keys": keys, "value_bytes": value_bytes, "accesses": accesses, "zipf_s": s},
        metrics,
        note="hit rates and bytes from a cold replay; fetch times from steady replays",
    )


# --- offload ---------------------------------------------------------------------------------------


def _lm_stack(cfg: BenchConfig):
    import torch
    from torch import nn

    from workloads.lm.config import LMConfig
    from workloads.lm.model import Block

    c, layers, b, t = (128, 4, 1, 32) if cfg.quick else (1024, 8, 1, 128)
    torch.manual_seed(0)
    lm_cfg = LMConfig(block_size=t, n_layers=layers, n_heads=4, d_model=c, d_ff=4 * c)
    stack = nn.ModuleList(Block(lm_cfg, i) for i in range(layers)).to(cfg.device).eval()
    return stack, torch.randn(b, t, c, device=cfg.device)


def bench_offload(cfg: BenchConfig) -> Iterator[Record]:
    yield from bench_swap(cfg)
    yield bench_host_adam(cfg)
    yield bench_host_embedding(cfg)


def bench_swap(cfg: BenchConfig) -> Iterator[Record]:
    import copy

    import torch

    from workloads.training.offload import OffloadedLayers, param_bytes

    dev = cfg.device
    stack, x = _lm_stack(cfg)
    c, layers = x.shape[-1], len(stack)

    def resident():
        with torch.no_grad():
            y = x
            for layer in stack:
                y = layer(y)
            return y

    metrics: dict[str, Any] = {}
    for prefetch in (True, False):
        off = OffloadedLayers(copy.deepcopy(stack).cpu(), dev, prefetch=prefetch)
        with torch.no_grad():
            err = (off(x) - resident()).abs().max().item()
        label = "prefetch" if prefetch else "no_prefetch"
        metrics.update(ab_compare(resident, lambda off=off: _no_grad(off, x), cfg, label))
        metrics[f"peak_param_bytes_{label}"] = (float(off.peak_resident_bytes), "B")
        metrics[f"moved_bytes_per_forward_{label}"] = (float(param_bytes(stack)), "B")
        metrics[f"max_abs_err_{label}"] = (err, "1")
    metrics["resident_param_bytes"] = (float(param_bytes(stack)), "B")
    yield _record(
        cfg,
        "parallel-offload-swap",
        {"d_model": c, "layers": layers},
        metrics,
        note="A = all resident, B = offloaded; ratio = time B / time A (the slowdown); "
        "peak_param_bytes_* is the smallest device budget each offloaded run fits in, while "
        "the resident run needs resident_param_bytes",
    )


def _no_grad(module, x):
    import torch

    with torch.no_grad():
        return module(x)


def bench_host_adam(cfg: BenchConfig) -> Record:
    import copy

    import torch

    from workloads.training.offload import HostAdam

    stack, x = _lm_stack(cfg)

    a, bmod = copy.deepcopy(stack).train(), copy.deepcopy(stack).train()
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-4)
    opt_b = HostAdam(bmod.parameters(), lr=1e-4)

    def step(model, opt):
        opt.zero_grad()
        y = x
        for layer in model:
            y = layer(y)
        y.square().mean().backward()
        opt.step()

    for _ in range(3):  # same steps from the same start: the updates must agree
        step(a, opt_a)
        step(bmod, opt_b)
    pairs = zip(a.parameters(), bmod.parameters(), strict=True)
    err = max((p - q).abs().max().item() for p, q in pairs)
    n = sum(p.numel() for p in a.parameters())
    ab = ab_compare(lambda: step(a, opt_a), lambda: step(bmod, opt_b), cfg, "adam")
    return _record(
        cfg,
        "parallel-host-adam",
        {"params": n},
        {
            **ab,
            "device_bytes_resident": (float(16 * n), "B"),
            "device_bytes_offloaded": (float(8 * n), "B"),
            "budget_needing_offload": (float(12 * n), "B"),
            "max_abs_param_err_after_3_steps": (err, "1"),
        },
        note="A = device Adam, B = host Adam; budget_needing_offload: 12 B/param fits "
        "weights+grads (8 B) but not weights+grads+Adam moments (16 B)",
    )


def bench_host_embedding(cfg: BenchConfig) -> Record:
    import torch
    from torch import nn

    from workloads.training.offload import HostEmbedding

    vocab, c, b, t = (8000, 128, 4, 64) if cfg.quick else (128000, 1024, 8, 512)
    torch.manual_seed(0)
    emb = nn.Embedding(vocab, c).to(cfg.device)
    host = HostEmbedding(emb, cfg.device)
    idx = torch.randint(0, vocab, (b, t), device=cfg.device)

    def fwd_bwd(module):
        module.zero_grad(set_to_none=False)
        module(idx).sum().backward()

    ab = ab_compare(lambda: fwd_bwd(emb), lambda: fwd_bwd(host), cfg, "embedding")
    return _record(
        cfg,
        "parallel-host-embedding",
        {"vocab": vocab, "d_model": c, "batch": b, "seq": t},
        {
            **ab,
            "device_bytes_saved": (float(vocab * c * 4), "B"),
            "copied_bytes_per_step": (float(2 * b * t * c * 4), "B"),
        },
        note="A = embedding on the device, B = table on the host; fwd+bwd",
    )


# --- data path ---------------------------------------------------------------------------------------


def bench_datapath(cfg: BenchConfig) -> Iterator[Record]:
    yield bench_mmap(cfg)
    yield bench_pipeline(cfg)


def bench_mmap(cfg: BenchConfig, workdir: Path | None = None) -> Record:
    import tempfile

    from workloads.training import datapath as D

    tokens, seq, batch = (1 << 21, 1024, 8) if cfg.quick else (1 << 28, 2048, 16)
    budget = (2 * tokens) // 4  # the loader may use a quarter of the file's size
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = D.write_token_file(Path(tmp) / "train.bin", tokens)
        try:
            D.InRAMTokens(path, seq, budget_bytes=budget)
            refused = False
        except D.MemoryBudgetError:
            refused = True
        mm = D.MmapTokens(path, seq)
        starts = D.random_starts(len(mm), 16 * batch, seed=1)
        cold_supported = mm.drop_page_cache()
        t0 = time.perf_counter()
        for i in range(0, len(starts), batch):
            mm.batch(starts[i : i + batch])
        cold_s = (time.perf_counter() - t0) / (len(starts) // batch)
        ram = D.InRAMTokens(path, seq)  # ignores the budget: the baseline the budget forbids
        ab = ab_compare(lambda: ram.batch(starts[:batch]), lambda: mm.batch(starts[:batch]), cfg,
                        "ram_vs_mmap")  # fmt: skip
    return _record(
        cfg,
        "parallel-mmap-tokens",
        {
            "tokens": tokens,
            "seq": seq,
            "batch": batch,
            "file_bytes": 2 * tokens,
            "memory_budget_bytes": budget,
        },  # fmt: skip
        {
            "samples_per_s_mmap_cold": (batch / cold_s, "samples/s"),
            "samples_per_s_mmap_warm": (batch / ab["ram_vs_mmap_time_b"].value, "samples/s"),
            "samples_per_s_in_ram": (batch / ab["ram_vs_mmap_time_a"].value, "samples/s"),
            **ab,
            "in_ram_refused_over_budget": (float(refused), "bool"),
        },
        note="the file is larger than the configured memory budget, not than this machine's RAM",
        cold_cache_dropped=cold_supported,
    )


def bench_pipeline(cfg: BenchConfig) -> Record:
    import torch

    from workloads.training import datapath as D

    n, b, img, width, rounds = (6, 16, 32, 8, 1000) if cfg.quick else (32, 64, 64, 16, 1000)
    net = D.feature_net(width=width).to(cfg.device)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(b, 3, img, img, generator=g) for _ in range(n)]
    feats = [D.extract(net, x, cfg.device) for x in batches]
    t_feat = _timed(lambda: [D.extract(net, x, cfg.device) for x in batches], cfg)
    t_post = _timed(lambda: [D.post_process(f, rounds) for f in feats], cfg)
    ab = ab_compare(
        lambda: D.run_serial(net, batches, cfg.device, rounds),
        lambda: D.run_overlapped(net, batches, cfg.device, rounds),
        cfg,
        "serial_vs_overlapped",
    )
    serial_s, over_s = (
        ab["serial_vs_overlapped_time_a"].value,
        ab["serial_vs_overlapped_time_b"].value,
    )
    same = D.run_serial(net, batches, cfg.device, rounds) == D.run_overlapped(
        net, batches, cfg.device, rounds
    )
    images = n * b
    return _record(
        cfg,
        "parallel-split-pipeline",
        {"batches": n, "batch": b, "image": img, "rounds": rounds},
        {
            "images_per_s_serial": (images / serial_s, "images/s"),
            "images_per_s_overlapped": (images / over_s, "images/s"),
            "speedup": (serial_s / over_s, "x"),
            **ab,
            "overlap_bound": (D.overlap_bound(t_feat.median_s, t_post.median_s), "x"),
            "post_over_feature_time": (t_post.median_s / t_feat.median_s, "1"),
            "results_equal": (float(same), "bool"),
        },
    )


BENCHES: dict[str, Callable[[BenchConfig], Iterator[Record]]] = {
    "tp": bench_tp,
    "ddp": bench_ddp,
    "tiers": bench_tiers,
    "offload": bench_offload,
    "datapath": bench_datapath,
}


# --- the command -------------------------------------------------------------------------------------


@click.command("parallel")
@click.option("--quick/--full", "quick", default=True, help="quick: seconds on a 2-core CPU")
@click.option(
    "--only", multiple=True, type=click.Choice(SECTIONS), help="run only this section (repeatable)"
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/parallel"),
    show_default=True,
    help="folder the records are written to",
)
@click.option("--world-size", type=int, default=2, show_default=True, help="gloo ranks")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N]")
@click.option(
    "--threads", type=int, default=None, help="torch threads in this process (default: torch's)"
)
def parallel(
    quick: bool, only: tuple[str, ...], out: Path, world_size: int, device: str, threads: int | None
) -> None:
    """Measure TP/DP equivalence and timing, memory tiers, offload and the data path.

    Every record is written as soon as it is measured; Ctrl-C keeps what was stored.
    """
    from dsbench import results
    from dsbench.measure import check_device
    from dsbench.progress import track

    if world_size < 2:
        raise click.BadParameter(f"{world_size} < 2; parallel runs need 2 or more ranks",
                                 param_hint="--world-size")  # fmt: skip
    check_device(device)
    if device != "cpu" and any(s in ("tp", "ddp") for s in (only or SECTIONS)):
        raise click.UsageError(
            "tp/ddp run gloo ranks on the CPU here; on GPUs launch them with "
            "`torchrun --nproc-per-node N -m workloads.training.launch suite`"
        )
    if threads is not None and threads < 1:
        raise click.BadParameter(f"{threads} < 1", param_hint="--threads")
    cfg = BenchConfig(quick=quick, world_size=world_size, device=device, threads=threads)
    with torch_threads(threads):
        for section in track(list(only or SECTIONS), "parallel bench"):
            for record in BENCHES[section](cfg):
                path = results.save(record, out)
                click.echo(f"{_summary(record)}\n  -> {path}")


def _summary(record: Record, width: int = 100) -> str:
    """The record's name and every metric, wrapped to ``width`` columns."""
    from dsbench.units import si

    items = []
    for k, m in record.metrics.items():
        if m.value is None:
            continue
        if m.unit in ("1", "bool"):
            items.append(f"{k}={m.value:.3g}")
        elif m.unit in ("x", "%"):
            items.append(f"{k}={m.value:.3g}{m.unit}")
        else:
            items.append(f"{k}={si(m.value, m.unit)}")
    lines, line = [f"{record.name}:"], " "
    for item in items:
        if len(line) + len(item) + 2 > width:
            lines.append(line.rstrip(","))
            line = " "
        line += f" {item},"
    lines.append(line.rstrip(","))
    return "\n".join(lines)
