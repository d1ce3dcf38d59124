"""The command lines: help, version, a real run, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from dsbench import __version__
from dsbench.cli.main import cli
from dsbench.cli.profiler import cli as profiler_cli
from dsbench.core import results


@pytest.mark.parametrize("group, name", [(cli, "dsbench"), (profiler_cli, "ds-profiler")])
def test_help_and_version(group, name):
    runner = CliRunner()
    help_out = runner.invoke(group, ["--help"])
    assert help_out.exit_code == 0 and "run" in help_out.output
    version = runner.invoke(group, ["--version"])
    assert version.exit_code == 0 and f"{name}, version {__version__}" in version.output


def test_cli_import_loads_no_torch():
    code = "import sys, dsbench.cli.main, dsbench.cli.profiler; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_run_stores_a_record(tmp_path):
    out = CliRunner().invoke(
        cli, ["run", "gemm", "--size", "tiny", "--budget", "0.02", "--out", str(tmp_path)]
    )
    assert out.exit_code == 0, out.output
    assert "gemm tiny on cpu (float32): median" in out.output
    (path,) = tmp_path.glob("*.json")
    record = results.read_record(path)
    assert record.metrics["time"].samples and record.params["n"] == 64
    assert record.metrics["achieved_flops_per_s"].value == pytest.approx(
        2 * 64**3 / record.metrics["time"].value
    )


def test_run_json(tmp_path):
    out = CliRunner().invoke(
        cli, ["run", "gemm", "--size", "tiny", "--budget", "0.02", "--json", "--out", str(tmp_path)]
    )
    assert out.exit_code == 0
    assert json.loads(out.output)["name"] == "gemm"


def _main(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from dsbench.cli.main import main; main(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "no-such-workload"], "unknown workload 'no-such-workload'; known workloads:"),
        (["run", "gemm", "--device", "cuda"], "CUDA is not available here"),
        (["run", "gemm", "--device", "tpu"], "is not supported; use cpu or cuda"),
        (["run", "gemm", "--size", "huge"], "Invalid value for '--size'"),
        (["--no-such-flag"], "No such option"),
    ],
)
def test_user_errors_are_one_line_exit_2(args, message, tmp_path):
    proc = _main(*args, *(["--out", str(tmp_path)] if args[0] == "run" and len(args) > 2 else []))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


def test_run_cli_honours_int_exit_codes():
    """A command's ``ctx.exit(n)`` or ``return n`` reaches the shell; 0 and None mean success."""
    import click
    import pytest

    from dsbench.core.errors import run_cli

    @click.group()
    def grp() -> None:
        pass

    @grp.command()
    @click.argument("code", type=int)
    @click.pass_context
    def leave(ctx: click.Context, code: int) -> None:
        ctx.exit(code)

    @grp.command()
    @click.argument("code", type=int)
    def give(code: int) -> int:
        return code

    for command in ("leave", "give"):
        with pytest.raises(SystemExit) as exc:
            run_cli(grp, [command, "1"])
        assert exc.value.code == 1
        run_cli(grp, [command, "0"])  # no SystemExit: success
