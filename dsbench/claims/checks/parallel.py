"""Checks for tensor parallelism, offload, memory tiers and the data path (issue 6, part B).

Evidence comes from ``dsbench bench parallel``'s sections (:mod:`dsbench.bench.parallel`),
run at quick or full size, and from formulas over the hardware table
(:mod:`simulators.hardware`) where a CPU cannot stand in for a GPU:

* ``001-tp-forward-allreduce``, ``003-parallel-linear-code`` — the seeds' code run as written
  on 2 gloo ranks next to Megatron column/row-parallel layers that match ``nn.Linear`` and the
  LM block: wrong code is *contradicted*, with what goes wrong.
* ``000-3tier-memory-hierarchy`` — a byte-bounded device/host/disk store on a Zipf trace works
  (hit rates near the oracle), the seed's unbounded GPU dict does not: *partly*.
* ``000-cpu-gpu-hybrid-partition``, ``002-smart-param-swap``, ``000-embedding-on-cpu`` —
  exact memory savings and equal results measured here; the time cost is PCIe traffic, which a
  CPU cannot measure, so *needs-gpu* with the cost predicted from PCIe and peak FLOP/s.
* ``002-hetero-a100-cpu-37pct`` — overlapping device features with CPU branch logic: speed-up
  measured on the CPU and its bound (t_f + t_p) / max(t_f, t_p); the A100 figure *needs-gpu*.
* ``002-mmap-loader-tb`` — ``np.memmap`` reads from a file larger than the configured memory
  budget (that the in-RAM loader refuses), cold and warm; the TB scale is judged against the
  mapping's bound, the process virtual address space.

Quick mode runs with one torch thread (stated in every record) so that A/B comparisons on a
shared 2-core machine are not dominated by OpenMP threads waiting for each other.
"""

from __future__ import annotations

from dsbench.claims.checks.analytic import figure
from dsbench.claims.registry import CheckContext, check
from dsbench.claims.verdicts import Outcome, Verdict, judge_speedup, judge_value
from dsbench.core.results import Kind

# x86-64 Linux: 47-bit user virtual address space (4-level page tables) = 128 TiB per process.
USER_ADDRESS_SPACE_BYTES = 2**47
PCIE, GPU = "PCIe4", "A100-80GB"  # the seeds' hardware: A100 servers, PCIe Gen4 hosts


def _cfg(ctx: CheckContext):
    from dsbench.bench.parallel import BenchConfig

    return BenchConfig(
        quick=ctx.quick,
        threads=1 if ctx.quick else None,
        budget_s=0.2 if ctx.quick else 0.5,
        timing=not ctx.quick,  # the TP verdicts rest on equivalence; --full adds timings
    )


def _run(ctx: CheckContext, bench, *args) -> list:
    """Run a bench section under the check's config; save its records; (records, paths)."""
    from dsbench.bench.parallel import torch_threads

    cfg = _cfg(ctx)
    with torch_threads(cfg.threads):
        out = bench(cfg, *args)
        records = [out] if hasattr(out, "metrics") else list(out)
    return records, tuple(ctx.save(r) for r in records)


def _m(record, name: str) -> float:
    return record.metrics[name].value


# --- tensor parallel ---------------------------------------------------------------------------


@check("001-tp-forward-allreduce", "003-parallel-linear-code")
def tensor_parallel_code(ctx: CheckContext) -> list[Outcome]:
    from dsbench.bench.parallel import bench_tp

    (block, seed), paths = _run(ctx, bench_tp)
    tp_err = max(_m(block, k) for k in block.metrics if k.endswith("_err"))
    info = seed.info
    rel = _m(seed, "tp_forward_rel_err_vs_own_slice")
    tp_forward = Outcome(
        "001-tp-forward-allreduce",
        Verdict.CONTRADICTED,
        f"Run on 2 gloo ranks, `tensor_parallel_forward` as written raises "
        f"{info['tp_forward_as_written']}. With num_devices supplied it splits W by output "
        f"columns and all-reduces the local products: the result has shape "
        f"{info['tp_forward_output_shape']} instead of {info['tp_forward_reference_shape']} and "
        f"differs from this rank's true output slice by {rel:.0%} of the largest output (it "
        "sums different output features). Column split needs an all-gather; an all-reduce "
        "needs a row split with x split the same way. The Megatron TP block built that way "
        f"matches the single-device LM block in forward and backward to {tp_err:.1e}.",
        measured=rel,
        unit="relative error",
        evidence=paths,
    )
    linear = Outcome(
        "003-parallel-linear-code",
        Verdict.CONTRADICTED,
        f"`ParallelLinear` as written, replicated x: {info['parallel_linear_replicated_x']} "
        "(the all-gathered input is world x in wide, the weight in wide). Fed a feature shard "
        "of x instead, its forward is right (error "
        f"{_m(seed, 'parallel_linear_sharded_x_forward_err'):.1e}) but the output does not "
        f"require grad (requires_grad={info['parallel_linear_output_requires_grad']}): "
        "dist.all_gather has no autograd, so the weights never learn. out_features=7 on 2 "
        f"ranks gives {int(_m(seed, 'parallel_linear_out7_width'))} outputs (the remainder is "
        "dropped). Column/row-parallel layers with Megatron's f/g autograd functions match "
        f"nn.Linear outputs and input/weight gradients to {tp_err:.1e}.",
        measured=tp_err,
        unit="max abs error of the corrected layers",
        evidence=paths,
    )
    return [tp_forward, linear]


# --- memory tiers ----------------------------------------------------------------------------------


@check("000-3tier-memory-hierarchy")
def three_tier_memory(ctx: CheckContext) -> Outcome:
    from dsbench.bench.parallel import bench_tiers

    (rec,), paths = _run(ctx, bench_tiers)
    p = rec.params
    budget = _m(rec, "tiered_device_budget_bytes")
    seed_bytes = _m(rec, "seed_gpu_tier_bytes")
    dev_hit, oracle = _m(rec, "tiered_hit_rate_device"), _m(rec, "oracle_device_hit_rate")
    host_hit, disk_hit = _m(rec, "tiered_hit_rate_host"), _m(rec, "tiered_hit_rate_disk")
    speed = _m(rec, "disk_only_fetch_time") / _m(rec, "tiered_fetch_time")
    return Outcome(
        ctx.claim_ids[0],
        Verdict.PARTLY,
        f"The hierarchy works once its tiers are bounded: on a Zipf(s={p['zipf_s']}) trace of "
        f"{p['accesses']} reads over {p['keys']} values of {p['value_bytes']} B, a device tier "
        f"holding 5% of the bytes serves {dev_hit:.0f}% of reads (an oracle pinning the "
        f"hottest keys: {oracle:.0f}%), the host tier {host_hit:.0f}%, disk {disk_hit:.0f}%; "
        f"steady fetches are {speed:.1f}x faster than disk-only, and every value equals a plain "
        f"dict's. The seed's code does not bound L0: its gpu_cache dict grew to "
        f"{seed_bytes / budget:.0f}x that device budget ({seed_bytes:.3g} B, every key read "
        "twice) and would exhaust a GPU; disk reads are not promoted, CPU hits are duplicated, "
        "and LRUCache(size=1e9) names no unit.",
        measured=dev_hit,
        unit="% device-tier hits",
        evidence=paths,
    )


# --- offload -----------------------------------------------------------------------------------------


def _pcie_gpu():
    from simulators.hardware import gpu, link

    return link(PCIE).achievable_bytes_per_s, gpu(GPU)


@check("000-cpu-gpu-hybrid-partition")
def cpu_gpu_partition(ctx: CheckContext) -> Outcome:
    from dsbench.bench.parallel import bench_host_adam

    (rec,), paths = _run(ctx, bench_host_adam)
    bw, g = _pcie_gpu()
    peak = g.peak_flops("bf16")
    # 8 B/param of copies per step vs 6·P·tokens FLOPs: hidden when tokens >= 8·peak / (6·bw).
    tokens_to_hide = 8 * peak / (6 * bw)
    ratio = _m(rec, "adam_ratio")
    return Outcome(
        ctx.claim_ids[0],
        Verdict.NEEDS_GPU,
        f"ZeRO-Offload-style partition built and checked: Adam on the host gives the same "
        f"parameters as Adam on the device (max error "
        f"{_m(rec, 'max_abs_param_err_after_3_steps'):.1e} after 3 steps) and halves the "
        f"device's model-state bytes (16 -> 8 B/param: {_m(rec, 'device_bytes_resident'):.3g} "
        f"-> {_m(rec, 'device_bytes_offloaded'):.3g} B here; a device budget of 12 B/param "
        f"fits only the offloaded run). Its price is 8 B/param of PCIe copies per step; here "
        f"the 'device' is the CPU, so the measured step-time ratio {ratio:.2f}x "
        f"(CI {_m(rec, 'adam_ratio_ci_low'):.2f}-{_m(rec, 'adam_ratio_ci_high'):.2f}) says "
        "nothing about PCIe. The seed gives no figure for 'co-operate efficiently'.",
        measured=ratio,
        unit="x step time (CPU stand-in)",
        evidence=paths,
        prediction=f"on an {GPU} over {PCIE} ({bw / 1e9:.1f} GB/s achievable) the copies "
        f"cost 8P/{bw / 1e9:.1f}e9 s per step against 6·P·tokens/{peak / 1e12:.0f}e12 s of "
        f"compute: hidden only at >= {tokens_to_hide:,.0f} tokens per step per GPU (plus the "
        "host Adam time), so offload saves 8 B/param at a visible slowdown for small batches",
    )


@check("002-smart-param-swap")
def smart_param_swap(ctx: CheckContext) -> Outcome:
    from dsbench.bench.parallel import bench_swap
    from workloads.training.offload import predicted_swap_overhead

    (rec,), paths = _run(ctx, bench_swap)
    bw, g = _pcie_gpu()
    peak, d = g.peak_flops("bf16"), 4096
    layer_bytes, per_token_flops = 12 * d * d * 2, 2 * 12 * d * d  # bf16 block weights
    slow = {t: predicted_swap_overhead(layer_bytes, per_token_flops * t, bw, peak)
            for t in (1, 2048, 16384)}  # fmt: skip
    frac = _m(rec, "peak_param_bytes_prefetch") / (_m(rec, "moved_bytes_per_forward_prefetch") or 1)
    return Outcome(
        ctx.claim_ids[0],
        Verdict.NEEDS_GPU,
        f"Layer-wise parameter swap with prefetch of the next layer, on the LM's blocks: "
        f"outputs equal the resident stack's (max error {_m(rec, 'max_abs_err_prefetch'):.1e}); "
        f"peak parameter bytes on the device fall to {frac:.0%} of the stack (2 of "
        f"{rec.params['layers']} layers). Here host and 'device' are the same CPU, so the "
        f"measured slowdown ({_m(rec, 'prefetch_ratio'):.2f}x with prefetch, "
        f"{_m(rec, 'no_prefetch_ratio'):.2f}x without) is memcpy and thread cost, not PCIe. "
        "Swapping must be scheduled ahead of use (which layer next), not triggered 'when "
        "memory runs short' as the seed says.",
        measured=_m(rec, "prefetch_ratio"),
        unit="x forward time (CPU stand-in)",
        evidence=paths,
        prediction=f"{GPU} over {PCIE}, d_model {d} bf16 layer: max(copy, compute)/compute = "
        f"{slow[1]:.0f}x at 1 token per forward (decoding), {slow[2048]:.1f}x at 2,048 tokens, "
        f"{slow[16384]:.1f}x at 16,384 tokens: swapping is nearly free only for large batches",
    )


@check("000-embedding-on-cpu")
def embedding_on_cpu(ctx: CheckContext) -> Outcome:
    from dsbench.bench.parallel import bench_host_embedding

    (rec,), paths = _run(ctx, bench_host_embedding)
    bw, g = _pcie_gpu()
    d, tokens = 4096, 8 * 2048
    copy_s = 2 * tokens * d * 2 / bw  # activations down, gradients up, bf16
    gather_s = 2 * tokens * d * 2 / g.hbm_bandwidth_bytes_per_s
    saved = {v: v * d * 2 for v in (32_000, 256_000)}
    return Outcome(
        ctx.claim_ids[0],
        Verdict.NEEDS_GPU,
        f"Embedding on the host with rows copied to the device: outputs and the table's "
        f"gradient equal the device embedding's; it saves the V x d table "
        f"({_m(rec, 'device_bytes_saved'):.3g} B here, plus its gradient and optimizer state) "
        f"and adds {_m(rec, 'copied_bytes_per_step'):.3g} B of copies per step. On this CPU the "
        f"fwd+bwd time ratio is {_m(rec, 'embedding_ratio'):.2f}x "
        f"(p = {_m(rec, 'embedding_p_value'):.2g}), which says nothing about PCIe. The advice "
        "trades GPU memory for PCIe traffic and a host-side sparse update; 'zero-copy' reads "
        "over PCIe are slower still for repeated access.",
        measured=_m(rec, "embedding_ratio"),
        unit="x step time (CPU stand-in)",
        evidence=paths,
        prediction=f"{GPU}, d={d} bf16, 16,384 tokens per step: copies take "
        f"{copy_s * 1e3:.1f} ms over {PCIE} vs {gather_s * 1e3:.2f} ms for the lookup in HBM, "
        f"to save {saved[32_000] / 1e9:.2f}-{saved[256_000] / 1e9:.1f} GB of weights "
        "(V = 32K-256K): worth it only when that memory is what limits the batch",
    )


# --- data path ---------------------------------------------------------------------------------------


@check("002-hetero-a100-cpu-37pct")
def hetero_split(ctx: CheckContext) -> Outcome:
    from dsbench.bench.parallel import bench_pipeline

    (rec,), paths = _run(ctx, bench_pipeline)
    claimed = 1 + figure(ctx.claim(), unit="%") / 100
    measured, bound = _m(rec, "speedup"), _m(rec, "overlap_bound")
    verdict = judge_speedup(claimed, measured, same_hardware=False)
    caveat = (
        f" The measured {measured:.2f}x exceeds what overlap can give ({bound:.2f}x from the "
        "stage times): the machine's load changed between samples, so read this run's "
        "speed-up as noise and the bound as the result."
        if measured > 1.1 * bound
        else ""
    )
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"Feature extraction (a CNN) and per-image branch logic (Python) overlapped through a "
        f"queue vs run in turn, same results: {measured:.2f}x images/s on this CPU, where the "
        f"bound (t_f + t_p) / max(t_f, t_p) is {bound:.2f}x (post-processing took "
        f"{_m(rec, 'post_over_feature_time'):.2f} of the feature time; the CI of the ratio is "
        f"{_m(rec, 'serial_vs_overlapped_ratio_ci_low'):.2f}-"
        f"{_m(rec, 'serial_vs_overlapped_ratio_ci_high'):.2f}). Overlap never exceeds 2x, and "
        f"+37% means the CPU logic costs ~{claimed - 1:.0%} of the GPU time when fully hidden; "
        "the seed states no baseline, and running control flow on the CPU is what PyTorch "
        f"does anyway.{caveat}",
        measured=measured,
        unit="x",
        evidence=paths,
        prediction=f"on an A100 the gain is (t_gpu + t_cpu) / max(t_gpu, t_cpu) <= 2x; "
        f"+37% needs t_cpu = 0.37 t_gpu exactly hidden; this CPU run predicts "
        f"{bound:.2f}x as the best case for its own stage ratio",
    )


@check("002-mmap-loader-tb")
def mmap_loader(ctx: CheckContext) -> Outcome:
    from dsbench.bench.parallel import bench_mmap

    (rec,), paths = _run(ctx, bench_mmap)
    claimed_tb = figure(ctx.claim(), unit="TB")
    bound_tb = USER_ADDRESS_SPACE_BYTES / 1e12
    verdict = judge_value(claimed_tb, bound_tb, ">=")
    path = ctx.evidence(
        "mmap-address-space-bound",
        {"user_virtual_address_space": (USER_ADDRESS_SPACE_BYTES, "B")},
        {"platform": "x86-64 Linux, 4-level page tables"},
        kind=Kind.ANALYTIC,
    )
    p = rec.params
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"np.memmap serves random {p['seq']}-token windows from a {p['file_bytes']:.3g} B file "
        f"that the in-RAM loader refuses under a {p['memory_budget_bytes']:.3g} B budget "
        f"(refused: {bool(_m(rec, 'in_ram_refused_over_budget'))}): "
        f"{_m(rec, 'samples_per_s_mmap_cold'):,.0f} samples/s with the page cache dropped, "
        f"{_m(rec, 'samples_per_s_mmap_warm'):,.0f} warm, vs "
        f"{_m(rec, 'samples_per_s_in_ram'):,.0f} in RAM. The file exceeds a configured "
        "budget, not this machine's RAM. A mapping touches only the sampled pages, so file "
        f"size is bounded by the process address space ({bound_tb:.0f} TB on x86-64 Linux), "
        "not RAM; at TB scale the limit is the storage's random-read rate (the cold figure).",
        measured=bound_tb,
        unit="TB addressable",
        evidence=(*paths, path),
    )
