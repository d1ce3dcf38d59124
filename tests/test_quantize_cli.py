"""`dsbench quantize`: writes a model that loads back and runs; bad input is one line + exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from dsbench.cli.quantize import load_quantized, quantize


def _run(*args: str):
    return CliRunner().invoke(quantize, list(args))


@pytest.mark.parametrize(
    "args, message",
    [
        (["lm-tiny", "--method", "dynamic", "--bits", "4"], "only --bits 8"),
        (["gpt-5", "--method", "dynamic"], "unknown model 'gpt-5'"),
        (["lm-tiny", "--method", "int2"], "Invalid value for '--method'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    result = _run(*args, "--out", str(tmp_path / "q"))
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "q").exists()


def test_existing_out_is_refused_without_force(tmp_path):
    (tmp_path / "q").mkdir()
    result = _run("lm-tiny", "--method", "dynamic", "--out", str(tmp_path / "q"))
    assert result.exit_code == 2 and "--force" in result.output


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("quant") / "lm4"
    args = ["lm-tiny", "--method", "weight-only", "--bits", "4", "--train-steps", "5"]
    result = _run(*args, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.output)


def test_quantized_model_loads_back_and_runs(written):
    out, summary = written
    assert sorted(p.name for p in out.iterdir()) == ["float.pt", "quantized.pt", "summary.json"]
    assert not list(out.parent.glob(".*tmp*"))  # no temporary folder left behind
    model, meta = load_quantized(out)
    assert meta["bits"] == 4 and meta["method"] == "weight-only"
    logits, _ = model(torch.randint(0, 256, (2, 16)))
    assert logits.shape == (2, 16, 256) and torch.isfinite(logits).all()
    assert summary["reload_max_abs_diff"] == 0.0
    assert summary["bytes_after"] < summary["bytes_before"] / 2
    assert abs(summary["val_loss_change_pct"]) < 5
    assert summary["quantized_layers"] == 8 and summary["float_layers"] == 1  # tied head


def test_saved_folder_is_a_model_and_force_replaces(written, tmp_path):
    src, _ = written
    out = tmp_path / "lm8"
    assert _run(str(src), "--method", "dynamic", "--out", str(out)).exit_code == 0
    result = _run(str(src), "--method", "weight-only", "--bits", "8", "--out", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert "weight-only int8" in result.output and "x smaller" in result.output
    assert load_quantized(out)[1]["method"] == "weight-only"


def test_cli_modules_do_not_import_torch():
    code = (
        "import sys, dsbench.cli.quantize, dsbench.bench.inference; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
