"""Checks for the serving, latency and retrieval claims (seeds 001 §3.3, 002 §4, 004 §2.3/§3.1).

Evidence comes from :mod:`dsbench.bench.serving` (the same functions ``dsbench bench serving``
runs):

* ``001-dynamic-batching-latency-15-20pct`` — the LM's measured batch curve drives the SimPy
  queue; the class-aware policy (the better of its two variants) against single-timeout
  dynamic batching at load 0.5, judged against 15–20%; the other loads and static batching are
  reported, because the gain depends on both.
* ``004-async-service-code`` — the seed's handler raises ``AttributeError`` (``Future`` has no
  ``id``) after submitting the work; with the bug fixed, a thread pool vs one batching worker on
  127.0.0.1 under bounded load.
* ``002-mt-latency-150ms`` — Transformer-base greedy translation of 30 tokens, measured on the
  CPU; the GPU figure is an estimate from bytes and FLOPs.
* ``004-a100-latency-8.3ms-37pct`` — a ~7B FP16 decode step on an A100 is bandwidth bound; the
  CPU run shows the decode step reading its weights near the host's copy bandwidth and what
  the KV cache saves.
* ``002-rec-120k-qps-10m-items`` — brute force and IVF measured at a size that fits, and the
  FLOP-based extrapolation to 10M items on the hardware table's GPUs.
* ``002-yolov5-112fps-t4`` / ``002-yolov5-train-24h-to-9h`` — FLOP-based estimates from the
  published YOLOv5 GFLOPs; no YOLOv5 is run here.
"""

from __future__ import annotations

from dsbench.claims.registry import CheckContext, check
from dsbench.claims.verdicts import ANALYTIC, Outcome, Tolerance, Verdict, judge_value
from dsbench.core.results import Kind

# Ultralytics YOLOv5 README (v7.0 table, 640 px): parameters (M) and FLOPs (G) at 640x640 —
# the README's "FLOPs @640 (B)" column — and the single-V100 training times for 300 COCO epochs
# ("1/2/4/6/8 days on a V100 GPU" for n/s/m/l/x).
YOLOV5 = {  # name: (GFLOPs at 640, V100 days for 300 epochs)
    "yolov5n": (4.5, 1),
    "yolov5s": (16.5, 2),
    "yolov5m": (49.0, 4),
    "yolov5l": (109.1, 6),
    "yolov5x": (205.7, 8),
}
# NVIDIA T4 datasheet: 65 TFLOP/s FP16 tensor (mixed precision), 8.1 TFLOP/s FP32,
# 320 GB/s GDDR6. Kept here, not in simulators.hardware.GPUS: those are training GPUs whose
# BF16 peak the simulator defaults to, and Turing has no BF16 tensor cores.
T4_FP16_FLOPS = 65e12
T4_BANDWIDTH_BYTES_PER_S = 320e9
# NVIDIA V100 SXM2 datasheet: 125 TFLOP/s FP16 tensor. Used only for the A100 / V100 ratio.
V100_FP16_FLOPS = 125e12
COCO_TRAIN_IMAGES = 118_287  # COCO 2017 train


def _judge_range(low: float, high: float, measured: float, tol: Tolerance) -> Verdict:
    """A claimed range ``low–high``: supported when both bounds hold within the band."""
    verdicts = {judge_value(low, measured, ">=", tol), judge_value(high, measured, "<=", tol)}
    if verdicts == {Verdict.SUPPORTED}:
        return Verdict.SUPPORTED
    return Verdict.CONTRADICTED if Verdict.CONTRADICTED in verdicts else Verdict.PARTLY


CLASS_AWARE = ("class-aware-2", "class-aware-16")


def _label(params) -> str:
    """``static``, ``dynamic`` or ``class-aware-<sensitive_batch>``."""
    policy = params["policy"]
    return f"{policy}-{params['sensitive_batch']}" if policy == "class-aware" else policy


def best(rows, policies, load: float, metric: str = "mean_all_s", wait: float | None = None):
    """The lowest ``metric`` among ``policies`` at ``load`` (over their timeouts, or at ``wait``)."""
    return min(
        r.metrics[metric].value
        for r in rows
        if _label(r.params) in policies
        and r.params["load"] == load
        and (wait is None or r.params["max_wait_s"] == wait)
    )


def cut(rows, load: float, base: str, metric: str = "mean_all_s", wait: float | None = None):
    """Percent by which the best class-aware variant lowers ``metric`` below the best ``base``."""
    return 100 * (
        1 - best(rows, CLASS_AWARE, load, metric, wait) / best(rows, (base,), load, metric, wait)
    )


@check("001-dynamic-batching-latency-15-20pct")
def dynamic_batching(ctx: CheckContext) -> Outcome:
    from dsbench.bench.serving import batching_sweep, measure_service, one_thread

    with one_thread():
        record, service = measure_service(ctx.quick)
    paths = [ctx.save(record)]
    rows = list(batching_sweep(service, ctx.quick))
    paths += [ctx.save(r) for r in rows]

    loads = sorted({r.params["load"] for r in rows})
    long_wait = max(r.params["max_wait_s"] for r in rows)
    judged_load = min(loads, key=lambda x: abs(x - 0.5))
    gain = cut(rows, judged_load, "dynamic")
    verdict = _judge_range(15, 20, gain, ANALYTIC)

    def by_load(base: str, metric: str = "mean_all_s", wait: float | None = None) -> str:
        return ", ".join(f"{x:g}: {cut(rows, x, base, metric, wait):+.0f}%" for x in loads)

    per_load, at_long, vs_static = (
        by_load("dynamic"),
        by_load("dynamic", wait=long_wait),
        by_load("static"),
    )
    sensitive = by_load("dynamic", "mean_sensitive_s")
    summary = ctx.evidence(
        "dynamic-batching-gain",
        {
            "mean_latency_cut_vs_best_dynamic": (gain, "%"),
            "a_s": (service.a_s, "s"),
            "b_s": (service.b_s, "s"),
        },
        {"load": judged_load, "loads": loads},
        kind=Kind.SIMULATION,
        cut_vs_best_dynamic_by_load={str(x): cut(rows, x, "dynamic") for x in loads},
        cut_vs_dynamic_long_timeout_by_load={
            str(x): cut(rows, x, "dynamic", wait=long_wait) for x in loads
        },
        cut_vs_static_by_load={str(x): cut(rows, x, "static") for x in loads},
    )
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"Measured LM pass time a + b·B with a = {service.a_s * 1e3:.1f} ms, b = {service.b_s * 1e3:.2f} ms "
        f"(batching raises capacity {service.capacity_rps(16) / service.capacity_rps(1):.1f}x at batch 16). In the "
        f"SimPy queue (30% sensitive, max batch 16, each policy at its best timeout of 0, a/2, a, t(16)) "
        f"class-aware batching cuts the mean latency of all requests vs dynamic batching by {per_load} "
        f"(by load) and of sensitive requests by {sensitive}. Against dynamic batching stuck at the long "
        f"timeout t(16) = {long_wait * 1e3:.0f} ms the cut is {at_long}; against static batching {vs_static}. "
        "At timeout 0 class-aware batching with full sensitive batches is dynamic batching, so against "
        "a well-tuned dynamic batcher class-awareness can only move latency between the classes, "
        "not lower the mean. So 15–20% depends on the baseline and the load; judged at load "
        f"{judged_load:g} against the best-tuned dynamic batcher.",
        measured=gain,
        unit="%",
        evidence=(paths[0], summary),
    )


@check("004-async-service-code")
def async_service(ctx: CheckContext) -> Outcome:
    from dsbench.bench.serving import measure_service, one_thread, service_compare

    with one_thread():
        curve, service = measure_service(True)
    paths = [ctx.save(curve)]
    records = list(service_compare(service.a_s, service.b_s, ctx.quick))
    paths += [ctx.save(r) for r in records]
    seed = records[0].info
    loop = {r.params["backend"]: r.metrics for r in records[1:]}
    pool, batch = loop["thread-pool-16"], loop["batching-worker"]
    ratio = batch["throughput_rps"].value / pool["throughput_rps"].value
    return Outcome(
        ctx.claim_ids[0],
        Verdict.CONTRADICTED if seed["error"] else Verdict.PARTLY,
        f"The seed's handler, executed as written with ThreadPoolExecutor(16), raises "
        f"{seed['error'] or 'nothing'} after the work was submitted; the response carries no handle "
        "and there is no result endpoint, so no result is ever retrievable. With the bug fixed, "
        f"{records[1].params['clients']} closed-loop clients on 127.0.0.1 against one device "
        f"(measured b/a = {service.b_s / service.a_s:.3f}, scaled to a 10 ms batch-1 pass): thread pool "
        f"{pool['throughput_rps'].value:.0f} req/s, mean {pool['mean_s'].value * 1e3:.0f} ms, p99 "
        f"{pool['p99_s'].value * 1e3:.0f} ms; one batching worker {batch['throughput_rps'].value:.0f} req/s "
        f"({ratio:.1f}x), mean {batch['mean_s'].value * 1e3:.0f} ms, p99 {batch['p99_s'].value * 1e3:.0f} ms. "
        "16 threads on one device serialise as batches of one.",
        measured=ratio,
        unit="x",
        evidence=tuple(paths),
    )


@check("002-mt-latency-150ms")
def mt_latency(ctx: CheckContext) -> Outcome:
    from dsbench.bench.serving import gpu_estimates, mt_translation, one_thread

    with one_thread():
        measured = mt_translation(ctx.quick)
    estimate = gpu_estimates(ctx.quick)
    paths = (ctx.save(measured), ctx.save(estimate))
    cpu_ms = measured.metrics["latency_30_tokens"].value * 1e3
    est = {
        name: estimate.metrics[f"mt_30_tokens_{name}_eager"].value * 1e3
        for name in ("A100-80GB", "H100-SXM")
    }
    verdict = judge_value(150, cpu_ms, "<", ANALYTIC)
    text = (
        f"Transformer-base (60.6M parameters, 6+6 layers, 32k vocabulary), greedy decoding of 30 "
        f"tokens from a 30-token source at batch 1 with K/V caches: {cpu_ms:.0f} ms measured on this CPU "
        f"(one thread). ESTIMATE for FP16 on a GPU from weight bytes / HBM bandwidth plus ~4 µs per "
        f"kernel launch: {est['A100-80GB']:.1f} ms on an A100-80GB, {est['H100-SXM']:.1f} ms on an H100 — "
        "launch-bound, far below 150 ms. The claim names no hardware, model or sentence length."
    )
    if verdict is Verdict.SUPPORTED:
        return Outcome(ctx.claim_ids[0], verdict, text, measured=cpu_ms, unit="ms", evidence=paths)
    return Outcome(
        ctx.claim_ids[0],
        Verdict.NEEDS_GPU,
        text,
        measured=cpu_ms,
        unit="ms",
        evidence=paths,
        prediction=f"on one data-centre GPU a 30-token Transformer-base translation takes "
        f"~{est['A100-80GB']:.0f}–{3 * est['A100-80GB']:.0f} ms (estimate to 3x it for Python overhead), "
        "well under 150 ms",
    )


@check("004-a100-latency-8.3ms-37pct")
def a100_latency(ctx: CheckContext) -> Outcome:
    from dsbench.bench.serving import gpu_estimates, lm_decode, one_thread

    with one_thread():
        decode = lm_decode(ctx.quick)
    estimate = gpu_estimates(ctx.quick)
    paths = (ctx.save(decode), ctx.save(estimate))
    m, e = decode.metrics, estimate.metrics
    bound80 = e["7b_fp16_step_A100-80GB_bandwidth_bound"].value * 1e3
    bound40 = e["7b_fp16_step_A100-40GB_bandwidth_bound"].value * 1e3
    eager80 = e["7b_fp16_step_A100-80GB_eager"].value * 1e3
    return Outcome(
        ctx.claim_ids[0],
        Verdict.NEEDS_GPU,
        f"No model, batch or baseline is named; 8.3 ms fits one batch-1 decode step of a ~7B FP16 "
        f"model. ESTIMATE: reading 13.5 GB of weights takes {bound80:.1f} ms on an A100-80GB "
        f"({bound40:.1f} ms on 40GB), {eager80:.1f} ms with ~4 µs launches for ~516 kernels (what CUDA "
        f"graphs remove: {100 * (1 - bound80 / eager80):.0f}% less). CPU evidence that decode is "
        f"bandwidth bound: the cpu-small LM decode step reads its {m['weight_bytes'].value / 1e6:.0f} MB "
        f"of weights at {100 * m['fraction_of_copy_bandwidth'].value:.0f}% of this host's copy "
        f"bandwidth; the KV cache makes a step {m['cache_speedup'].value:.1f}x faster than recomputing "
        "the 128-token prefix. '37%' has no stated baseline (13.2 ms for a 37% cut, 11.4 ms for 1.37x).",
        measured=bound80,
        unit="ms",
        evidence=paths,
        prediction=f"a 7B FP16 decode step on an A100-80GB takes >= {bound80:.1f} ms (bandwidth bound); "
        f"8.3 ms means {100 * bound80 / 8.3:.0f}% of HBM bandwidth achieved — plausible with CUDA graphs "
        "or torch.compile; eager PyTorch is launch-bound above it",
    )


@check("002-rec-120k-qps-10m-items")
def retrieval_qps(ctx: CheckContext) -> Outcome:
    from dsbench.bench.serving import one_thread, retrieval

    with one_thread():
        records = list(retrieval(ctx.quick))
    paths = tuple(ctx.save(r) for r in records)
    brute, ivf = records[0].metrics, [r for r in records[1:]]
    good = next((r for r in ivf if r.metrics["recall_at_10"].value >= 0.95), ivf[-1])
    a100 = brute["A100-80GB_fp16_brute_qps_bound_at_10m"].value
    h100 = brute["H100-SXM_fp16_brute_qps_bound_at_10m"].value
    g = good.metrics
    return Outcome(
        ctx.claim_ids[0],
        Verdict.NEEDS_GPU,
        f"Measured at {records[0].params['items']:,} x 128 on this CPU: brute force "
        f"{brute['brute_qps'].value:.0f} QPS ({brute['brute_achieved_flops_per_s'].value / 1e9:.1f} GFLOP/s) ⇒ "
        f"{brute['cpu_brute_qps_at_10m'].value:.1f} QPS at 10M by FLOPs; IVF ({good.params['n_lists']} lists, "
        f"n_probe {good.params['n_probe']}) reaches recall@10 {g['recall_at_10'].value:.3f} scanning "
        f"{100 * g['scanned_fraction'].value:.1f}% of items, {g['qps'].value:.0f} QPS. Brute force at 10M x 128 "
        f"needs 2.56 GFLOP/query: the FP16 peak bounds it at {a100 / 1e3:.0f}k QPS on an A100 and "
        f"{h100 / 1e3:.0f}k on an H100, so 120k QPS brute force needs all of an A100 or a third of an H100; "
        f"IVF at that recall lowers the work {1 / g['scanned_fraction'].value:.0f}x (synthetic clustered data).",
        measured=brute["cpu_brute_qps_at_10m"].value,
        unit="QPS",
        evidence=paths,
        prediction=f"on one H100 brute force over 10M FP16 vectors is bounded at {h100 / 1e3:.0f}k QPS "
        f"(~{h100 / 2e3:.0f}k at 50% of peak); IVF exceeds 120k QPS at recall@10 >= 0.95",
    )


@check("002-yolov5-112fps-t4")
def yolov5_fps(ctx: CheckContext) -> Outcome:
    need = {name: 112 * gflops * 1e9 for name, (gflops, _) in YOLOV5.items()}
    frac = {name: 100 * flops / T4_FP16_FLOPS for name, flops in need.items()}
    path = ctx.evidence(
        "yolov5-t4-fps-flops",
        {f"{name}_t4_fp16_peak_fraction_at_112fps": (f, "%") for name, f in frac.items()},
        {"fps": 112, "resolution": 640, "batch": 1, "t4_fp16_flops": T4_FP16_FLOPS},
        source="Ultralytics YOLOv5 README FLOPs@640; NVIDIA T4 datasheet",
    )
    return Outcome(
        ctx.claim_ids[0],
        Verdict.NEEDS_GPU,
        "No YOLOv5 runs here; FLOP-based estimate from the published FLOPs at 640 px: 112 FPS needs "
        + ", ".join(f"{n[6:]} {frac[n]:.1f}%" for n in YOLOV5)
        + " of the T4's 65 TFLOP/s FP16 peak. The model size is unstated; for n/s/m that is a modest "
        "fraction (batch-1 convnets reach 10–30% of peak with TensorRT), for l/x it is not.",
        measured=frac["yolov5s"],
        unit="%",
        evidence=(path,),
        prediction=f"YOLOv5s/m FP16 at batch 1 on a T4 reaches 112 FPS at {frac['yolov5s']:.0f}–"
        f"{frac['yolov5m']:.0f}% of peak (plausible with TensorRT); YOLOv5x would need {frac['yolov5x']:.0f}%",
    )


@check("002-yolov5-train-24h-to-9h")
def yolov5_training(ctx: CheckContext) -> Outcome:
    from simulators.hardware import gpu

    a100 = gpu("A100-80GB").peak_flops("fp16")
    rows = {}
    for name, (gflops, v100_days) in YOLOV5.items():
        total = 3 * gflops * 1e9 * COCO_TRAIN_IMAGES * 300  # forward + backward, 300 epochs
        ideal_h = total / (8 * a100) / 3600
        # published V100 time scaled to 8 A100s by FP16 peak (an upper bound on the speed-up)
        scaled_h = v100_days * 24 * V100_FP16_FLOPS / a100 / 8
        rows[name] = (ideal_h, scaled_h, 100 * ideal_h / 24, 100 * ideal_h / 9)
    metrics = {}
    for name, (ideal_h, scaled_h, mfu24, mfu9) in rows.items():
        metrics |= {
            f"{name}_ideal_h": (ideal_h, "h"),
            f"{name}_v100_scaled_h": (scaled_h, "h"),
            f"{name}_mfu_at_24h": (mfu24, "%"),
            f"{name}_mfu_at_9h": (mfu9, "%"),
        }
    path = ctx.evidence(
        "yolov5-train-flops",
        metrics,
        {"epochs": 300, "images": COCO_TRAIN_IMAGES, "gpus": 8, "gpu": "A100-80GB"},
        source="Ultralytics YOLOv5 README (FLOPs@640, V100 training days); NVIDIA datasheets",
    )
    x = rows["yolov5x"]
    return Outcome(
        ctx.claim_ids[0],
        Verdict.NEEDS_GPU,
        "FLOP-based estimate, 300 COCO epochs (3x forward FLOPs per image): "
        + ", ".join(
            f"{n[6:]} {rows[n][0]:.1f} h at peak / {rows[n][1]:.1f} h from the README's V100 time"
            for n in YOLOV5
        )
        + f" on 8 A100s. 24 h -> 9 h is a 2.7x speed-up from an unstated baseline; for YOLOv5x the 9 h "
        f"means {x[3]:.0f}% MFU (24 h: {x[2]:.0f}%), plausible; for YOLOv5s both are far slower than the "
        "hardware allows (data-loading bound).",
        measured=x[1],
        unit="h",
        evidence=(path,),
        prediction=f"YOLOv5x trains 300 epochs on 8 A100s in ~{x[1]:.0f} h scaled from the published "
        "V100 time — close to 9 h; the 24 h baseline is not reproducible without its recipe",
    )
