"""`dsbench bench training`: records stored as produced, one summary line each, bad input as
one line with exit 2, Ctrl-C keeps what was measured."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from dsbench.bench import training as tb
from dsbench.core import results
from dsbench.core.errors import run_cli


def _group() -> click.Group:
    @click.group()
    def bench() -> None:
        """test mount point (the real one is `dsbench bench`)"""

    bench.add_command(tb.training)
    return bench


def _cheap_jobs(techniques, quick, device):
    return [
        ("recompute: seed code", tb.seed_recompute),
        ("recompute: equality", lambda: tb.recompute_equality(device)),
    ]


def test_training_command_stores_records(tmp_path, monkeypatch):
    monkeypatch.setattr(tb, "jobs", _cheap_jobs)
    out = CliRunner().invoke(
        _group(), ["training", "--technique", "recompute", "--out", str(tmp_path)]
    )
    assert out.exit_code == 0, out.output
    assert "[raised: TypeError]" in out.output
    assert "grad_max_abs_diff=0" in out.output
    assert "2 records in" in out.output
    frame = results.load([tmp_path])
    assert set(frame["name"]) == {"training-recompute-seed-code", "training-recompute-equality"}


def test_jobs_cover_every_technique():
    labels = [label for label, _ in tb.jobs(tb.TECHNIQUES, True, "cpu")]
    for technique in tb.TECHNIQUES:
        assert any(label.startswith(technique) for label in labels)
    assert [lb for lb, _ in tb.jobs(("compile",), True, "cpu")] == [
        "compile: fusion",
        "compile: seed jit",
    ]


def test_bad_technique_exits_2(tmp_path):
    out = CliRunner().invoke(
        _group(), ["training", "--technique", "fusion", "--out", str(tmp_path)]
    )
    assert out.exit_code == 2
    assert "fusion" in out.output


def test_unavailable_device_is_one_line(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(SystemExit) as exc:
        run_cli(_group(), ["training", "--device", "cuda", "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "CUDA" in err[0]


def test_interrupt_keeps_measured_records(tmp_path, monkeypatch, capsys):
    def interrupted():
        yield tb.seed_recompute()
        raise KeyboardInterrupt

    monkeypatch.setattr(tb, "jobs", lambda *a: [("recompute: seed code", interrupted)])
    with pytest.raises(SystemExit) as exc:
        run_cli(_group(), ["training", "--out", str(tmp_path)])
    assert exc.value.code == 130
    assert len(results.iter_record_files([tmp_path])) == 1


def test_summary_line_formats_params_and_metrics():
    record = tb._record(
        "x", {"plan": "sqrt", "n_layers": 4}, {"peak": (1234.5, "B"), "n": (3.0, "count")}
    )
    assert tb.summary(record) == "n_layers=4 plan=sqrt peak=1234 B, n=3"
