"""The ``ds-profiler`` command: time and trace workloads, monitor devices.

The seed (002 §5) shows ``ds-profiler --log_dir ./logs --metric gpu_util --window 60``;
monitoring lands with the telemetry samplers. Every command shares the timer, records and
one-line errors of the ``dsbench`` command.
"""

from __future__ import annotations

import click

from dsbench import __version__
from dsbench.cli import CONTEXT, run
from dsbench.errors import run_cli


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="ds-profiler")
def cli() -> None:
    """ds-profiler: time and trace workloads and watch the devices they run on."""


cli.add_command(run, "run")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    run_cli(cli, argv)
