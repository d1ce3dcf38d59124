"""Sequence-length sweep of the attention variants: time and measured peak memory vs T,
log-log scaling exponents, and blocked sliding-window FLOP/s against a plain matmul.

    python benchmarks/attention_scaling.py                       # CPU defaults, a few minutes
    python benchmarks/attention_scaling.py --device cuda --lengths 4096 16384 65536 131072

Timing here is a plain ``perf_counter`` median (warm-up, then repeats until a time budget);
the library functions take the timer as an argument, so the workbench's timer can replace it.
Expected: dense ≈ 2 in time, sliding window ≈ 1 in time and memory; at T >= 4096 the blocked
SWA kernel at >= 30% of the FLOP/s of a plain matmul of its block shapes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from workloads.attention.measure import (
    SWEEP_VARIANTS,
    SweepShape,
    scaling_exponents,
    swa_matmul_flop_rate,
    sweep,
)


def median_time_s(
    fn: Callable[[], Any], *, budget_s: float = 2.0, min_repeats: int = 3, max_repeats: int = 20
) -> float:
    """Median wall time of ``fn`` after one warm-up call (synchronising CUDA around each call)."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    fn()
    sync()
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < min_repeats or (
        len(samples) < max_repeats and time.perf_counter() < deadline
    ):
        start = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["dense-naive", "dense-sdpa", "sliding-window", "local-global", "block-topk"],
        choices=SWEEP_VARIANTS,
    )
    parser.add_argument("--lengths", nargs="+", type=int, default=[512, 1024, 2048, 4096, 8192])
    parser.add_argument("--ratio-lengths", nargs="+", type=int, default=[4096, 8192])
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument(
        "--fit-from", type=int, default=1024, help="also fit slopes from this T up (T >> W)"
    )
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the peak-memory child processes"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    shape = SweepShape(
        heads=args.heads,
        head_dim=args.head_dim,
        window=args.window,
        device=args.device,
        dtype=args.dtype,
    )
    print(
        f"device={args.device} threads={torch.get_num_threads()} torch={torch.__version__} shape={shape}"
    )
    records = sweep(
        args.variants, args.lengths, median_time_s, shape, measure_memory=not args.no_memory
    )
    print(f"\n{'variant':<16}{'T':>7}{'time_ms':>11}{'GFLOP/s':>10}{'peak_MiB':>10}")
    for r in records:
        peak = "-" if r.peak_bytes is None else f"{r.peak_bytes / 2**20:.1f}"
        print(
            f"{r.variant:<16}{r.seq_len:>7}{r.time_s * 1e3:>11.2f}{r.flops / r.time_s / 1e9:>10.1f}{peak:>10}"
        )
    fits = {
        "all lengths": records,
        f"T >= {args.fit_from}": [r for r in records if r.seq_len >= args.fit_from],
    }
    for label, subset in fits.items():
        time_slopes = scaling_exponents(subset, "time_s")
        mem_slopes = scaling_exponents(subset, "peak_bytes") if not args.no_memory else {}
        print(f"\nlog-log slope vs T, fit over {label}: time / peak memory")
        for variant in args.variants:
            mem = f"{mem_slopes[variant]:.2f}" if variant in mem_slopes else "-"
            print(f"  {variant:<16} {time_slopes.get(variant, float('nan')):.2f} / {mem}")
    print(f"\nblocked SWA (W={args.window}) vs plain bmm of the same block shapes")
    for t in args.ratio_lengths:
        r = swa_matmul_flop_rate(t, median_time_s, shape)
        print(
            f"  T={t}: SWA {r.swa_flops_per_s / 1e9:.1f} useful GFLOP/s ({r.swa_executed_flops / r.swa_time_s / 1e9:.1f} executed), "
            f"matmul {r.matmul_flops_per_s / 1e9:.1f} GFLOP/s -> ratio {r.ratio:.2f} (executed {r.executed_ratio:.2f})"
        )


if __name__ == "__main__":
    main()
