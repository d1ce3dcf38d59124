"""The ``ds-profiler`` command: monitor devices, profile workloads, analyse traces, A/B.

The seed (003 §4.1) shows ``ds-profiler --log_dir ./logs --metric gpu_util --window 60``;
that spelling works as is. With ``-- CMD ARGS…`` the command is run and monitored while it
lives, and ds-profiler exits with its exit code. Subcommands: ``run``, ``analyze``, ``ab``.
Heavy packages are imported inside the commands, so ``--help`` answers at once; errors the
user can fix are one line and exit code 2 (:mod:`dsbench.core.errors`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dsbench import __version__
from dsbench.core.errors import DsbenchError, run_cli

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
SIZES = ["tiny", "cpu", "gpu"]
DTYPES = ["float32", "float64", "bfloat16", "float16"]


class _MonitorGroup(click.Group):
    """A group whose trailing ``-- CMD ARGS…`` is the command to monitor, not a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            if not any(a in self.commands for a in args[:cut]):
                ctx.meta["ds_profiler.command"] = tuple(args[cut + 1 :])
                args = args[:cut]
        return super().parse_args(ctx, args)


@click.group(cls=_MonitorGroup, context_settings=CONTEXT, invoke_without_command=True)
@click.version_option(__version__, prog_name="ds-profiler")
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="NAME[,NAME…]",
    help="metric to monitor; repeat or comma-separate; 'all' = every metric [default: gpu_util]",
)
@click.option(
    "--window",
    type=float,
    default=60.0,
    show_default=True,
    help="window length in seconds (statistics and alerts per window)",
)
@click.option(
    "--log_dir",
    "--log-dir",
    "log_dir",
    type=click.Path(path_type=Path),
    default=Path("logs"),
    show_default=True,
    help="folder for samples/windows/alerts JSONL (a run-<time> folder inside)",
)
@click.option(
    "--interval", type=float, default=1.0, show_default=True, help="sampling period in seconds"
)
@click.option(
    "--duration",
    type=float,
    default=None,
    help="stop after this many seconds [default: until the command ends or Ctrl-C]",
)
@click.option(
    "--backend",
    default="auto",
    show_default=True,
    metavar="auto|nvml|cpu|replay:FILE",
    help="telemetry source; auto = NVML if a GPU answers, else the CPU backend",
)
@click.option(
    "--alert",
    "alerts",
    multiple=True,
    metavar="METRIC<VALUE",
    help="alert rule replacing the defaults (gpu_util<70, dram_bw_util<80, "
    "mem_used_pct>85:max); repeatable",
)
@click.option(
    "--alert-windows",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="consecutive windows a rule must breach before it fires",
)
@click.option(
    "--hysteresis",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="margin past the threshold a window needs to clear an alert",
)
@click.option(
    "--results",
    "results_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/runs"),
    show_default=True,
    help="results store for the summary record",
)
@click.pass_context
def cli(
    ctx: click.Context,
    metrics: tuple[str, ...],
    window: float,
    log_dir: Path,
    interval: float,
    duration: float | None,
    backend: str,
    alerts: tuple[str, ...],
    alert_windows: int,
    hysteresis: float,
    results_dir: Path,
) -> None:
    """ds-profiler: monitor devices over windows with alerts, profile workloads, analyse
    traces, and A/B-compare workloads or commands.

    \b
    ds-profiler --log_dir ./logs --metric gpu_util --window 60
    ds-profiler --metric all --window 10 --interval 0.5 -- python train.py
    """
    if ctx.invoked_subcommand is not None:
        return
    command = ctx.meta.get("ds_profiler.command")
    if command is None and _all_defaults(ctx):
        click.echo(ctx.get_help())
        return
    from dsbench.profiler.telemetry.alerts import DEFAULT_RULES, parse_rule
    from dsbench.profiler.telemetry.metrics import parse_metrics
    from dsbench.profiler.telemetry.monitor import MonitorConfig, run_monitor

    rules = tuple(parse_rule(a, alert_windows, hysteresis) for a in alerts) or tuple(
        r.__class__(**{**r.__dict__, "consecutive": alert_windows, "hysteresis": hysteresis})
        for r in DEFAULT_RULES
    )
    config = MonitorConfig(
        metrics=parse_metrics(metrics or ("gpu_util",)),
        window_s=window,
        interval_s=interval,
        duration_s=duration,
        backend=backend,
        log_dir=log_dir,
        command=command,
        rules=rules,
        results_dir=results_dir,
    )
    view = _make_view()
    try:
        result = run_monitor(
            config, view.on_samples, view.on_windows, notice=lambda m: click.echo(m, err=True)
        )
    finally:
        view.close()
    fired = sum(e["event"] == "fire" for e in result.events)
    click.echo(f"{result.n_samples} samples; logs in {result.log_folder}; {fired} alert(s) fired")
    if result.record_path:
        click.echo(f"record: {result.record_path}")
    if result.stopped_by:
        click.echo(f"stopped by {result.stopped_by}; partial window flushed", err=True)
    sys.exit(result.exit_code)  # ctx.exit is swallowed when run_cli uses standalone_mode=False


def _all_defaults(ctx: click.Context) -> bool:
    from click.core import ParameterSource

    return all(ctx.get_parameter_source(p) is ParameterSource.DEFAULT for p in ctx.params)


def _make_view():
    from dsbench.profiler.telemetry.view import LiveView, PlainView

    return LiveView() if sys.stdout.isatty() else PlainView()


@cli.command("run")
@click.argument("workload")
@click.option("--size", type=click.Choice(SIZES), default="cpu", show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N]")
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True)
@click.option(
    "--budget",
    type=click.FloatRange(min=0.01),
    default=0.5,
    show_default=True,
    help="seconds of sampling after warm-up",
)
@click.option(
    "--trace",
    "trace_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="also record a torch.profiler trace into this folder",
)
@click.option(
    "--backend",
    default="auto",
    show_default=True,
    metavar="auto|nvml|cpu",
    help="telemetry source while the workload runs",
)
@click.option(
    "--peak-flops",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="peak FLOP/s to judge against instead of the table or a calibration",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/runs"),
    show_default=True,
    help="results store",
)
def run_cmd(
    workload: str,
    size: str,
    device: str,
    dtype: str,
    budget: float,
    trace_dir: Path | None,
    backend: str,
    peak_flops: float | None,
    out: Path,
) -> None:
    """Time WORKLOAD (checked against its reference) with telemetry; report MFU and roofline."""
    from dsbench.cli.main import format_measurement
    from dsbench.core import results
    from dsbench.core.timing import TimerConfig
    from dsbench.core.units import si
    from dsbench.profiler.run import Peak, profile_workload

    if backend.startswith("replay:"):
        raise DsbenchError("ds-profiler run samples live telemetry; use auto, nvml or cpu")
    peak = Peak(peak_flops, None, "--peak-flops") if peak_flops else None
    record, peak = profile_workload(
        workload, size, device, dtype, TimerConfig(budget_s=budget), trace_dir, backend, peak
    )
    path = results.save(record, out)
    click.echo(format_measurement(record))
    m = record.metrics
    click.echo(
        f"  peak {si(peak.flops_per_s, 'FLOP/s')}, {si(peak.bytes_per_s, 'B/s')} ({peak.source})"
    )
    if "mfu" in m:
        click.echo(f"  MFU {m['mfu'].value:.3g}% of peak FLOP/s")
    if "roofline_fraction" in m:
        bound = (
            "memory" if m["roofline_attainable_flops_per_s"].value < peak.flops_per_s else "compute"
        )
        click.echo(
            f"  intensity {m['arithmetic_intensity'].value:.3g} FLOP/B -> {bound}-bound; "
            f"roofline fraction {m['roofline_fraction'].value:.3g}% of attainable "
            f"{si(m['roofline_attainable_flops_per_s'].value, 'FLOP/s')}"
        )
    tele = [
        f"{k.removeprefix('telemetry.')} {v.value:.3g} {v.unit}"
        for k, v in m.items()
        if k.startswith("telemetry.")
    ]
    if tele:
        click.echo(f"  telemetry ({record.info['telemetry_backend']}, mean): {'; '.join(tele)}")
    if "trace" in record.info:
        click.echo(f"  trace: {record.info['trace']}  (ds-profiler analyze {trace_dir})")
    click.echo(f"record: {path}")


@cli.command("analyze")
@click.argument("trace_dir", type=click.Path(path_type=Path))
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--launch-gap-us",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="idle gaps up to this long before a queued kernel count as launch-bound",
)
@click.option("--json", "as_json", is_flag=True, help="print the summaries as JSON")
def analyze_cmd(trace_dir: Path, top: int, launch_gap_us: float, as_json: bool) -> None:
    """Bottleneck report of the torch.profiler trace(s) in TRACE_DIR."""
    import json

    from dsbench.profiler.trace import analyze_trace

    reports = analyze_trace(trace_dir, top, launch_gap_us)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {"file": str(r.file), **r.summary, "top_ops": r.top_ops.to_dict("records")}
                    for r in reports
                ],
                indent=1,
            )
        )
        return
    for r in reports:
        click.echo(_format_report(r))


def _format_report(r) -> str:
    from dsbench.core.units import duration

    s = r.summary
    pct = lambda k: "n/a" if s[f"{k}_pct"] is None else f"{s[f'{k}_pct']:.1f}%"  # noqa: E731
    lines = [
        f"{r.file.name}: {s['timeline']} timeline, {s['steps']} profiler steps, "
        f"span {duration(s['span_us'] * 1e-6)}",
        f"  compute {pct('compute')}  communication {pct('communication')}  "
        f"memory copies {pct('memory')}  idle {pct('idle')}",
    ]
    if s["timeline"] == "gpu":
        lines.append(
            f"  idle: host-wait {pct('idle_host_wait')}  launch-bound "
            f"{pct('idle_launch_bound')}  other {pct('idle_other')}"
        )
        overlap = s["comm_overlap_pct"]
        lines.append(
            "  communication overlapped by compute: "
            + ("no communication" if overlap is None else f"{overlap:.1f}%")
        )
    else:
        lines.append(
            "  no GPU kernels in this trace: busy/idle is the CPU operators' timeline; "
            "host-wait and launch-bound apply to GPU timelines only"
        )
    lines.append("  top operators by self time:")
    for row in r.top_ops.itertuples():
        lines.append(
            f"    {row.name[:48]:48s} {row.calls:6d} calls  self "
            f"{duration(row.self_us * 1e-6):>9s} ({row.self_pct:.1f}%)"
        )
    return "\n".join(lines)


@cli.command("ab")
@click.argument("a")
@click.argument("b")
@click.option("--shell", is_flag=True, help="A and B are shell commands, not workload names")
@click.option("--size", type=click.Choice(SIZES), default="tiny", show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True)
@click.option("--rounds", type=click.IntRange(min=3), default=10, show_default=True)
@click.option(
    "--block",
    type=click.FloatRange(min=0.001),
    default=0.05,
    show_default=True,
    help="seconds of timing per workload observation",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/runs"),
    show_default=True,
    help="results store",
)
def ab_cmd(
    a: str,
    b: str,
    shell: bool,
    size: str,
    device: str,
    dtype: str,
    rounds: int,
    block: float,
    out: Path,
) -> None:
    """Interleaved A/B timing of two workloads (or --shell commands): ratio, CI, U test."""
    from dsbench.core import results
    from dsbench.core.units import duration
    from dsbench.profiler.ab_workloads import ab_record, run_ab

    result = run_ab(a, b, shell, size, device, dtype, rounds, block)
    path = results.save(ab_record(a, b, shell, size, device, dtype, result), out)
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    click.echo(f"A = {a}: median {duration(med(result.a))}  ({rounds} rounds)")
    click.echo(f"B = {b}: median {duration(med(result.b))}")
    click.echo(
        f"B/A ratio of medians {result.ratio:.4g}, {result.confidence:.0%} bootstrap CI "
        f"[{result.ci[0]:.4g}, {result.ci[1]:.4g}]; Mann-Whitney U = {result.test.u:g}, "
        f"p = {result.test.p:.3g} ({result.test.method})"
    )
    click.echo(result.conclusion("A", "B"))
    click.echo(f"record: {path}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    run_cli(cli, argv)


if __name__ == "__main__":
    main()
