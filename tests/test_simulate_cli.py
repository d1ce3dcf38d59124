"""``dsbench simulate`` and ``dsbench validate``: real runs, records, traces, one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dsbench.cli.main import cli, main
from dsbench.core import results


def simulate(tmp_path, *args: str):
    return CliRunner().invoke(cli, ["simulate", "--out", str(tmp_path / "runs"), *args])


def test_simulate_1000_nodes_prints_summary_and_stores_record(tmp_path):
    out = simulate(tmp_path, "--nodes", "1000")
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("scenario default: gpt3-175b on 1000 x dgx-a100 (8000 GPUs)")
    assert "tp 8 x pp 8 x dp 125" in lines[0]
    assert lines[1].startswith("iteration ") and "bubble" in lines[1] and "compute" in lines[1]
    assert lines[2].startswith("throughput ") and "MFU" in lines[2]
    assert lines[3].startswith("memory per GPU") and "optimizer" in lines[3]
    (path,) = (tmp_path / "runs").glob("*.json")
    assert lines[-1] == f"record: {path}"
    record = results.read_record(path)
    assert record.kind.value == "simulation" and record.name == "default"
    parts = sum(
        record.metrics[k].value
        for k in (
            "compute",
            "tp_comm",
            "pp_comm",
            "dp_comm_exposed",
            "optimizer",
            "bubble",
            "other",
        )
    )
    assert parts == pytest.approx(record.metrics["iteration_time"].value, rel=1e-9)
    assert record.metrics["memory_total"].unit == "B"
    assert record.params["scenario"]["system"]["nodes"] == 1000
    assert record.info["world_size"] == 8000


def test_json_trace_and_set(tmp_path):
    trace = tmp_path / "trace.json"
    out = simulate(
        tmp_path,
        "--nodes",
        "8",
        "--set",
        "parallel.micro_batches=32",
        "--json",
        "--trace",
        str(trace),
    )
    assert out.exit_code == 0, out.output
    record = json.loads(out.output)
    assert record["params"]["overrides"] == ["parallel.micro_batches=32"]
    assert record["params"]["scenario"]["parallel"]["micro_batches"] == 32
    assert record["info"]["global_batch"] == 1 * 32 * 1  # dp 1 x 32 micro-batches x 1
    events = json.loads(trace.read_text())["traceEvents"]
    assert {"compute", "bubble"} <= {e.get("cat") for e in events}
    assert all(e["dur"] >= 0 for e in events if e.get("ph") == "X")


def test_list_names_every_shipped_scenario():
    out = CliRunner().invoke(cli, ["simulate", "--list"])
    assert out.exit_code == 0
    names = out.output.split()
    assert {"default", "gpt3-175b-korthikanti", "p4d-gpt3-3d", "dp-1.7b-allreduce"} <= set(names)


def test_same_seed_same_output(tmp_path):
    def run(sub: str) -> tuple[list[str], dict]:
        out = simulate(tmp_path / sub, "--scenario", "gpt3-175b-korthikanti", "--seed", "3")
        assert out.exit_code == 0, out.output
        (path,) = (tmp_path / sub / "runs").glob("*.json")
        rec = results.read_record(path)
        stable = [
            ln for ln in out.output.splitlines() if not ln.startswith(("simulated ", "record: "))
        ]  # wall time, file name
        return stable, {k: m.value for k, m in rec.metrics.items()} | {"params": rec.params}

    assert run("a") == run("b")


@pytest.mark.parametrize("args, words", [
    (["--scenario", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
    (["--set", "parallel.foo=1"], "unknown field parallel.foo"),
    (["--set", "parallel.tp=abc"], "parallel.tp: cannot use 'abc' as int"),
    (["--set", "parallel.tp=3"], "not divisible by tp(3)"),
    (["--nodes", "8", "--set", "parallel.pp=1"], "model does not fit"),
    (["--set", "parallel.dp_bucket_mb=-5"], "dp_bucket_mb(-5.0) must be > 0"),
    (["--set", "system.oversubscription=-1"], "oversubscription(-1.0) must be >= 1"),
])  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, words):
    trace = tmp_path / "t.json"
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--out", str(tmp_path / "runs"), "--trace", str(trace), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists() and not trace.exists()


def test_model_that_does_not_fit_says_by_how_much_per_component(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--out", str(tmp_path), "--nodes", "8", "--set", "parallel.pp=1"])
    err = capsys.readouterr().err
    assert "GiB by " in err and all(
        w in err for w in ("weights", "grads", "optimizer", "activations")
    )


@pytest.fixture(scope="module")
def validated():
    runner = CliRunner()
    return runner.invoke(cli, ["validate", "--json"])


def test_validate_json_rows_within_ten_percent(validated):
    assert validated.exit_code == 0, validated.output
    rows = json.loads(validated.output)
    assert rows and all(
        {"case", "metric", "published", "predicted", "error"} <= r.keys() for r in rows
    )
    cases = {r["case"] for r in rows}
    assert "korthikanti-2022-gpt3-175b-full" in cases and "megatron-2021-1008.0B" in cases
    for r in rows:
        assert r["error"] == pytest.approx(r["predicted"] / r["published"] - 1)
        assert abs(r["error"]) < 0.10, r


def test_validate_table_matches_json(validated, monkeypatch):
    import simulators.validation as validation

    rows = json.loads(validated.output)
    monkeypatch.setattr(validation, "validate", lambda: rows)  # reuse: validation takes ~7 s
    out = CliRunner().invoke(cli, ["validate"])
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert lines[0].split() == ["case", "metric", "published", "predicted", "error"]
    assert len(lines) == len(rows) + 2
    worst = max(abs(r["error"]) for r in rows)
    assert lines[-1] == f"{len(rows)} published figures; largest error {worst:.1%}"
