"""``dsbench bench serving``: batching, the request loop, decode latency and retrieval, as records.

Each part is a generator of :class:`~dsbench.core.results.Record` s, so the command stores every
record the moment it exists (Ctrl-C keeps what was measured) and the claim checks in
:mod:`dsbench.claims.checks.serving` reuse the same functions:

* ``batching`` — the LM's real batch-latency curve (timed with :mod:`dsbench.core.timing`), the
  fitted service model ``a + b·B``, then the SimPy queue over loads for static, dynamic and the
  two class-aware policies (:mod:`workloads.inference.serving`).
* ``service`` — the seed's thread-pool handler run as written (its ``future.id`` error
  recorded), then a closed-loop load test on 127.0.0.1 of the thread pool (bug fixed) against
  one batching worker, on a simulated device with the measured ``a`` and ``b``.
* ``latency`` — batch-1 decode step of the LM with and without the KV cache, the host's copy
  bandwidth, greedy translation of 30 tokens with Transformer-base, and the labelled GPU
  estimates from bytes and FLOPs (:func:`workloads.inference.latency.decode_step_estimate`).
* ``retrieval`` — brute-force and IVF top-k: QPS and recall@10 at a size that fits, and the
  FLOP-based extrapolation to 10M items.

Absolute times are for the machine in each record's environment; the comparisons (ratios) are
made inside one run. Latencies are medians of the timer's samples; *rates* (QPS, bytes/s) use
the fastest sample, as STREAM reports the best of n, because pre-emption on a shared machine
only ever slows a sample down. All CPU timing runs with one torch thread (:func:`one_thread`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import click

from dsbench.core.results import Kind, Metric, Record
from workloads.threads import one_thread


class Part(StrEnum):
    BATCHING = "batching"
    SERVICE = "service"
    LATENCY = "latency"
    RETRIEVAL = "retrieval"


def _record(
    kind: Kind, name: str, params: dict, metrics: dict[str, Any], quick: bool, **info
) -> Record:
    """``metrics`` values are Metric or (value, unit)."""
    from dsbench.core import environment

    return Record(
        kind=kind,
        name=name,
        params=params,
        metrics={k: v if isinstance(v, Metric) else Metric(*v) for k, v in metrics.items()},
        info=info,
        tags=("serving", "quick" if quick else "full"),
        environment=environment.capture(),
    )


def _timer(quick: bool) -> Callable[[Callable[[], Any]], Any]:
    from dsbench.core.timing import TimerConfig, time_fn

    config = (
        TimerConfig(warmup_s=0.0, budget_s=0.1, min_samples=5, max_time_s=5.0)
        if quick
        else TimerConfig()
    )
    return lambda fn: time_fn(fn, config=config)


# --- batching -------------------------------------------------------------------------------


def measure_service(quick: bool) -> tuple[Record, Any]:
    """Time the cpu-small LM forward at batch sizes 1…N and fit ``a + b·B``."""
    import torch

    from workloads.inference.serving import fit_service_model, lm_forward_fn, measure_batch_curve
    from workloads.lm.config import preset
    from workloads.lm.model import LM

    torch.manual_seed(0)
    model = LM(preset("cpu-small")).eval()
    # a request is 8 tokens (a short prompt or a few decode steps): the regime where a pass's
    # fixed cost (weights read, per-layer overhead) and its per-request cost are comparable
    seq_len, sizes = (8, [1, 2, 4, 8, 16]) if quick else (8, [1, 2, 4, 8, 16, 32])
    timer, timings = _timer(quick), {}

    def time_batch(fn):  # the fastest sample: the pass without pre-emption by other processes
        timings[len(timings)] = timer(fn)
        return timings[len(timings) - 1].min_s

    with one_thread():
        curve = measure_batch_curve(lambda b: lm_forward_fn(model, b, seq_len), sizes, time_batch)
    service = fit_service_model(curve)
    metrics = {
        f"pass_time_b{b}": Metric(t, "s", timings[i].samples_s) for i, (b, t) in enumerate(curve)
    }
    metrics |= {
        "a_s": (service.a_s, "s"),
        "b_s": (service.b_s, "s"),
        "max_batching_gain": (
            (service.a_s + service.b_s) / service.b_s if service.b_s else None,
            "x",
        ),
    }
    record = _record(
        Kind.MEASUREMENT,
        "serving-batch-curve",
        {"model": "lm cpu-small", "seq_len": seq_len, "batch_sizes": sizes, "threads": 1},
        metrics,
        quick,
        fit="t(B) = a + b·B, least squares over the fastest sample per batch",
        device="cpu",
    )
    return record, service


def batching_configs(service: Any, max_batch: int = 16) -> list:
    """The compared policies. Static batching has no timeout; dynamic and both class-aware
    variants run at every timeout in ``(0, a/2, a, t(max_batch))`` so that each policy can be
    judged at its best timeout, not at one picked for it."""
    from workloads.inference.serving import BatchingConfig, Policy

    waits = (0.0, service.a_s / 2, service.a_s, service.time_s(max_batch))
    configs = [BatchingConfig(Policy.STATIC, max_batch, 0.0)]
    for wait in waits:
        configs += [
            BatchingConfig(Policy.DYNAMIC, max_batch, wait),
            BatchingConfig(Policy.CLASS_AWARE, max_batch, wait, sensitive_batch=2),
            BatchingConfig(Policy.CLASS_AWARE, max_batch, wait, sensitive_batch=max_batch),
        ]
    return configs


def batching_sweep(service: Any, quick: bool) -> Iterator[Record]:
    """One simulation record per (policy, load)."""
    from workloads.inference.serving import load_sweep

    loads = (0.2, 0.5, 0.8) if quick else (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    n = 2_000 if quick else 40_000
    configs = batching_configs(service)
    for load in loads:
        rows = load_sweep(service, configs, [load], n_requests=n)
        for cfg, row in zip(configs, rows, strict=True):
            params = {
                "policy": row["policy"],
                "load": load,
                "sensitive_batch": cfg.sensitive_batch,
                "max_batch": cfg.max_batch,
                "max_wait_s": cfg.max_wait_s,
                "n_requests": n,
                "a_s": service.a_s,
                "b_s": service.b_s,
                "sensitive_fraction": 0.3,
            }
            metrics = {
                k: (v, "s" if k.endswith("_s") else ("req/s" if k.endswith("_rps") else "1"))
                for k, v in row.items()
                if k not in ("policy", "load")
            }
            yield _record(Kind.SIMULATION, "serving-batching", params, metrics, quick)


def batching(quick: bool) -> Iterator[Record]:
    record, service = measure_service(quick)
    yield record
    yield from batching_sweep(service, quick)


# --- service ---------------------------------------------------------------------------------


def service_compare(a_s: float, b_s: float, quick: bool, pass_s: float = 0.01) -> Iterator[Record]:
    """The seed's handler, then thread pool vs batching worker under bounded load.

    The simulated device keeps the measured ratio ``b / a`` but is scaled so that a batch-1
    pass lasts ``pass_s`` (what matters for batching is the ratio; the scale keeps runs short).
    """
    from workloads.inference import service as svc

    scale = pass_s / (a_s + b_s)
    a_s, b_s = a_s * scale, b_s * scale
    seed = svc.run_seed_handler(svc.SimulatedDevice(a_s, b_s))
    yield _record(
        Kind.MEASUREMENT,
        "serving-seed-handler",
        {"max_workers": 16},
        {"raised": (float(seed["error"] is not None), "1")},
        quick,
        **seed,
        source=svc.SEED_SOURCE,
    )
    clients = 32
    per_client = max(
        2, min(8 if quick else 32, int((1.5 if quick else 10.0) / (clients * (a_s + b_s))))
    )
    backends = {
        "thread-pool-16": lambda: svc.ThreadPoolBackend(svc.SimulatedDevice(a_s, b_s), 16),
        "batching-worker": lambda: svc.BatchingBackend(svc.SimulatedDevice(a_s, b_s), 16, a_s / 4),
    }
    for name, make in backends.items():
        result = svc.load_test(
            make, clients, per_client, timeout_s=max(10.0, 100 * (a_s + 16 * b_s))
        )
        metrics = {
            k: (v, "req/s" if k == "throughput_rps" else ("count" if k == "errors" else "s"))
            for k, v in result.summary().items()
        }
        params = {
            "backend": name,
            "clients": clients,
            "per_client": per_client,
            "a_s": a_s,
            "b_s": b_s,
        }
        params |= (
            {"max_batch": 16, "max_wait_s": a_s / 4}
            if name == "batching-worker"
            else {"max_workers": 16}
        )
        yield _record(
            Kind.MEASUREMENT,
            "serving-request-loop",
            params,
            metrics,
            quick,
            transport="asyncio TCP on 127.0.0.1, line-delimited JSON",
            device="SimulatedDevice: one pass at a time, a + b·B seconds",
        )


# --- latency ---------------------------------------------------------------------------------


def copy_bandwidth(quick: bool) -> float:
    """Host memory bandwidth from timing a large tensor copy (read + write bytes / s)."""
    import torch

    buf = torch.ones(2**24 if quick else 2**26)  # 64 MiB / 256 MiB
    timing = _timer(quick)(lambda: buf.clone())
    return 2 * buf.numel() * buf.element_size() / timing.min_s


def lm_decode(quick: bool) -> Record:
    """Batch-1 decode step of the cpu-small LM: with the KV cache vs recomputing the prefix."""
    import torch

    from workloads.inference import latency
    from workloads.lm.config import preset
    from workloads.lm.model import LM, param_counts

    cfg = preset("cpu-small")
    torch.manual_seed(0)
    lm = LM(cfg).eval()
    prompt = torch.randint(0, 256, (1, 128), generator=torch.Generator().manual_seed(0))
    _, cache = latency.lm_prefill(lm, prompt)
    token = prompt[:, -1]
    timer = _timer(quick)
    cached = timer(lambda: latency.lm_decode_step(lm, token, list(cache)))
    full = timer(torch.no_grad()(lambda: lm(torch.cat([prompt, token[:, None]], 1))[0][:, -1]))
    weight_bytes = param_counts(cfg)["params"] * 4
    bandwidth = copy_bandwidth(quick)
    achieved = weight_bytes / cached.min_s  # a rate: the fastest sample, like the copy bandwidth
    return _record(
        Kind.MEASUREMENT,
        "decode-step-lm",
        {"preset": "cpu-small", "position": 128, "batch": 1, "dtype": "float32"},
        {
            "step_cached": cached.metric(),
            "step_recompute": full.metric(),
            "cache_speedup": (full.median_s / cached.median_s, "x"),
            "weight_bytes": (weight_bytes, "B"),
            "achieved_weight_bytes_per_s": (achieved, "B/s"),
            "copy_bandwidth": (bandwidth, "B/s"),
            "fraction_of_copy_bandwidth": (achieved / bandwidth, "1"),
        },
        quick,
        device="cpu",
    )


def mt_translation(quick: bool) -> Record:
    """Greedy translation of a 30-token sentence into 30 tokens with Transformer-base (CPU)."""
    import torch

    from workloads.inference import latency

    cfg = latency.seq2seq_preset("transformer-base")
    torch.manual_seed(0)
    model = latency.Seq2Seq(cfg).eval()
    src = torch.randint(2, cfg.vocab_size, (1, 30), generator=torch.Generator().manual_seed(0))
    from dsbench.core.timing import TimerConfig, time_fn

    # one warm-up translation, then samples until the budget (at least one in quick mode)
    config = (
        TimerConfig(warmup_s=0.0, budget_s=0.0, min_samples=1, max_time_s=10.0)
        if quick
        else TimerConfig(budget_s=5.0)
    )
    timing = time_fn(lambda: latency.translate(model, src, 30), config=config)
    counts = latency.seq2seq_decode_counts(cfg, 30, 30)
    return _record(
        Kind.MEASUREMENT,
        "mt-translate-latency",
        {"preset": "transformer-base", "src_len": 30, "new_tokens": 30, "batch": 1},
        {
            "latency_30_tokens": timing.metric(),
            "params": (counts["params"], "count"),
            "flops": (counts["flops"], "FLOP"),
            "achieved_flops_per_s": (counts["flops"] / timing.median_s, "FLOP/s"),
        },
        quick,
        device="cpu",
        timer=timing.summary(),
    )


def gpu_estimates(quick: bool) -> Record:
    """ESTIMATES (not measurements): batch-1 decode on datasheet GPUs from bytes and FLOPs."""
    from simulators.hardware import gpu
    from workloads.inference import latency

    metrics: dict[str, Any] = {}
    llama7b = 6.74e9  # LLaMA-7B parameters (Touvron et al. 2023, table 2)
    for name in ("A100-40GB", "A100-80GB", "H100-SXM"):
        spec = gpu(name)
        eager = latency.decode_step_estimate(2 * llama7b, 2 * llama7b, spec, kernels=32 * 16 + 4)
        graph = latency.decode_step_estimate(2 * llama7b, 2 * llama7b, spec, kernels=0)
        metrics[f"7b_fp16_step_{name}_eager"] = (eager["estimate_s"], "s")
        metrics[f"7b_fp16_step_{name}_bandwidth_bound"] = (graph["estimate_s"], "s")
        cfg = latency.seq2seq_preset("transformer-base")
        counts = latency.seq2seq_decode_counts(cfg, 30, 30)
        step = latency.decode_step_estimate(
            2 * counts["decoder_weights_per_step"],
            2 * counts["decoder_weights_per_step"],
            spec,
            kernels=counts["kernels_per_step"],
        )
        enc = latency.decode_step_estimate(
            2 * counts["encoder_weights"],
            2 * 30 * counts["encoder_weights"],
            spec,
            kernels=cfg.n_encoder * 12,
        )
        metrics[f"mt_30_tokens_{name}_eager"] = (enc["estimate_s"] + 30 * step["estimate_s"], "s")
    return _record(
        Kind.ANALYTIC,
        "decode-gpu-estimate",
        {"dtype": "fp16", "batch": 1},
        metrics,
        quick,
        label="ESTIMATE from datasheet bytes/s and FLOP/s plus kernel launches; not measured",
        launch_s=latency.LAUNCH_S,
        kernels_per_7b_step=32 * 16 + 4,
    )


def latency_part(quick: bool) -> Iterator[Record]:
    yield lm_decode(quick)
    yield mt_translation(quick)
    yield gpu_estimates(quick)


# --- retrieval -------------------------------------------------------------------------------


def retrieval(quick: bool) -> Iterator[Record]:
    """Brute force and IVF at a size that fits: QPS, recall@10, FLOP-based 10M extrapolation."""
    from simulators.hardware import gpu
    from workloads.inference import retrieval as rt

    n, d, q, lists = (50_000, 128, 256, 256) if quick else (1_000_000, 128, 1024, 1024)
    items = rt.clustered_vectors(n, d, n_clusters=1000, seed=0)
    queries = rt.clustered_vectors(q, d, n_clusters=1000, seed=0, sample_seed=1)
    timer = _timer(quick)
    brute = timer(lambda: rt.brute_force_topk(queries, items, 10))
    exact = rt.brute_force_topk(queries, items, 10)[1]
    achieved = rt.brute_force_flops(n, d) * q / brute.min_s
    target = 10_000_000
    metrics = {
        "brute_qps": (q / brute.min_s, "QPS"),
        "brute_achieved_flops_per_s": (achieved, "FLOP/s"),
        "cpu_brute_qps_at_10m": (achieved / rt.brute_force_flops(target, d), "QPS"),
    }
    for name in ("A100-80GB", "H100-SXM"):
        metrics[f"{name}_fp16_brute_qps_bound_at_10m"] = (
            gpu(name).peak_flops("fp16") / rt.brute_force_flops(target, d),
            "QPS",
        )
    yield _record(
        Kind.MEASUREMENT,
        "retrieval-brute-force",
        {"items": n, "dim": d, "queries": q, "k": 10},
        metrics,
        quick,
        data="Gaussian mixture, 1000 clusters",
        device="cpu",
    )
    index = rt.IVFIndex.build(items, lists, iters=8)
    for n_probe in (1, 2, 4, 8, 16):
        timing = timer(lambda p=n_probe: index.search(queries, 10, p))
        found = index.search(queries, 10, n_probe)[1]
        probe = (queries @ index.centroids_LD.T).topk(n_probe, dim=1).indices
        frac = index.scanned_fraction(probe)
        flops_10m = rt.ivf_flops(target, d, lists * int((target / n) ** 0.5), frac)
        yield _record(
            Kind.MEASUREMENT,
            "retrieval-ivf",
            {"items": n, "dim": d, "queries": q, "k": 10, "n_lists": lists, "n_probe": n_probe},
            {
                "qps": (q / timing.min_s, "QPS"),
                "recall_at_10": (rt.recall_at_k(found, exact), "1"),
                "scanned_fraction": (frac, "1"),
                "H100-SXM_fp16_qps_bound_at_10m": (
                    gpu("H100-SXM").peak_flops("fp16") / flops_10m,
                    "QPS",
                ),
                "cpu_qps_at_10m_by_flops": (achieved / flops_10m, "QPS"),
            },
            quick,
            extrapolation="same scanned fraction at 10M; lists scaled by sqrt(10M / n)",
            time=timing.summary(),
        )


# --- the command ------------------------------------------------------------------------------


def part_records(
    part: Part, quick: bool, service: tuple[float, float] = (0.01, 0.001)
) -> Iterator[Record]:
    if part is Part.BATCHING:
        return batching(quick)
    if part is Part.SERVICE:
        return service_compare(*service, quick)
    if part is Part.LATENCY:
        return latency_part(quick)
    return retrieval(quick)


@click.command("serving")
@click.option(
    "--quick/--full", "quick", default=True, help="quick: seconds per part on a CPU (default)"
)
@click.option(
    "--part",
    "parts",
    multiple=True,
    type=click.Choice([p.value for p in Part]),
    help="run only this part (repeatable); default: all",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/serving"),
    show_default=True,
    help="folder for the records (one JSON file each)",
)
def serving(quick: bool, parts: tuple[str, ...], out: Path) -> None:
    """Serving with batching, a real request loop, decode latency and vector retrieval.

    Records are stored as they are produced; Ctrl-C keeps what was measured.
    """
    from dsbench.core import results
    from dsbench.core.progress import track

    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"{out} exists and is not a folder", param_hint="--out")
    chosen = [Part(p) for p in parts] or list(Part)
    service = (0.01, 0.001)
    count = 0
    for part in track(chosen, "serving bench"):
        for record in part_records(part, quick, service):
            results.save(record, out)
            count += 1
            if record.name == "serving-batch-curve":
                service = (record.metrics["a_s"].value, record.metrics["b_s"].value)
            click.echo(_line(record))
    click.echo(f"{count} records in {out}")


_SHOWN = {  # the metrics worth a glance, per record name (others: the first four)
    "serving-batching": ("mean_all_s", "p99_all_s", "mean_sensitive_s", "throughput_rps"),
    "serving-request-loop": ("mean_s", "p99_s", "throughput_rps"),
    "decode-step-lm": ("step_cached", "step_recompute", "fraction_of_copy_bandwidth"),
    "retrieval-ivf": ("qps", "recall_at_10", "scanned_fraction"),
}


def _line(record: Record) -> str:
    """One human line per record: name, its defining params, a few metrics."""
    keys = ("policy", "sensitive_batch", "max_wait_s", "load", "backend", "n_probe", "preset")
    params = record.params
    if params.get("policy") not in (None, "class-aware"):
        params = {k: v for k, v in params.items() if k != "sensitive_batch"}
    shown = " ".join(
        f"{k}={params[k]:.3g}" if isinstance(params[k], float) else f"{k}={params[k]}"
        for k in keys
        if k in params
    )
    names = _SHOWN.get(record.name, tuple(record.metrics)[:4])
    values = ", ".join(
        f"{k}={record.metrics[k].value:.4g} {record.metrics[k].unit}"
        for k in names
        if k in record.metrics and record.metrics[k].value is not None
    )
    return f"{record.name:22s} {shown:58s} {values}"
