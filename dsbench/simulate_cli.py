"""``dsbench simulate`` and ``dsbench validate``: the cluster simulator from the command line.

Thin wrappers over :mod:`simulators`: build a scenario (a named TOML file or a path, then
``--nodes`` and ``--set section.field=value`` overrides), run it, print the step-time
breakdown, store a simulation record, optionally print it as JSON or write a Chrome trace.
Scenario errors (unknown name or field, wrongly typed value, inconsistent layout, a model
that does not fit in GPU memory) are one line and exit code 2.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from dsbench.errors import DsbenchError


def build_scenario(scenario: str, nodes: int | None, overrides: tuple[str, ...]):
    """Load ``scenario`` and apply ``--nodes`` then ``--set`` overrides; ValueError -> user error."""
    from simulators.scenario import apply_overrides, load_scenario

    try:
        scn = load_scenario(scenario)
        extra = ([f"system.nodes={nodes}"] if nodes is not None else []) + list(overrides)
        return apply_overrides(scn, extra) if extra else scn
    except (ValueError, KeyError, OSError) as exc:
        raise DsbenchError(f"scenario {scenario!r}: {exc}") from exc


def simulation_record(result: Any, scenario: str, overrides: tuple[str, ...], seed: int):
    """A results-store record of one simulated iteration."""
    from dsbench import environment
    from dsbench.results import Kind, Metric, Record
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
    from dsbench.units import duration, si
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
    as_json: bool,
    trace: Path | None,
    out: Path,
    list_names: bool,
) -> None:
    """Simulate a training iteration of a cluster: step time, throughput, MFU, memory.

    The default scenario is a GPT-3 175B model on nodes of 8 A100-80GB with tp 8 x pp 8;
    `dsbench simulate --nodes 1000` runs it on 1000 nodes.
    """
    from dsbench import results
    from simulators.engine import run

    if list_names:
        from simulators.scenario import scenario_names

        click.echo("\n".join(scenario_names()))
        return
    scn = build_scenario(scenario, nodes, overrides)
    try:
        result = run(scn, seed=seed)
    except ValueError as exc:
        raise DsbenchError(f"scenario {scn.name!r}: {exc}") from exc
    record = simulation_record(result, scenario, overrides, seed)
    path = results.save(record, out)
    if trace:
        _write_json_atomic(trace, result.to_chrome_trace())
    if as_json:
        click.echo(json.dumps(record.to_dict(), indent=1))
        return
    click.echo(format_result(result))
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
