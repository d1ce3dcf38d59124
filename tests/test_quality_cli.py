"""``dsbench bench quality``: one record per variant, dense first, bad input in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from dsbench.bench import quality as quality_cli
from dsbench.bench.quality import QualityRun, quality
from dsbench.core import results

MICRO = QualityRun("tiny", steps=3, batch=2, seq_len=16, eval_windows=2, probe_steps=2)


@pytest.fixture
def micro(monkeypatch):
    monkeypatch.setitem(quality_cli.MODES, "quick", MICRO)


def test_quality_table_records(micro, tmp_path):
    out = tmp_path / "q"
    result = CliRunner().invoke(quality, ["--variants", "sliding-window,moe", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "nats/byte" in line]
    assert [line.split()[0] for line in lines] == ["dense", "sliding-window", "moe"]
    records = {r.params["variant"]: r for r in map(results.read_record, sorted(out.glob("*.json")))}
    assert set(records) == {"dense", "sliding-window", "moe"}
    dense, moe = records["dense"], records["moe"]
    assert dense.metrics["val_loss_ratio_to_dense"].value == 1.0
    assert moe.metrics["val_loss_ratio_to_dense"].value == pytest.approx(
        moe.metrics["val_loss"].value / dense.metrics["val_loss"].value
    )
    assert 0 <= moe.metrics["probe_accuracy"].value <= 1
    # equal budgets: the same steps and tokens for every variant
    assert {(r.params["steps"], r.params["tokens"]) for r in records.values()} == {(3, 3 * 2 * 16)}
    assert moe.metrics["active_params"].value < moe.metrics["params"].value


def test_same_seed_same_table(micro, tmp_path):
    def losses(folder):
        args = ["--variants", "dense", "--no-probe", "--out", str(folder)]
        assert CliRunner().invoke(quality, args).exit_code == 0
        return [results.read_record(p).metrics["val_loss"].value for p in folder.glob("*.json")]

    assert losses(tmp_path / "a") == losses(tmp_path / "b")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--variants", "dense,swa"], "unknown variant(s) swa"),
        (["--variants", ","], "unknown variant(s) (none given)"),
        (["--steps", "0"], "0"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message):
    result = CliRunner().invoke(quality, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_out_must_be_a_folder(micro, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    result = CliRunner().invoke(quality, ["--no-probe", "--out", str(target)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_module_imports_no_torch():
    code = "import sys, dsbench.bench.quality; print('torch' in sys.modules)"
    assert subprocess.check_output([sys.executable, "-c", code], text=True).strip() == "False"
