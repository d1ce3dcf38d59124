"""The ``dsbench`` command: a thin layer over the library.

Each command parses options, calls one library function and writes records; errors the
user can fix become one line and exit code 2 (see :mod:`dsbench.core.errors`). Heavy packages
(torch, pandas, simpy) are imported inside the commands that need them, so ``--help``
answers at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from dsbench import __version__
from dsbench.bench.attention import attention
from dsbench.bench.inference import inference
from dsbench.bench.parallel import parallel
from dsbench.bench.quality import quality
from dsbench.bench.serving import serving
from dsbench.bench.training import training
from dsbench.cli.quantize import quantize
from dsbench.cli.regress import compare, history, regress
from dsbench.cli.simulate import simulate, validate
from dsbench.cli.sweep import sweep
from dsbench.cli.verify import verify
from dsbench.core.errors import run_cli

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="dsbench")
def cli() -> None:
    """dsbench: check claims about large-model systems with measurements and simulations."""


@cli.command("list")
@click.argument("what", type=click.Choice(["workloads", "claims"]), default="workloads")
def list_cmd(what: str) -> None:
    """List registered workloads (with the claims they serve) or the claims catalogue."""
    if what == "workloads":
        from workloads.base import load_all

        for name, w in load_all().items():
            click.echo(f"{name:32s} {', '.join(w.sizes):16s} {w.description}")
            if w.claim_ids:
                click.echo(f"{'':32s} claims: {', '.join(w.claim_ids)}")
        return
    from dsbench.claims.catalogue import load_catalogue

    for claim in load_catalogue():
        click.echo(f"{claim.id:44s} {claim.kind.value:9s} {claim.claim[:70]}")


@cli.command()
@click.argument("workload")
@click.option("--size", type=click.Choice(["tiny", "cpu", "gpu"]), default="cpu", show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N]")
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float64", "bfloat16", "float16"]),
    default="float32",
    show_default=True,
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0.01),
    default=0.5,
    show_default=True,
    help="seconds of sampling after warm-up",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/runs"),
    show_default=True,
    help="folder the record is written to",
)
@click.option("--json", "as_json", is_flag=True, help="print the record as JSON")
def run(
    workload: str, size: str, device: str, dtype: str, budget: float, out: Path, as_json: bool
) -> None:
    """Check WORKLOAD against its reference, time it and store a record.

    Prints the median time per call with its spread, and the achieved FLOP/s and bytes/s
    from the workload's analytic counts.
    """
    from dsbench.core import results
    from dsbench.core.timing import TimerConfig
    from dsbench.profiler.measure import measure_workload

    record = measure_workload(workload, size, device, dtype, TimerConfig(budget_s=budget))
    path = results.save(record, out)
    if as_json:
        click.echo(json.dumps(record.to_dict(), indent=1))
        return
    click.echo(format_measurement(record))
    click.echo(f"record: {path}")


def format_measurement(record) -> str:
    """A few lines summarising a measurement record for the terminal."""
    from dsbench.core.units import duration, si

    timer = record.info["timer"]
    lines = [
        f"{record.name} {record.params.get('size')} on {record.params.get('device')} "
        f"({record.params.get('dtype')}): median {duration(timer['median_s'])} per call, "
        f"IQR {duration(timer['iqr_s'])}, n={timer['n']} x {timer['number']} calls",
    ]
    for key, unit in (("achieved_flops_per_s", "FLOP/s"), ("achieved_bytes_per_s", "B/s")):
        if key in record.metrics:
            lines.append(f"  achieved {si(record.metrics[key].value, unit)}")
    if "max_abs_error" in record.metrics:
        lines.append(f"  max |out - reference| = {record.metrics['max_abs_error'].value:.3g}")
    lines += [f"  warning: {w}" for w in record.info.get("warnings", [])]
    return "\n".join(lines)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of lines")
def env(as_json: bool) -> None:
    """Show the environment snapshot stored with every record, and the machine fingerprint."""
    from dsbench.core import environment

    snapshot = environment.capture()
    snapshot["fingerprint"] = environment.fingerprint(snapshot)
    if as_json:
        click.echo(json.dumps(snapshot, indent=1))
        return
    for key, value in snapshot.items():
        click.echo(f"{key:15s} {value}")


@cli.group()
def bench() -> None:
    """Run one family's comparisons (technique against its baseline) and store them as records.

    Every subcommand takes --quick/--full and --out; records are written as they are produced,
    so Ctrl-C keeps what was measured.
    """


for _command in (attention, quality, training, parallel, inference, serving):
    bench.add_command(_command)
for _command in (verify, simulate, validate, sweep, quantize, compare, regress, history):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    run_cli(cli, argv)
