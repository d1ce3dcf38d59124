"""``dsbench simulate`` and ``dsbench validate``: the cluster simulator from the command line.

Thin wrappers over :mod:`simulators`: build a scenario (a named TOML file or a path, then
``--nodes`` and ``--set section.field=value`` overrides), run it, print the step-time
breakdown, store a simulation record, optionally print it as JSON or write a Chrome trace.
With ``--days D`` it also simulates D days of training with the scenario's failure,
recovery and cost models (:func:`simulators.horizon.run_horizon`) and reports effective
training time, interruptions and lost time by cause, checkpoints, cost and energy.
Scenario errors (unknown name or field, wrongly typed value, inconsistent layout, a model
that does not fit in GPU memory, a negative rate or price) are one line and exit code 2.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from dsbench.core.errors import DsbenchError


def build_scenario(scenario: str, nodes: int | None, overrides: tuple[str, ...]):
    """Load ``scenario`` and apply ``--nodes`` then ``--set`` overrides; ValueError -> user error."""
    from simulators.scenario import apply_overrides, load_scenario

    try:
        scn = load_scenario(scenario)
        extra = ([f"system.nodes={nodes}"] if nodes is not None else []) + list(overrides)
        return apply_overrides(scn, extra) if extra else scn
    except (ValueError, KeyError, OSError) as exc:
        raise DsbenchError(f"scenario {scenario!r}: {exc}") from exc


def horizon_metrics(h: Any) -> dict:
    """Record metrics of a long run (``simulators.horizon.HorizonResult``)."""
    from dsbench.core.results import Metric

    metrics = {
        "days": Metric(h.wall_s / 86400, "d"),
        "ettr": Metric(h.ettr, "1"),
        "ettr_first_order": Metric(h.ettr_first_order, "1"),
        "mttf": Metric(h.mttf_s, "s"),
        "interruptions": Metric(sum(h.interruptions.values()), "1"),
        "expected_interruptions": Metric(h.expected_interruptions, "1"),
        "checkpoints_written": Metric(h.checkpoints_written, "1"),
        "checkpoint_interval": Metric(h.interval_s, "s"),
        "young_interval": Metric(h.young_s, "s"),
        "daly_interval": Metric(h.daly_s, "s"),
        "checkpoint_stall": Metric(h.checkpoint.stall_s, "s"),
        "checkpoint_size": Metric(h.checkpoint.size_bytes, "B"),
        "mean_downtime": Metric(h.mean_downtime_s, "s"),
        "useful_time": Metric(h.useful_s, "s"),
        "checkpoint_time": Metric(h.checkpoint_s, "s"),
        "degraded_time": Metric(h.degraded_s, "s"),
        "useful_tokens": Metric(h.useful_tokens, "tokens"),
        "gpu_hours": Metric(h.cost.gpu_hours, "GPU-h"),
        "cost": Metric(h.cost.cost_usd, "USD"),
        "energy": Metric(h.cost.energy_kwh, "kWh"),
        "cost_per_million_tokens": Metric(h.cost.usd_per_million_tokens, "USD"),
        "cost_per_useful_hour": Metric(h.cost.usd_per_useful_hour, "USD"),
    }
    for cause in h.interruptions:
        metrics[f"interruptions_{cause}"] = Metric(h.interruptions[cause], "1")
        metrics[f"lost_work_{cause}"] = Metric(h.lost_s[cause], "s")
        metrics[f"downtime_{cause}"] = Metric(h.downtime_s[cause], "s")
    return metrics


def _span(seconds: float) -> str:
    """Like ``units.duration`` with minutes between one minute and one hour."""
    from dsbench.core.units import duration

    return f"{seconds / 60:.3g} min" if 60 <= seconds < 3600 else duration(seconds)


def format_horizon(h: Any, scn: Any) -> str:
    """The terminal summary of a long run with failures."""
    from dsbench.core.units import si

    duration = _span
    n = sum(h.interruptions.values())
    lo, hi = h.interruption_interval
    causes = ", ".join(f"{c} {k}" for c, k in h.interruptions.items() if k)
    lost = sum(h.lost_s.values())
    down = sum(h.downtime_s.values())
    worst = max(h.interruptions, key=lambda c: h.lost_s[c] + h.downtime_s[c])
    ck = h.checkpoint
    rec, cost = scn.recovery, h.cost
    mttf = duration(h.mttf_s) if h.mttf_s != float("inf") else "never"
    return "\n".join(
        [
            f"horizon {duration(h.wall_s)}, failure rates {scn.failures.preset} x "
            f"{scn.failures.rate_scale:g} (MTTF {mttf}): {n} interruptions ({causes or 'none'}; "
            f"99% Poisson interval {lo}-{hi} for {h.expected_interruptions:.1f} expected)",
            f"effective training time {h.ettr:.1%} (first-order formula {h.ettr_first_order:.1%}); "
            f"lost work {duration(lost)}, downtime {duration(down)}, checkpoint stalls "
            f"{duration(h.checkpoint_s)}"
            + (f", degraded {duration(h.degraded_s)}" if h.degraded_s else "")
            + f"; most time lost to {worst}",
            f"checkpoint {si(ck.size_bytes, 'B')} {rec.checkpoint_mode.value} every "
            f"{duration(h.interval_s)} (stall {duration(ck.stall_s)}; Young {duration(h.young_s)}, "
            f"Daly {duration(h.daly_s)}), {h.checkpoints_written} written; restart "
            f"{duration(h.mean_downtime_s)} on average ({rec.policy.value})",
            f"cost ${si(cost.cost_usd)} for {si(cost.gpu_hours)} GPU-hours, "
            f"{si(cost.energy_kwh * 1e3, 'Wh')} at PUE {scn.cost.pue:g}; "
            f"${cost.usd_per_million_tokens:.2f} per million useful tokens, "
            f"${si(cost.usd_per_useful_hour)} per useful hour",
            f"simulated {h.simpy_events} SimPy events in {duration(h.wall_clock_s)}",
        ]
    )


def simulation_record(
    result: Any, scenario: str, overrides: tuple[str, ...], seed: int, horizon: Any = None
):
    """A results-store record of one simulated iteration (and of a long run, if given)."""
    from dsbench.core import environment
    from dsbench.core.results import Kind, Metric, Record
    from simulators.scenario import to_dict

    d = result.to_dict()
    metrics = {
        "iteration_time": Metric(d["iteration_s"], "s"),
        "tokens_per_s": Metric(d["tokens_per_s"], "tokens/s"),
        "tflops_per_gpu": Metric(d["tflops_per_gpu"], "TFLOP/s"),
        "mfu": Metric(d["mfu"], "1"),
        **{k.removesuffix("_s"): Metric(v, "s") for k, v in d["breakdown_s"].items()},
        **{
            f"memory_{k.removesuffix('_bytes')}": Metric(v, "B")
            for k, v in d["memory_bytes"].items()
        },
    }
    if horizon is not None:
        metrics |= horizon_metrics(horizon)
    return Record(
        kind=Kind.SIMULATION,
        name=result.scenario.name,
        params={
            "scenario": to_dict(result.scenario),
            "overrides": list(overrides),
            "seed": seed,
            "source": scenario,
        },
        metrics=metrics,
        info={
            "world_size": d["world_size"],
            "global_batch": d["global_batch"],
            "simpy_events": d["simpy_events"],
            "wall_s": d["wall_s"],
        },
        environment=environment.capture(),
    )


def format_result(result: Any) -> str:
    """The terminal summary of a simulated iteration."""
    from dsbench.core.units import duration, si
    from simulators.hardware import node

    scn, d = result.scenario, result.to_dict()
    lay, hw = scn.layout(), node(scn.system.node)
    it = d["iteration_s"]
    parts = " + ".join(
        f"{k.removesuffix('_s').replace('_', ' ')} {duration(v)} ({v / it:.0%})"
        for k, v in d["breakdown_s"].items()
        if abs(v) > 1e-9 * it
    )
    mem = d["memory_bytes"]
    mem_parts = ", ".join(
        f"{k.removesuffix('_bytes')} {si(v, 'B')}" for k, v in mem.items() if k != "total_bytes"
    )
    return "\n".join(
        [
            f"scenario {scn.name}: {scn.model.name} on {scn.system.nodes} x {scn.system.node} "
            f"({lay.size} GPUs), tp {lay.tp} x pp {lay.pp} x dp {lay.dp}, global batch "
            f"{d['global_batch']} x {scn.model.seq} tokens",
            f"iteration {duration(it)} = {parts}",
            f"throughput {si(d['tokens_per_s'], 'tokens/s')}; {d['tflops_per_gpu']:.1f} TFLOP/s per GPU "
            f"(Megatron-LM count); MFU {d['mfu']:.1%} of {scn.system.dtype} peak",
            f"memory per GPU (first stage): {mem_parts} = {si(mem['total_bytes'], 'B')} of "
            f"{si(hw.gpu.hbm_bytes, 'B')}",
            f"simulated {d['simpy_events']} SimPy events in {duration(d['wall_s'])}",
        ]
    )


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


@click.command()
@click.option(
    "--nodes", type=click.IntRange(min=1), help="number of nodes (overrides system.nodes)"
)
@click.option(
    "--scenario",
    default="default",
    show_default=True,
    help="a scenario name (see --list) or a TOML file",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="SECTION.FIELD=VALUE",
    help="override a scenario field, e.g. --set parallel.tp=4 (repeatable)",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    help="also simulate this many days of training with failures, checkpoints and cost",
)
@click.option("--json", "as_json", is_flag=True, help="print the stored record as JSON")
@click.option(
    "--trace",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write a Chrome trace of the first iterations (opens in Perfetto)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/runs"),
    show_default=True,
)
@click.option("--list", "list_names", is_flag=True, help="list the named scenarios")
def simulate(
    nodes: int | None,
    scenario: str,
    overrides: tuple[str, ...],
    seed: int,
    days: float | None,
    as_json: bool,
    trace: Path | None,
    out: Path,
    list_names: bool,
) -> None:
    """Simulate a training iteration of a cluster: step time, throughput, MFU, memory.

    The default scenario is a GPT-3 175B model on nodes of 8 A100-80GB with tp 8 x pp 8;
    `dsbench simulate --nodes 1000` runs it on 1000 nodes. `--days 30` adds a 30-day run
    with failures, checkpoints and restarts ([failures], [recovery], [cost] fields).
    """
    from dsbench.core import results
    from simulators.engine import run

    if list_names:
        from simulators.scenario import scenario_names

        click.echo("\n".join(scenario_names()))
        return
    scn = build_scenario(scenario, nodes, overrides)
    horizon = None
    try:
        result = run(scn, seed=seed)
        if days is not None:
            from simulators.horizon import run_horizon

            horizon = run_horizon(scn, days, seed=seed)
    except ValueError as exc:
        raise DsbenchError(f"scenario {scn.name!r}: {exc}") from exc
    record = simulation_record(result, scenario, overrides, seed, horizon)
    path = results.save(record, out)
    if trace:
        _write_json_atomic(trace, result.to_chrome_trace())
    if as_json:
        click.echo(json.dumps(record.to_dict(), indent=1))
        return
    click.echo(format_result(result))
    if horizon is not None:
        click.echo(format_horizon(horizon, scn))
    click.echo(f"record: {path}" + (f"\ntrace: {trace}" if trace else ""))


@click.command()
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="print a JSON list of {case, metric, published, predicted, error}",
)
def validate(as_json: bool) -> None:
    """Compare the simulator's predictions with published training runs."""
    from simulators.validation import validate as run_validation

    rows = run_validation()
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    width = max(len(r["case"]) for r in rows)
    click.echo(
        f"{'case':{width}s}  {'metric':22s} {'published':>10s} {'predicted':>10s} {'error':>7s}"
    )
    for r in rows:
        click.echo(
            f"{r['case']:{width}s}  {r['metric']:22s} {r['published']:10.4g} "
            f"{r['predicted']:10.4g} {r['error']:+7.1%}"
        )
    worst = max(abs(r["error"]) for r in rows)
    click.echo(f"{len(rows)} published figures; largest error {worst:.1%}")
