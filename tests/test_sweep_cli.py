"""``dsbench sweep``: process pool, in-process, Dask LocalCluster, Ctrl-C, bad input."""

from __future__ import annotations

import csv
import sys

import click
import pytest
from click.testing import CliRunner

from dsbench.cli.sweep import sweep
from dsbench.core import results
from dsbench.core.errors import run_cli

GRID = ["--grid", "parallel.dp_bucket_mb=5,100", "--grid", "parallel.dp_overlap=true,false"]


def group() -> click.Group:
    g = click.Group("dsbench")
    g.add_command(sweep)
    return g


def invoke(tmp_path, *args: str):
    return CliRunner().invoke(sweep, ["dp-1.7b-allreduce", *args, "--out", str(tmp_path)])


def table(tmp_path) -> list[dict]:
    with open(tmp_path / "sweep.csv") as fh:
        return list(csv.DictReader(fh))


def test_process_pool_writes_tidy_table_and_records(tmp_path):
    out = invoke(tmp_path, *GRID, "--workers", "2")
    assert out.exit_code == 0, out.output
    rows = table(tmp_path)
    assert [(r["parallel.dp_bucket_mb"], r["parallel.dp_overlap"]) for r in rows] == [
        ("5", "true"), ("5", "false"), ("100", "true"), ("100", "false"),
    ]  # fmt: skip
    assert all(r["error"] == "" and float(r["iteration_s"]) > 0 for r in rows)
    t = {
        (r["parallel.dp_bucket_mb"], r["parallel.dp_overlap"]): float(r["iteration_s"])
        for r in rows
    }
    assert t[("5", "true")] < t[("5", "false")]  # overlap hides communication
    recs = [results.read_record(p) for p in (tmp_path / "records").glob("*.json")]
    assert len(recs) == 4 and {r.kind.value for r in recs} == {"simulation"}
    assert "4 points (0 infeasible)" in out.output


def test_in_process_with_days_and_infeasible_points(tmp_path):
    out = invoke(
        tmp_path, "--grid", "parallel.tp=1,3", "--days", "2", "--workers", "1",
        "--set", "failures.rate_scale=10",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    ok, bad = table(tmp_path)
    assert 0 < float(ok["ettr"]) <= 1 and float(ok["cost_usd"]) > 0
    assert bad["iteration_s"] == "" and "tp(3)" in bad["error"]
    assert "2 points (1 infeasible)" in out.output


def test_dask_local_cluster_gives_the_same_table(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    invoke(tmp_path / "local", *GRID, "--workers", "1")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp://",
        host="127.0.0.1", dashboard_address=None,
    ) as cluster:  # fmt: skip
        out = invoke(tmp_path / "dask", *GRID, "--scheduler", cluster.scheduler_address)
    assert out.exit_code == 0, out.output
    assert "Dask scheduler tcp://127.0.0.1" in out.output
    assert table(tmp_path / "dask") == table(tmp_path / "local")


def test_missing_dask_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(SystemExit) as exc:
        run_cli(group(), ["sweep", "default", "--grid", "parallel.pp=4,8", "--scheduler",
                          "tcp://127.0.0.1:8786", "--out", str(tmp_path)])  # fmt: skip
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'dsbench[cluster]'" in err[0]


@pytest.mark.parametrize(
    "grid, message",
    [
        ("parallel.nope=1,2", "unknown field parallel.nope"),
        ("parallel.tp", "not of the form"),
        ("parallel.tp=two", "cannot use 'two' as int"),
        ("failures.gpu_per_hour=x", "cannot use 'x' as float"),
        ("gpu.tp=1", "unknown section"),
    ],
)
def test_bad_grid_is_one_line_exit_2(tmp_path, capsys, grid, message):
    with pytest.raises(SystemExit) as exc:
        run_cli(group(), ["sweep", "default", "--grid", grid, "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "sweep.csv").exists()


def test_ctrl_c_keeps_finished_rows(tmp_path, monkeypatch):
    import simulators.sweep

    real, calls = simulators.sweep.run_point, []

    def interrupted(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(simulators.sweep, "run_point", interrupted)
    with pytest.raises(SystemExit) as exc:
        run_cli(group(), ["sweep", "dp-1.7b-allreduce", *GRID, "--workers", "1",
                          "--out", str(tmp_path)])  # fmt: skip
    assert exc.value.code == 130
    assert len(table(tmp_path)) == 2
    assert len(list((tmp_path / "records").glob("*.json"))) == 2
