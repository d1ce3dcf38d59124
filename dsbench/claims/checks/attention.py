"""Checks for the attention claims (seeds 000 §2.1–2.2, §5; 001 §1.2; 003 §3.1–3.2; 004 §2.1, §3.2).

Every verdict comes from the attention workloads of :mod:`workloads.attention`, run here:

* **Scaling claims** (O(n), O(n log n)) — time and measured peak memory against T, the
  log-log slope fitted by least squares and judged against the claimed exponent with a band of
  ±0.15 (:data:`SLOPE`, the issue's tolerance). O(n log n) against O(n) is decided by which
  model's slope over the same lengths lies nearer the measured one.
* **Speed-up claims** — the variants are timed in the same run, interleaved, fastest sample
  kept (:func:`dsbench.bench.attention.race`). On CPU the checks run torch on one thread and
  time with that thread's CPU clock, so other processes on a shared machine do not distort
  the ratios (:func:`dsbench.bench.attention.measurement_clock`). A claim that names a GPU
  (FlashAttention-2) gets ``needs-gpu`` with the CPU ratio and what it predicts; a claim that
  names no hardware is judged on the machine at hand with :func:`judge_speedup`.
* **Memory claims** — peak bytes measured by
  :class:`~workloads.attention.peak_memory.PeakMemoryProbe` (a child process's high-water mark
  on CPU, the allocator's peak on CUDA), or the bytes of the KV-cache tensors really allocated.
* **Seed code** — the seeds' snippets run as written, and their failure is the evidence.

Sizes live in :data:`SIZES` (``quick``: seconds on a 2-core CPU; ``full``: minutes), so tests
can shrink them. Thresholds and tolerances are module constants, stated where they are used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dsbench.claims.checks.analytic import figure
from dsbench.claims.checks.attention_kernels import (  # also registers the kernel checks
    CROSSOVER,
    MEAS,
    SLOPE,
    _size,
    _timer,
    flash_vs_math,
    kv_blocks,
    one_thread,
    progressive_attention,
    slope,
    time_variants,
    weight_pruning,
)
from dsbench.claims.checks.simulator import combine
from dsbench.claims.registry import CheckContext, check
from dsbench.claims.verdicts import Outcome, Verdict, judge_speedup, judge_value


def n_log_n_slope(lengths: Sequence[int]) -> float:
    """The log-log slope an exactly n·log n cost shows over ``lengths`` (a bit above 1)."""
    return slope(lengths, [t * math.log(t) for t in lengths])


def nearer_model(measured: float, lengths: Sequence[int]) -> str:
    """``"n"`` or ``"n log n"``: whose slope over ``lengths`` is nearer the measured one."""
    return "n" if abs(measured - 1) <= abs(measured - n_log_n_slope(lengths)) else "n log n"


# --- 000 §2.1: sliding-window attention ------------------------------------------------------


@check("000-swa-linear-complexity")
@one_thread
def swa_linear(ctx: CheckContext) -> Outcome:
    """Blocked SWA (fixed W) against dense: time and peak memory exponents in T."""
    from workloads.attention.measure import SweepShape, make_sweep_case
    from workloads.attention.peak_memory import PeakMemoryProbe

    size = _size(ctx, "swa-linear")
    lengths = size.pop("lengths")
    shape = SweepShape(**size)
    times: dict[str, list[float]] = {"dense-sdpa": [], "sliding-window": []}
    peaks: dict[str, list[float]] = {"dense-naive": [], "sliding-window": []}
    with PeakMemoryProbe() as probe:
        for t in lengths:
            for v, s in time_variants(ctx, list(times), t, shape).items():
                times[v].append(s)
            peaks["sliding-window"].append(
                probe.measure(make_sweep_case, "sliding-window", t, shape)
            )
            if t in lengths[:2]:  # T×T scores: two lengths show the exponent, cheaply
                peaks["dense-naive"].append(probe.measure(make_sweep_case, "dense-naive", t, shape))
    e = {f"{v}/time": slope(lengths, ys) for v, ys in times.items()}
    e |= {f"{v}/memory": slope(lengths[: len(ys)], ys) for v, ys in peaks.items()}
    rate = _flop_rate(ctx, lengths[-1], shape)
    claimed = figure(ctx.claim(), "slope")
    verdict = combine(
        judge_value(claimed, e[f"sliding-window/{k}"], "=", SLOPE) for k in ("time", "memory")
    )
    path = ctx.evidence(
        "swa-scaling",
        {**{f"{k}_exponent": (v, "exponent") for k, v in e.items()},
         "swa_flop_rate_vs_matmul": (rate.ratio, "x"),
         "swa_flop_rate_vs_matmul_executed": (rate.executed_ratio, "x")},
        {"lengths": list(lengths), **size},
        kind=MEAS, times_s=times, peak_bytes=peaks, clock="thread CPU time, 1 thread",
    )  # fmt: skip
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"Blocked causal SWA (W={shape.window}) over T={lengths[0]}–{lengths[-1]}: time grows as "
        f"T^{e['sliding-window/time']:.2f} and measured peak memory as "
        f"T^{e['sliding-window/memory']:.2f}, against dense SDPA time T^{e['dense-sdpa/time']:.2f} "
        f"and materialised dense memory T^{e['dense-naive/memory']:.2f}: O(n·w), linear for a "
        f"fixed window. At T={lengths[-1]} the kernel does {rate.ratio:.0%} of the useful FLOP/s "
        f"of a plain bmm of its block shapes ({rate.executed_ratio:.0%} counting the masked "
        "corners it computes).",
        measured=e["sliding-window/time"],
        unit="exponent",
        evidence=(path,),
    )


def _flop_rate(ctx: CheckContext, t: int, shape):
    from dsbench.bench.attention import measurement_clock
    from dsbench.core.timing import time_fn
    from workloads.attention.measure import swa_matmul_flop_rate

    with measurement_clock(shape.device, 1) as now_ns:
        return swa_matmul_flop_rate(
            t, lambda fn: time_fn(fn, shape.device, _timer(ctx), now_ns).min_s, shape, rounds=2
        )


@check("000-swa-pseudocode")
@one_thread
def swa_pseudocode(ctx: CheckContext) -> Outcome:
    """Run seed 000 §2.1's ``sliding_window_attention`` as written, then minimally patched."""
    import torch

    from workloads.attention import band_reference, run_seed_swa_pseudocode
    from workloads.attention import sliding_window_attention as swa

    window = int(figure(ctx.claim(), "window"))
    report = run_seed_swa_pseudocode(n=1300 if ctx.quick else 5000, d=16, window_size=window)
    q, k, v = torch.randn(3, 2, 2, 1300, 16, generator=torch.Generator().manual_seed(0))
    fixed_err = float((swa(q, k, v, window) - band_reference(q, k, v, window)).abs().max())
    path = ctx.evidence(
        "seed-swa-pseudocode",
        {"misaligned_rows": (100 * report.misaligned_row_fraction, "%"),
         "rows_before_truncation": (report.rows_before_truncation, "rows"),
         "padded_key_weight": (report.padded_key_weight, "1"),
         "patched_max_abs_err_vs_band": (report.max_abs_err_vs_band, "1"),
         "patched_max_abs_err_vs_overlap": (report.max_abs_err_vs_overlap, "1"),
         "fixed_max_abs_err_vs_band": (fixed_err, "1")},
        {"n": report.n, "window_size": window},
        kind=MEAS, literal_error=report.literal_error, split_fixed_error=report.split_fixed_error,
    )  # fmt: skip
    works = report.runs_as_written and report.max_abs_err_vs_band < 1e-4
    return Outcome(
        ctx.claim_ids[0],
        Verdict.SUPPORTED if works else Verdict.CONTRADICTED,
        f"As written the code raises '{report.literal_error}' (split([d, d, d]) of a d-wide x; "
        f"there is no q/k/v projection). Splitting into thirds, it raises "
        f"'{report.split_fixed_error}' (F.pad pads the feature dim). Patched to pad the "
        f"sequence, it concatenates {report.rows_before_truncation} rows for n={report.n} and "
        f"cuts to n, so {report.misaligned_row_fraction:.0%} of the rows come from another "
        f"position; real queries put up to {report.padded_key_weight:.2f} of their weight on "
        "unmasked zero padding; nothing is causal. Its output differs from banded attention by "
        f"up to {report.max_abs_err_vs_band:.2f}. The blocked kernel matches the banded-mask "
        f"reference to {fixed_err:.1e}.",
        measured=100 * report.misaligned_row_fraction,
        unit="% misaligned rows",
        evidence=(path,),
    )


@check("000-swa-threshold-2k")
@one_thread
def swa_threshold(ctx: CheckContext) -> Outcome:
    """Where SWA with W=512 starts to beat dense fused attention, in time and in memory."""
    from dsbench.bench.attention import crossover_length
    from workloads.attention.measure import SweepShape, make_sweep_case
    from workloads.attention.peak_memory import PeakMemoryProbe

    claimed = figure(ctx.claim(), "sequence length")
    size = _size(ctx, "swa-threshold")
    lengths = size.pop("lengths")
    shape = SweepShape(**size, window=512)
    time_ratio, mem_ratio = [], []
    with PeakMemoryProbe() as probe:
        for t in lengths:
            s = time_variants(ctx, ("dense-sdpa", "sliding-window"), t, shape)
            time_ratio.append(s["sliding-window"] / s["dense-sdpa"])
            m = {v: probe.measure(make_sweep_case, v, t, shape) for v in s}
            mem_ratio.append(m["sliding-window"] / max(m["dense-sdpa"], 1))
    cross = crossover_length(lengths, time_ratio)
    mem_cross = crossover_length(lengths, mem_ratio)
    if cross is None:  # never ahead by the last length: the crossover lies beyond it
        beyond = lengths[-1] / claimed
        verdict = Verdict.CONTRADICTED if beyond >= CROSSOVER.partly else Verdict.PARTLY
    else:
        verdict = judge_value(claimed, cross, "=", CROSSOVER)
    path = ctx.evidence(
        "swa-vs-dense-crossover",
        {"time_crossover_len": (cross, "tokens"), "memory_crossover_len": (mem_cross, "tokens"),
         **{f"time_ratio_swa_over_dense_T{t}": (r, "x") for t, r in zip(lengths, time_ratio,
                                                                          strict=True)},
         **{f"memory_ratio_swa_over_dense_T{t}": (r, "x") for t, r in zip(lengths, mem_ratio,
                                                                           strict=True)}},
        {"lengths": list(lengths), "window": 512, **size},
        kind=MEAS, baseline="dense causal SDPA (fused)", clock="thread CPU time, 1 thread",
    )  # fmt: skip
    where = "not within the sweep" if cross is None else f"from T ≈ {cross:.0f}"
    mem = "at no length in the sweep" if mem_cross is None else f"from T ≈ {mem_cross:.0f}"
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"On this CPU, SWA (W=512, blocked) is faster than fused dense SDPA {where} "
        f"(time ratio {time_ratio[0]:.2f} at T={lengths[0]}, {time_ratio[-1]:.2f} at "
        f"T={lengths[-1]}); it uses less peak memory {mem} (fused SDPA already holds O(T) "
        f"memory). A 2K threshold is judged supported when the time crossover lies within "
        f"{1 + CROSSOVER.support:g}x of it. The crossover moves with the dense kernel: against "
        "FlashAttention on a GPU it is expected later.",
        measured=cross,
        unit="tokens",
        evidence=(path,),
    )


# --- 000 §2.2: top-k sparse query attention ---------------------------------------------------


@check("000-sqa-topk-6x-at-1024")
@one_thread
def sqa_topk(ctx: CheckContext) -> Outcome:
    """Exact and block-selection top-k against dense SDPA (fused and math) at T = 1024."""
    import torch

    from workloads.attention import naive_attention
    from workloads.attention.measure import SweepShape, make_sweep_case

    claimed = figure(ctx.claim(), "speed-up")
    size = _size(ctx, "topk")
    t = size.pop("seq_len")
    shape = SweepShape(**size)
    variants = ("dense-sdpa", "sdpa-math", "topk-exact", "block-topk")
    s = time_variants(ctx, variants, t, shape)
    speedup = {v: s["dense-sdpa"] / s[v] for v in ("topk-exact", "block-topk")}
    speedup_math = {v: s["sdpa-math"] / s[v] for v in ("topk-exact", "block-topk")}
    q, k, v_ = torch.randn(3, 1, shape.heads, t, shape.head_dim,
                           generator=torch.Generator().manual_seed(0))  # fmt: skip
    dense = naive_attention(q, k, v_)
    errors = {}
    for name in ("topk-exact", "block-topk"):
        fn, _ = make_sweep_case(name, t, shape)  # same seed as q, k, v above
        errors[name] = float((fn() - dense).norm() / dense.norm())
    best = max(speedup, key=speedup.get)
    pairs_ratio = (t * (t + 1) / 2) / (t * shape.top_k)
    keys_block = shape.n_blocks * shape.block
    path = ctx.evidence(
        "topk-vs-dense-1024",
        {**{f"time_{v}": (x, "s") for v, x in s.items()},
         **{f"speedup_vs_sdpa_{v}": (x, "x") for v, x in speedup.items()},
         **{f"speedup_vs_math_{v}": (x, "x") for v, x in speedup_math.items()},
         **{f"rel_error_{v}": (x, "1") for v, x in errors.items()},
         "dense_over_topk_pairs": (pairs_ratio, "x")},
        {"seq_len": t, **size},
        kind=MEAS, clock="thread CPU time, 1 thread",
    )  # fmt: skip
    return Outcome(
        ctx.claim_ids[0],
        judge_speedup(claimed, speedup[best], same_hardware=True),
        f"At T={t} on this CPU, against fused dense SDPA: exact top-k (K={shape.top_k}) runs "
        f"{speedup['topk-exact']:.2f}x — it must score all T² pairs before choosing — and block "
        f"selection ({shape.n_blocks} blocks of {shape.block}) {speedup['block-topk']:.2f}x "
        f"(against the math backend {speedup_math['block-topk']:.2f}x), with relative output "
        f"error {errors['block-topk']:.2f} vs dense on unstructured inputs. Even if choosing "
        f"were free, K={shape.top_k} keys per query would cut the causal pairs at most "
        f"{pairs_ratio:.0f}x at T={t} (block selection, {keys_block} keys: "
        f"{pairs_ratio * shape.top_k / keys_block:.0f}x); the selection, gathers and the "
        "unfused softmax eat that margin at this length. DeepSeek's NSA reports its large "
        "speed-ups at 64K context.",
        measured=speedup[best],
        unit="x",
        evidence=(path,),
    )


# --- 001 §1.2: local + global sparse attention -----------------------------------------------


@check("001-sparse-attn-n-log-n")
@one_thread
def local_global_scaling(ctx: CheckContext) -> Outcome:
    """Cost exponent of local (W=32) + global attention vs O(n) and O(n log n): the operation
    count decides, the measured time is reported beside it."""
    from workloads.attention.local_global import local_global_pairs
    from workloads.attention.measure import SweepShape

    size = _size(ctx, "local-global")
    lengths = size.pop("lengths")
    shape = SweepShape(**size)
    times: dict[str, list[float]] = {"dense-sdpa": [], "local-global": []}
    for t in lengths:
        for v, s in time_variants(ctx, list(times), t, shape).items():
            times[v].append(s)
    e_sparse, e_dense = slope(lengths, times["local-global"]), slope(lengths, times["dense-sdpa"])
    pairs = [local_global_pairs(t, shape.window, shape.n_global) for t in lengths]
    e_flops, e_nlogn = slope(lengths, pairs), n_log_n_slope(lengths)
    # The claim is about asymptotic cost: judge the operation count (exact, machine-free). The
    # measured time corroborates it, but over 3-5 lengths on a CPU its exponent moves by
    # ±0.2 between runs, more than the 0.13 that separates n from n log n here.
    model, time_model = nearer_model(e_flops, lengths), nearer_model(e_sparse, lengths)
    path = ctx.evidence(
        "local-global-scaling",
        {"local_global_time_exponent": (e_sparse, "exponent"),
         "dense_time_exponent": (e_dense, "exponent"),
         "local_global_flop_exponent": (e_flops, "exponent"),
         "n_log_n_exponent_over_lengths": (e_nlogn, "exponent")},
        {"lengths": list(lengths), **size},
        kind=MEAS, times_s=times, nearer_model=model, time_nearer_model=time_model,
        clock="thread CPU time, 1 thread",
    )  # fmt: skip
    return Outcome(
        ctx.claim_ids[0],
        Verdict.CONTRADICTED if model == "n" else Verdict.PARTLY,
        f"Local (W={shape.window}) + {shape.n_global} global tokens, one softmax, over "
        f"T={lengths[0]}–{lengths[-1]}: time grows as T^{e_sparse:.2f} (its FLOP count as "
        f"T^{e_flops:.2f}); n log n would show T^{e_nlogn:.2f} over these lengths and dense "
        f"SDPA shows T^{e_dense:.2f}. The operation count is O({model}) (the measured time "
        f"is nearer O({time_model}), within the timing noise of a CPU). With fixed W "
        "and G the cost is O(n·(W+G)), linear; O(n log n) belongs to LSH/sorting schemes "
        "(Reformer), and G ∝ n would make it O(n²).",
        measured=e_flops,
        unit="exponent (operation count)",
        evidence=(path,),
    )


@check("001-sparse-attn-sum-outputs")
@one_thread
def sparse_sum_outputs(ctx: CheckContext) -> Outcome:
    """Seed 001 §1.2 adds two separately normalised attentions; measure the weight sums."""
    from workloads.attention import run_seed_summed_local_global

    window = int(figure(ctx.claim(), "window"))
    r = run_seed_summed_local_global(t=256 if ctx.quick else 2048, window=window, n_global=4)
    path = ctx.evidence(
        "seed-summed-local-global",
        {"seed_weight_sum_min": (r.weight_sum_min, "1"),
         "seed_weight_sum_max": (r.weight_sum_max, "1"),
         "union_weight_sum_max_dev": (r.union_weight_sum_max_dev, "1"),
         "seed_vs_union_rel_err": (r.rel_err, "1")},
        {"t": r.t, "window": r.window, "n_global": r.n_global},
        kind=MEAS,
    )  # fmt: skip
    convex = abs(r.weight_sum_max - 1) < 1e-3 and abs(r.weight_sum_min - 1) < 1e-3
    return Outcome(
        ctx.claim_ids[0],
        Verdict.SUPPORTED if convex else Verdict.CONTRADICTED,
        f"local_attn + global_attn, each with its own softmax: each query's weights sum to "
        f"{r.weight_sum_min:.3f}–{r.weight_sum_max:.3f} (attending to all-ones values), so the "
        f"output is not a convex combination of values; it differs from one softmax over the "
        f"union of window and global keys (weights sum to 1 within "
        f"{r.union_weight_sum_max_dev:.1e}) by {r.rel_err:.0%} in relative norm. Fix: one "
        "softmax over the union, or a log-sum-exp merge of the two parts.",
        measured=r.weight_sum_max,
        unit="sum of weights",
        evidence=(path,),
    )


__all__ = [
    "flash_vs_math",
    "kv_blocks",
    "local_global_scaling",
    "progressive_attention",
    "sparse_sum_outputs",
    "sqa_topk",
    "swa_linear",
    "swa_pseudocode",
    "swa_threshold",
    "weight_pruning",
]
