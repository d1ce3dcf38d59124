"""ds-profiler commands through click's CliRunner, and signals through a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from dsbench.cli.profiler import cli
from dsbench.profiler.telemetry.replay import write_series


def invoke(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def invoke_main(args):
    """Through run_cli, so DsbenchError becomes one line and exit 2."""
    return CliRunner().invoke(_Main(), args, catch_exceptions=False)


class _Main:
    """Adapter so CliRunner drives ``run_cli(cli, argv)``."""

    name = "ds-profiler"

    def main(self, args=None, prog_name=None, **extra):
        from dsbench.core.errors import run_cli

        run_cli(cli, list(args))


def test_help_is_fast_and_does_not_import_torch():
    code = "import sys, dsbench.cli.profiler as p; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False"
    result = invoke(["--help"])
    assert result.exit_code == 0 and "--log_dir" in result.output and "--window" in result.output
    assert invoke(["--version"]).exit_code == 0


def replay_file(tmp_path, util):
    return write_series(
        tmp_path / "rec.jsonl",
        "gpu0",
        {"gpu_util": util, "mem_used_pct": [50.0] * len(util)},
        t0=0.0,
    )


def test_seed_spelling_monitors_a_replayed_log(tmp_path):
    util = [90.0] * 10 + [40.0] * 40 + [95.0] * 10  # 1 s samples
    rec = replay_file(tmp_path, util)
    result = invoke(
        [
            "--log_dir",
            str(tmp_path / "logs"),
            "--metric",
            "gpu_util",
            "--window",
            "10",
            "--backend",
            f"replay:{rec}",
            "--results",
            str(tmp_path / "res"),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "gpu0 gpu_util: mean 90 %" in result.output
    assert result.output.count("ALERT gpu0 gpu_util<70") == 1
    assert "CLEARED gpu0 gpu_util<70" in result.output
    (run,) = (tmp_path / "logs").iterdir()
    samples = (run / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 60 and set(json.loads(samples[0])["values"]) == {"gpu_util"}
    alerts = [json.loads(x) for x in (run / "alerts.jsonl").read_text().splitlines()]
    assert [a["event"] for a in alerts] == ["fire", "clear"]
    (record,) = (tmp_path / "res").iterdir()
    data = json.loads(record.read_text())
    assert data["name"] == "monitor" and data["metrics"]["gpu0.gpu_util"]["unit"] == "%"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--metric", "gpu_utl"], "unknown metric 'gpu_utl'"),
        (["--window", "0"], "--window must be > 0"),
        (["--window", "-5"], "--window must be > 0"),
        (["--window", "5", "--interval", "10"], "longer than --window"),
        (["--metric", "gpu_util", "--"], "missing command after `--`"),
        (["--backend", "replay:does-not-exist.jsonl"], "cannot read"),
        (["--backend", "tpu"], "use auto, nvml, cpu or replay:FILE"),
        (["--metric", "gpu_util", "--", "no-such-program-xyz"], "command not found"),
        (["--alert", "gpu_util=3"], "is not METRIC<VALUE"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    logs = tmp_path / "logs"
    result = invoke_main(["--log_dir", str(logs), "--results", str(tmp_path / "res"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not logs.exists() and not (tmp_path / "res").exists()


def test_unwritable_log_dir(tmp_path):
    (tmp_path / "file").write_text("x")
    result = invoke_main(["--log_dir", str(tmp_path / "file" / "logs"), "--duration", "1"])
    assert result.exit_code == 2 and "is not a folder" in result.output
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        result = invoke_main(["--log_dir", str(locked / "logs"), "--duration", "1"])
        assert result.exit_code == 2 and "not writable" in result.output
    finally:
        locked.chmod(0o700)


def test_nvml_backend_that_cannot_start_is_exit_2(tmp_path, monkeypatch):
    from nvml_standin import NVML_ERROR_LIBRARY_NOT_FOUND, make_standin

    import dsbench.profiler.telemetry.nvml as nvml_mod

    real_init = nvml_mod.NvmlBackend.__init__
    monkeypatch.setattr(
        nvml_mod.NvmlBackend,
        "__init__",
        lambda self, metrics=None, nvml=None: real_init(
            self, metrics, make_standin(init_error=NVML_ERROR_LIBRARY_NOT_FOUND)
        ),
    )
    result = invoke_main(["--backend", "nvml", "--log_dir", str(tmp_path / "l"), "--duration", "1"])
    assert result.exit_code == 2 and "Library Not Found" in result.output
    assert not (tmp_path / "l").exists()


BURN = (
    "import time\nt=time.process_time()\nwhile time.process_time()-t<{s}: pass\n"
    "time.sleep(0.4)\nraise SystemExit(3)"
)


def test_cpu_backend_measures_a_child_burning_known_cpu_time(tmp_path):
    result = invoke(
        [
            "--backend",
            "cpu",
            "--metric",
            "all",
            "--window",
            "1",
            "--interval",
            "0.1",
            "--log_dir",
            str(tmp_path / "logs"),
            "--results",
            str(tmp_path / "res"),
            "--",
            sys.executable,
            "-c",
            BURN.format(s=1.0),
        ]
    )
    assert result.exit_code == 3  # the command's exit code
    assert "not measuring a GPU" in result.output or "no NVIDIA GPU" in result.output
    (run,) = (tmp_path / "logs").iterdir()
    rows = [json.loads(x)["values"] for x in (run / "samples.jsonl").read_text().splitlines()]
    cpu_s = max(r["proc_cpu_s"] for r in rows if r.get("proc_cpu_s") is not None)
    # The child stops at exactly 1.0 s of its own CPU time (+ interpreter start-up).
    assert 1.0 <= cpu_s < 2.0
    assert all(f"cpu{i}_util" in rows[-1] for i in range(os.cpu_count() or 1))


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_child_flushes_partial_window_and_exits(tmp_path, sig, code):
    logs, res = tmp_path / "logs", tmp_path / "res"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dsbench.cli.profiler",
            "--backend",
            "cpu",
            "--metric",
            "cpu_util",
            "--window",
            "30",
            "--interval",
            "0.1",
            "--log_dir",
            str(logs),
            "--results",
            str(res),
            "--",
            sys.executable,
            "-c",
            "import time; time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        runs = list(logs.glob("run-*/samples.jsonl")) if logs.exists() else []
        if runs and len(runs[0].read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == code, err
    windows = [
        json.loads(x) for x in next(logs.glob("run-*/windows.jsonl")).read_text().splitlines()
    ]
    assert windows and windows[-1]["partial"] is True
    record = json.loads(next(res.iterdir()).read_text())
    assert record["info"]["stopped_by"] == signal.Signals(sig).name
    assert "partial window flushed" in err


def test_run_workload_with_trace_then_analyze(tmp_path):
    trace = tmp_path / "trace"
    result = invoke(
        [
            "run",
            "gemm",
            "--size",
            "tiny",
            "--budget",
            "0.05",
            "--backend",
            "cpu",
            "--trace",
            str(trace),
            "--out",
            str(tmp_path / "res"),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "MFU" in result.output and "calibration: best of gemm" in result.output
    assert "roofline fraction" in result.output
    record = json.loads(next((tmp_path / "res").iterdir()).read_text())
    assert record["metrics"]["mfu"]["unit"] == "%" and record["metrics"]["mfu"]["value"] > 0
    (file,) = trace.glob("*.pt.trace.json")
    data = json.loads(file.read_text())
    # The Kineto fields Perfetto, TensorBoard's plugin and HTA read.
    for key in (
        "schemaVersion",
        "traceEvents",
        "deviceProperties",
        "baseTimeNanoseconds",
        "displayTimeUnit",
    ):
        assert key in data
    assert data["distributedInfo"]["rank"] == 0
    ops = [e for e in data["traceEvents"] if e.get("ph") == "X" and e.get("cat") == "cpu_op"]
    assert ops and all({"ts", "dur", "pid", "tid", "name"} <= set(e) for e in ops)
    assert any(e["name"].startswith("ProfilerStep#") for e in data["traceEvents"])
    assert any(e["name"] == "aten::mm" for e in ops)
    result = invoke(["analyze", str(trace)])
    assert result.exit_code == 0 and "cpu timeline, 3 profiler steps" in result.output
    assert "aten::mm" in result.output
    result = invoke(["analyze", str(trace), "--json"])
    assert json.loads(result.output)[0]["steps"] == 3


def test_run_with_given_peak_and_unknown_workload(tmp_path):
    result = invoke(
        [
            "run",
            "gemm",
            "--size",
            "tiny",
            "--budget",
            "0.02",
            "--backend",
            "cpu",
            "--peak-flops",
            "1e12",
            "--out",
            str(tmp_path),
        ]
    )
    assert result.exit_code == 0 and "(--peak-flops)" in result.output
    result = invoke_main(["run", "no-such-workload", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "unknown workload" in result.output


def test_analyze_bad_input(tmp_path):
    assert invoke_main(["analyze", str(tmp_path / "nope")]).exit_code == 2
    (tmp_path / "bad.json").write_text("{not json")
    result = invoke_main(["analyze", str(tmp_path)])
    assert result.exit_code == 2 and "not a readable trace" in result.output


def test_ab_workloads_and_commands(tmp_path):
    result = invoke(
        [
            "ab",
            "gemm",
            "gemm",
            "--size",
            "tiny",
            "--rounds",
            "4",
            "--block",
            "0.01",
            "--out",
            str(tmp_path),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "B/A ratio of medians" in result.output and "Mann-Whitney" in result.output
    result = invoke(
        ["ab", "--shell", "true", "sleep 0.05", "--rounds", "3", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0
    ratio = float(result.output.split("B/A ratio of medians ")[1].split(",")[0])
    assert ratio > 1.5  # sleeping 50 ms is slower than `true`
    result = invoke_main(["ab", "gemm", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "use --shell" in result.output
    result = invoke_main(
        ["ab", "--shell", "true", "false", "--rounds", "3", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "exited with 1" in result.output
