"""``dsbench bench parallel``: records as produced, Ctrl-C keeps them, one-line errors, sections."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from dsbench.bench import parallel as pb
from dsbench.core import results
from dsbench.core.results import Kind, Metric, Record


def _rec(name: str) -> Record:
    return Record(Kind.MEASUREMENT, name, metrics={"speedup": Metric(1.5, "x")})


def invoke(tmp_path, *args: str):
    return CliRunner().invoke(pb.parallel, ["--out", str(tmp_path / "out"), *args])


def test_records_are_saved_as_produced(tmp_path, monkeypatch):
    monkeypatch.setitem(pb.BENCHES, "tiers", lambda cfg: iter([_rec("a"), _rec("b")]))
    out = invoke(tmp_path, "--only", "tiers")
    assert out.exit_code == 0, out.output
    assert "a:\n  speedup=1.5x" in out.output and "b:\n  speedup=1.5x" in out.output
    assert sorted(results.read_record(p).name for p in (tmp_path / "out").glob("*.json")) == [
        "a",
        "b",
    ]


def test_interrupt_keeps_what_was_measured(tmp_path, monkeypatch):
    def bench(cfg):
        yield _rec("first")
        raise KeyboardInterrupt

    monkeypatch.setitem(pb.BENCHES, "tiers", bench)
    out = invoke(tmp_path, "--only", "tiers")
    assert out.exit_code != 0
    (path,) = (tmp_path / "out").glob("*.json")
    assert results.read_record(path).name == "first"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--world-size", "1"], "parallel runs need 2 or more ranks"),
        (["--threads", "0"], "0 < 1"),
        (["--only", "nope"], "Invalid value for '--only'"),
    ],
)
def test_bad_options_exit_2(tmp_path, args, message):
    out = invoke(tmp_path, *args)
    assert out.exit_code == 2 and message in out.output


def test_project_error_is_one_line_and_exit_2(tmp_path):
    code = (
        "import sys; from dsbench.core.errors import run_cli; from dsbench.bench.parallel import "
        "parallel; run_cli(parallel, sys.argv[1:])"
    )
    args = ["--out", str(tmp_path), "--device", "cuda", "--only", "tiers"]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert "CUDA is not available" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_config_validation_names_values():
    with pytest.raises(ValueError, match=r"world_size\(1\)"):
        pb.BenchConfig(world_size=1)
    with pytest.raises(ValueError, match=r"threads\(0\)"):
        pb.BenchConfig(threads=0)


def test_mmap_section_measures_a_file_over_budget(tmp_path):
    cfg = pb.BenchConfig(budget_s=0.05, threads=1)
    with pb.torch_threads(1):
        rec = pb.bench_mmap(cfg, workdir=tmp_path)
    assert rec.params["file_bytes"] > rec.params["memory_budget_bytes"]
    assert rec.metrics["in_ram_refused_over_budget"].value == 1.0
    for key in ("samples_per_s_mmap_cold", "samples_per_s_mmap_warm", "samples_per_s_in_ram"):
        assert rec.metrics[key].value > 0 and rec.metrics[key].unit == "samples/s"
    assert rec.params["threads"] == 1 and rec.params["device"] == "cpu"
    assert "not than this machine's RAM" in rec.info["note"]


def test_cli_module_imports_no_torch():
    code = "import sys, dsbench.bench.parallel; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False"
