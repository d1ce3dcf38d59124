"""``dsbench simulate --days``: long runs with failures, cost lines, record metrics, errors."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from dsbench.cli.main import cli


def simulate(tmp_path, *args: str):
    return CliRunner().invoke(cli, ["simulate", "--out", str(tmp_path / "runs"), *args])


def test_1000_nodes_30_days_reports_failures_and_cost(tmp_path):
    start = time.perf_counter()
    out = simulate(tmp_path, "--nodes", "1000", "--days", "30")
    elapsed = time.perf_counter() - start
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    horizon = next(i for i, line in enumerate(lines) if line.startswith("horizon 30 d"))
    assert "interruptions" in lines[horizon] and "Poisson interval" in lines[horizon]
    assert lines[horizon + 1].startswith("effective training time ")
    assert "Young" in lines[horizon + 2] and "Daly" in lines[horizon + 2]
    assert (
        lines[horizon + 3].startswith("cost $")
        and "per million useful tokens" in lines[horizon + 3]
    )
    assert elapsed < 30  # generous: the part-1 limit is 10 s on 2 cores


def test_record_holds_horizon_metrics(tmp_path):
    out = simulate(tmp_path, "--scenario", "gpt3-1000n-elastic", "--days", "5", "--json")
    assert out.exit_code == 0, out.output
    m = json.loads(out.output)["metrics"]
    assert 0 < m["ettr"]["value"] <= 1 and m["ettr"]["unit"] == "1"
    by_cause = sum(
        m[f"interruptions_{c}"]["value"] for c in ("gpu", "node", "nic", "link", "software")
    )
    assert by_cause == m["interruptions"]["value"]
    assert m["gpu_hours"]["value"] == pytest.approx(8000 * 5 * 24)
    assert m["cost"]["unit"] == "USD" and m["checkpoint_size"]["unit"] == "B"


def test_same_seed_same_long_run(tmp_path):
    def metrics(sub):
        out = simulate(tmp_path / sub, "--nodes", "64", "--days", "20", "--seed", "4", "--json")
        m = json.loads(out.output)["metrics"]
        return {k: v["value"] for k, v in m.items()}

    assert metrics("a") == metrics("b")


@pytest.mark.parametrize(
    "override, message",
    [
        ("failures.gpu_per_hour=-1", "failures.gpu_per_hour(-1.0) must be >= 0"),
        ("failures.preset=mars", "failures.preset('mars') is unknown"),
        ("recovery.storage_write_bytes_per_s=0", "recovery.storage_write_bytes_per_s(0.0)"),
        ("recovery.policy=hope", "recovery.policy"),
        ("cost.gpu_hour_usd=-2", "cost.gpu_hour_usd(-2.0)"),
        ("cost.pue=0.8", "cost.pue(0.8)"),
    ],
)
def test_bad_failure_and_cost_parameters_are_one_line_exit_2(tmp_path, capsys, override, message):
    from dsbench.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--days", "1", "--set", override, "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not list(tmp_path.glob("*.json"))
