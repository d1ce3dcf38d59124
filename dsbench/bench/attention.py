"""``dsbench bench attention``: time and measured peak memory of attention variants against T.

For every sequence length ``T`` the command times dense attention (fused
``scaled_dot_product_attention``, the baseline) and each chosen variant *in the same run*,
interleaved round by round (A, B, C, A, B, C, ...) and keeping each one's fastest sample, so a
burst of load from other processes does not land on one side of a ratio. It then measures each
one's peak memory (:class:`~workloads.attention.peak_memory.PeakMemoryProbe`: the CUDA
allocator's peak, or on CPU the high-water mark of one long-lived child process). Each point is
a :class:`~dsbench.core.results.Record` saved as soon as it is measured (Ctrl-C keeps them), with its
ratio to dense at the same ``T``; a final summary record holds the log-log scaling exponents
(time and memory against ``T``) and the length at which each variant starts to beat dense.

Expected (issue 4): dense ≈ 2 in time; sliding window ≈ 1 in time and memory once ``T ≫ W``.
Absolute times are only meaningful with the device they were measured on, which every record
names in its environment.

Torch is imported inside functions: importing this module (``dsbench --help``) stays cheap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from dsbench.core.results import Kind, Metric, Record
from dsbench.core.timing import TimerConfig, Timing

# The names of workloads.attention.measure.SWEEP_VARIANTS (kept here so that parsing the
# command line needs no torch; a test keeps the two equal).
VARIANTS = (
    "dense-naive",
    "dense-sdpa",
    "sdpa-math",
    "sdpa-flash",
    "sliding-window",
    "local-global",
    "block-topk",
    "topk-exact",
)
BASELINE = "dense-sdpa"
DEFAULT_VARIANTS = ("dense-naive", "sliding-window", "local-global", "block-topk")


@contextmanager
def measurement_clock(device: str = "cpu", threads: int | None = 1) -> Iterator[Any]:
    """Set torch's intra-op threads for the block; yield the clock to time with.

    On CPU with one thread every FLOP runs on the calling thread, so the clock is that
    thread's CPU time (``time.thread_time_ns``): time the process spent pre-empted by other
    processes is not counted, which makes ratios and exponents stable on a loaded machine
    (measured here with 8 runnable processes on 2 cores: wall-clock samples of the same call
    varied 6x, thread CPU time a few percent). With more threads, or on CUDA (events), the
    timer's own clock is used (None). ``threads=None`` leaves torch's setting alone.
    """
    import torch

    if device.startswith("cuda") or threads is None:
        yield None
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield time.thread_time_ns if threads == 1 else None
    finally:
        torch.set_num_threads(previous)


def race(
    fns: Mapping[str, Callable[[], Any]],
    device: str = "cpu",
    *,
    rounds: int = 2,
    config: TimerConfig | None = None,
    now_ns: Callable[[], int] | None = None,
) -> dict[str, Timing]:
    """Time every function ``rounds`` times, interleaved; keep each one's fastest timing.

    "Fastest" is the smallest minimum sample: load only ever adds time, so the minimum is the
    estimate least disturbed by other processes. ``now_ns``: the clock (see
    :func:`measurement_clock`).
    """
    from dsbench.core.timing import time_fn

    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got rounds={rounds}")
    best: dict[str, Timing] = {}
    for _ in range(rounds):
        for name, fn in fns.items():
            timing = time_fn(fn, device=device, config=config, now_ns=now_ns)
            if name not in best or timing.min_s < best[name].min_s:
                best[name] = timing
    return best


def crossover_length(lengths: Sequence[int], ratios: Sequence[float]) -> float | None:
    """The T from which ``ratio`` (variant cost / dense cost) stays below 1, interpolated
    linearly in (log T, log ratio) between the last point at or above 1 and the next one.

    Returns ``lengths[0]`` if the variant wins at every point, None if it does not win at the
    last one (it never stays ahead within the sweep).
    """
    points = sorted(zip(lengths, ratios, strict=True))
    if not points or points[-1][1] >= 1:
        return None
    losing = [i for i, (_, r) in enumerate(points) if r >= 1]
    if not losing:
        return float(points[0][0])
    (t0, r0), (t1, r1) = points[losing[-1]], points[losing[-1] + 1]
    f = math.log(r0) / (math.log(r0) - math.log(r1))
    return math.exp(math.log(t0) + f * (math.log(t1) - math.log(t0)))


@dataclass(frozen=True)
class BenchConfig:
    """One sweep: which variants, which lengths, what shape, how long to time.

    variants: variant names (the baseline ``dense-sdpa`` is always measured too).
    lengths: sequence lengths T, ascending. shape: ``SweepShape`` fields other than T.
    rounds / budget_s: interleaved timing rounds and the timer's sampling budget per round.
    memory: also measure peak memory per point. threads: torch intra-op threads (1: time with
    the thread's CPU clock, see :func:`measurement_clock`).
    """

    variants: tuple[str, ...] = DEFAULT_VARIANTS
    lengths: tuple[int, ...] = (1024, 2048, 4096)
    shape: Mapping[str, Any] = field(default_factory=dict)
    rounds: int = 2
    budget_s: float = 0.05
    memory: bool = True
    threads: int = 1

    def __post_init__(self) -> None:
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown:
            raise ValueError(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
        if not self.lengths or any(t < 1 for t in self.lengths):
            raise ValueError(f"lengths must be positive integers, got {list(self.lengths)}")

    @property
    def measured(self) -> tuple[str, ...]:
        """The baseline first, then the variants (each once)."""
        return tuple(dict.fromkeys((BASELINE, *self.variants)))

    def timer(self) -> TimerConfig:
        return TimerConfig(
            warmup_s=0.0, budget_s=self.budget_s, min_samples=3, max_time_s=10 * self.budget_s + 5
        )


QUICK = BenchConfig(
    lengths=(1024, 2048, 4096), shape={"heads": 2, "head_dim": 64, "window": 128}, rounds=2
)
FULL = BenchConfig(
    lengths=(512, 1024, 2048, 4096, 8192, 16384),
    shape={"heads": 4, "head_dim": 64, "window": 512},
    rounds=3,
    budget_s=0.5,
)


def measure_length(
    t: int, config: BenchConfig, probe: Any | None = None, tags: tuple[str, ...] = ()
) -> list[Record]:
    """Records for every variant at length ``t``: time (all samples), FLOP/s, peak memory and
    the ratios to the baseline at the same ``t``. ``probe``: an open ``PeakMemoryProbe``."""
    from dsbench.core import environment
    from workloads.attention.measure import SweepShape, make_sweep_case, sweep_flops

    shape = SweepShape(**config.shape)
    cases = {v: make_sweep_case(v, t, shape) for v in config.measured}
    with measurement_clock(shape.device, config.threads) as now_ns:
        timings = race({v: c[0] for v, c in cases.items()}, shape.device, rounds=config.rounds,
                       config=config.timer(), now_ns=now_ns)  # fmt: skip
    del cases
    clock = "thread CPU time" if now_ns else timings[BASELINE].method
    flops = {v: sweep_flops(v, t, shape) for v in config.measured}
    peaks = (
        {v: probe.measure(make_sweep_case, v, t, shape) for v in config.measured} if probe else {}
    )
    env = environment.capture()
    records = []
    for v in config.measured:
        metrics = {
            "time": Metric(timings[v].min_s, "s", timings[v].samples_s),
            "flops": Metric(flops[v], "FLOP"),
            "achieved_flops_per_s": Metric(flops[v] / timings[v].min_s, "FLOP/s"),
            "time_ratio_to_dense": Metric(timings[v].min_s / timings[BASELINE].min_s, "x"),
        }
        if peaks:
            metrics["peak_bytes"] = Metric(float(peaks[v]), "B")
            metrics["peak_ratio_to_dense"] = Metric(peaks[v] / max(peaks[BASELINE], 1), "x")
        records.append(
            Record(
                kind=Kind.MEASUREMENT,
                name=f"attention-sweep/{v}",
                params={"variant": v, "seq_len": t, **asdict(shape)},
                metrics=metrics,
                info={
                    "timer": timings[v].summary(),
                    "warnings": list(timings[v].warnings),
                    "baseline": BASELINE,
                    "clock": clock,
                    "threads": config.threads,
                    "time_statistic": "fastest sample of interleaved rounds",
                },
                tags=tags,
                environment=env,
            )  # fmt: skip
        )
    return records


def summarise(records: Iterable[Record], config: BenchConfig) -> Record:
    """Scaling exponents (log-log slope vs T of time and of peak memory) and crossovers."""
    from dsbench.core import environment
    from workloads.attention.measure import fit_loglog_slope

    by_variant: dict[str, list[Record]] = {}
    for r in records:
        by_variant.setdefault(r.params["variant"], []).append(r)
    metrics: dict[str, Metric] = {}
    for v, rs in by_variant.items():
        rs = sorted(rs, key=lambda r: r.params["seq_len"])
        ts = [r.params["seq_len"] for r in rs]
        for key, label in (("time", "time"), ("peak_bytes", "memory")):
            values = [r.metrics[key].value for r in rs if key in r.metrics]
            if len(values) == len(ts) >= 2 and all(x > 0 for x in values):
                metrics[f"{v}/{label}_exponent"] = Metric(fit_loglog_slope(ts, values), "exponent")
        if v != BASELINE:
            ratios = [r.metrics["time_ratio_to_dense"].value for r in rs]
            cross = crossover_length(ts, ratios)
            metrics[f"{v}/time_crossover_len"] = Metric(cross, "tokens")
    return Record(
        kind=Kind.MEASUREMENT,
        name="attention-sweep/summary",
        params={"lengths": list(config.lengths), "variants": list(config.measured),
                **dict(config.shape)},
        metrics=metrics,
        info={"fit": "least squares of log(value) on log(T) over all lengths",
              "crossover": "first T where variant time < dense-sdpa time (log-log interpolated)"},
        environment=environment.capture(),
    )  # fmt: skip


def format_table(records: Sequence[Record]) -> str:
    """One line per point: time, ratio to dense, GFLOP/s, peak MiB."""
    from dsbench.core.units import duration

    lines = [f"{'variant':<16}{'T':>7}{'time':>11}{'x dense':>9}{'GFLOP/s':>9}{'peak MiB':>10}"]
    for r in records:
        m = r.metrics
        peak = f"{m['peak_bytes'].value / 2**20:.1f}" if "peak_bytes" in m else "-"
        lines.append(
            f"{r.params['variant']:<16}{r.params['seq_len']:>7}{duration(m['time'].value):>11}"
            f"{m['time_ratio_to_dense'].value:>9.2f}{m['achieved_flops_per_s'].value / 1e9:>9.1f}"
            f"{peak:>10}"
        )
    return "\n".join(lines)


def format_summary(summary: Record) -> str:
    lines = ["log-log exponent vs T (time / memory), and where each variant starts to beat dense:"]
    variants = dict.fromkeys(k.split("/")[0] for k in summary.metrics)
    for v in variants:
        m = summary.metrics
        time_e, mem_e = m.get(f"{v}/time_exponent"), m.get(f"{v}/memory_exponent")
        cross = m.get(f"{v}/time_crossover_len")
        cross_s = "" if cross is None else (
            "  never faster than dense in this sweep" if cross.value is None
            else f"  faster than dense from T ≈ {cross.value:.0f}"
        )  # fmt: skip
        lines.append(
            f"  {v:<16}{time_e.value if time_e else float('nan'):>6.2f} /"
            f"{mem_e.value if mem_e else float('nan'):>5.2f}{cross_s}"
        )
    return "\n".join(lines)


def _parse_lengths(_ctx: click.Context, _param: click.Parameter, value: str | None):
    if value is None:
        return None
    try:
        lengths = tuple(sorted({int(x) for x in value.split(",") if x.strip()}))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not lengths or lengths[0] < 1:
        raise click.BadParameter(f"lengths must be positive integers, got {value!r}")
    return lengths


@click.command("attention")
@click.option("--quick/--full", "quick", default=True, show_default=True,
              help="quick: T 1024-4096, 2 heads, window 128 (seconds on a laptop CPU); "
                   "full: T 512-16384, 4 heads, window 512")  # fmt: skip
@click.option("--variant", "variants", multiple=True, type=click.Choice(VARIANTS),
              help="variant to compare with dense-sdpa (repeatable; default: "
                   + ", ".join(DEFAULT_VARIANTS) + ")")  # fmt: skip
@click.option("--lengths", callback=_parse_lengths, help="comma-separated T values")
@click.option("--window", type=click.IntRange(min=1), help="window W of the windowed variants")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N]")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="torch intra-op threads; 1 times with the thread's CPU clock (robust to load)",
)
@click.option("--no-memory", is_flag=True, help="skip the peak-memory measurements")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/attention"), show_default=True,
              help="folder the records are written to")  # fmt: skip
def attention(
    quick: bool,
    variants: tuple[str, ...],
    lengths: tuple[int, ...] | None,
    window: int | None,
    device: str,
    threads: int,
    no_memory: bool,
    out: Path,
) -> None:
    """Sweep sequence length: time and measured peak memory of attention variants vs dense.

    Prints one line per (variant, T) and the scaling exponents; every point is stored as a
    record in --out as soon as it is measured.
    """
    from contextlib import nullcontext
    from dataclasses import replace

    from dsbench.core import results
    from dsbench.core.progress import track
    from dsbench.profiler.measure import check_device
    from workloads.attention.peak_memory import PeakMemoryProbe

    check_device(device)
    base = QUICK if quick else FULL
    shape = {**base.shape, "device": device}
    if window is not None:
        shape["window"] = window
    config = replace(
        base,
        variants=variants or base.variants,
        lengths=lengths or base.lengths,
        shape=shape,
        memory=not no_memory,
        threads=threads,
    )
    tags = ("bench", "quick" if quick else "full")
    measured: list[Record] = []
    with PeakMemoryProbe(device) if config.memory else nullcontext() as probe:
        for t in track(config.lengths, "attention sweep", total=len(config.lengths)):
            for record in measure_length(t, config, probe, tags):
                results.save(record, out)
                measured.append(record)
    summary = summarise(measured, config)
    path = results.save(summary, out)
    click.echo(format_table(measured))
    click.echo(format_summary(summary))
    click.echo(f"{len(measured) + 1} records in {out} (summary: {path.name})")
