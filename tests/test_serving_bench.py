"""``dsbench bench serving``: exit codes, records written as produced, bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dsbench.bench import serving as serving_bench
from dsbench.bench.serving import Part, serving
from dsbench.core.results import Kind, Record


def test_service_part_writes_its_records(tmp_path):
    out = tmp_path / "serving"
    result = CliRunner().invoke(serving, ["--part", "service", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(p.read_text()) for p in out.glob("*.json")]
    names = sorted(r["name"] for r in records)
    assert names == ["serving-request-loop", "serving-request-loop", "serving-seed-handler"]
    loop = {
        r["params"]["backend"]: r["metrics"] for r in records if r["name"] == "serving-request-loop"
    }
    assert (
        loop["batching-worker"]["throughput_rps"]["value"]
        > loop["thread-pool-16"]["throughput_rps"]["value"]
    )
    assert "3 records" in result.output


def test_records_are_kept_when_interrupted(tmp_path, monkeypatch):
    def fake(part, quick, service=(0.01, 0.001)):
        yield Record(kind=Kind.MEASUREMENT, name="first", metrics={})
        raise KeyboardInterrupt

    monkeypatch.setattr(serving_bench, "part_records", fake)
    result = CliRunner().invoke(serving, ["--part", "latency", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert [json.loads(p.read_text())["name"] for p in tmp_path.glob("*.json")] == ["first"]


@pytest.mark.parametrize("args", [["--part", "nope"], ["--out", "FILE"], ["--quick", "--bogus"]])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args):
    target = tmp_path / "file.txt"
    target.write_text("x")
    args = [str(target) if a == "FILE" else a for a in args]
    result = CliRunner().invoke(serving, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_parts_are_the_documented_four():
    assert [p.value for p in Part] == ["batching", "service", "latency", "retrieval"]


def test_module_imports_no_torch_at_top_level():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(serving_bench))
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = {a.name for n in top for a in n.names} | {getattr(n, "module", None) for n in top}
    assert not names & {"torch", "pandas", "simpy", "numpy"}
