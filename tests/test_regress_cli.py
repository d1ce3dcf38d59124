"""``compare``, ``regress`` and ``history`` from the command line: output and exit codes 0/1/2."""

from __future__ import annotations

import json

import click
import numpy as np
import pytest

from dsbench.cli.regress import compare, history, regress
from dsbench.core import results
from dsbench.core.errors import run_cli
from dsbench.core.results import Kind, Metric, Record
from dsbench.regress.suite import SUITES, Item, ItemKind

ENV = {"cpu_model": "Test CPU", "logical_cores": 2, "gpus": [], "torch": "2.13.0"}


@click.group()
def group() -> None:
    """The commands as the lead mounts them on ``dsbench``."""


for command in (compare, regress, history):
    group.add_command(command)


def invoke(capsys, *args: str) -> tuple[int, str, str]:
    """Run like the console script does; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        run_cli(group, [*args])
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def timed(folder, scale, seed, env=ENV, name="gemm", ts="2026-01-01T00:00:00"):
    rng = np.random.default_rng(seed)
    samples = tuple(float(x) for x in scale * rng.lognormal(0.0, 0.02, 20))
    record = Record(
        kind=Kind.MEASUREMENT,
        name=name,
        params={"size": "cpu"},
        metrics={"time": Metric(float(np.median(samples)), "s", samples)},
        timestamp=ts,
        environment=env,
    )
    folder.mkdir(exist_ok=True)
    return results.save(record, folder)


def test_compare_no_regression_then_regression(tmp_path, capsys):
    timed(tmp_path / "base", 1.0, 1)
    timed(tmp_path / "same", 1.0, 2)
    timed(tmp_path / "slow", 1.3, 3)
    code, out, _ = invoke(capsys, "compare", str(tmp_path / "base"), str(tmp_path / "same"))
    assert code == 0 and "1 metrics compared: 1 unchanged" in out
    code, out, _ = invoke(capsys, "compare", str(tmp_path / "base"), str(tmp_path / "slow"))
    assert code == 1
    assert "regression  measurement gemm (size=cpu)  time" in out
    code, out, _ = invoke(
        capsys, "compare", str(tmp_path / "base"), str(tmp_path / "slow"), "--factor", "1.5"
    )
    assert code == 0, "a 30% slowdown is within a factor of 1.5"


def test_compare_formats(tmp_path, capsys):
    timed(tmp_path / "base", 1.0, 1)
    timed(tmp_path / "slow", 1.3, 3)
    args = ("compare", str(tmp_path / "base"), str(tmp_path / "slow"))
    code, out, _ = invoke(capsys, *args, "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["exit_code"] == 1
    assert data["changes"][0]["status"] == "regression" and data["changes"][0]["p_value"] < 0.01
    code, out, _ = invoke(capsys, *args, "--format", "markdown", "--test", "bootstrap")
    assert code == 1 and out.startswith("| status | record |")
    assert "1.3" in out and "[" in out  # the bootstrap interval is shown with the ratio


@pytest.mark.parametrize(
    "setup, message",
    [
        ("other-machine", "another machine"),
        ("no-match", "no baseline matches any new record"),
        ("corrupt", "not a readable record"),
        ("missing", "no such file or folder"),
        ("empty", "holds no records"),
    ],
)
def test_compare_cannot_compare_exits_2(tmp_path, capsys, setup, message):
    timed(tmp_path / "base", 1.0, 1)
    new = tmp_path / "new"
    new.mkdir()
    if setup == "other-machine":
        timed(new, 1.0, 2, env={**ENV, "cpu_model": "Other CPU"})
    elif setup == "no-match":
        timed(new, 1.0, 2, name="other")
    elif setup == "corrupt":
        (new / "bad.json").write_text("{not json")
    elif setup == "missing":
        new = tmp_path / "nowhere"
    code, out, err = invoke(capsys, "compare", str(tmp_path / "base"), str(new))
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_other_machine_allowed(tmp_path, capsys):
    timed(tmp_path / "base", 1.0, 1)
    timed(tmp_path / "new", 1.0, 2, env={**ENV, "cpu_model": "Other CPU"})
    code, _, _ = invoke(
        capsys, "compare", str(tmp_path / "base"), str(tmp_path / "new"), "--allow-other-machine"
    )
    assert code == 0


def verdicts(folder, **by_claim):
    for claim, (verdict, measured) in by_claim.items():
        results.save(
            Record(
                kind=Kind.VERDICT,
                name=claim,
                params={"mode": "quick"},
                metrics={"measured": Metric(measured, "x")},
                info={"verdict": verdict},
                environment=ENV,
            ),
            folder,
        )


def test_compare_two_verify_runs(tmp_path, capsys):
    verdicts(tmp_path / "a", c1=("supported", 1.0), c2=("partly", 2.0), c3=("vague", 3.0))
    verdicts(tmp_path / "b", c1=("supported", 1.0), c2=("contradicted", 2.0), c3=("vague", 3.5))
    code, out, _ = invoke(capsys, "compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert code == 1
    assert "verdict-changed  verdict c2 (mode=quick)" in out and "partly -> contradicted" in out
    assert "value-changed    verdict c3 (mode=quick)" in out
    assert "c1" not in out


SMALL_SUITE = (
    Item(ItemKind.WORKLOAD, "gemm"),
    Item(ItemKind.SCENARIO, "dp-1.7b-allreduce"),
    Item(ItemKind.CHECK, "dsbench.claims.checks.analytic.fp4_size"),
)


def test_regress_update_compare_and_moved_prediction(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(SUITES, "quick", SMALL_SUITE)
    base, out_dir = tmp_path / "baselines", tmp_path / "runs"
    common = ("--baselines", str(base), "--out", str(out_dir))
    code, out, err = invoke(capsys, "regress", "--part", "deterministic", *common)
    assert code == 2 and "cannot compare 2 item(s)" in err and "regress --update" in err
    code, out, _ = invoke(capsys, "regress", "--update", *common)
    assert code == 0 and "wrote 3 baseline record(s)" in out
    (det,) = (base / "deterministic").glob("simulation_*.json")
    assert len(list((base / "deterministic").glob("analytic_*.json"))) == 1
    assert len([p for p in base.iterdir() if p.name != "deterministic"]) == 1  # the fingerprint
    # timings may differ on a busy machine, but they are compared, never "cannot compare"
    code, out, _ = invoke(capsys, "regress", "-v", *common)
    assert code in (0, 1) and "measurement gemm" in out and "3 items" in out
    code, out, _ = invoke(capsys, "regress", "--part", "deterministic", *common)
    assert (
        code == 0 and "2 items: 2 ok, 0 unstable (not gated), 0 failing, 0 without baseline" in out
    )
    # a simulator change that moves a prediction fails until the baseline is updated
    data = json.loads(det.read_text())
    data["metrics"]["iteration_time"]["value"] *= 1.01
    det.write_text(json.dumps(data))
    code, out, _ = invoke(capsys, "regress", "--part", "deterministic", *common)
    assert code == 1 and "moved" in out and "iteration_time" in out
    assert len(list(out_dir.glob("*.json"))) == 2 + 3 + 3 + 2 + 2  # every run is kept


def test_history_finds_the_step(tmp_path, capsys):
    for i in range(12):
        timed(tmp_path, 1.0 if i < 6 else 1.5, i, ts=f"2026-01-{i + 1:02d}T00:00:00")
    code, out, _ = invoke(capsys, "history", "gemm", "--results", str(tmp_path))
    assert code == 0
    assert "gemm time (s), 12 runs" in out
    assert "first step at run 6 (2026-01-07T00:00:00)" in out and "(1.5" in out
    code, out, _ = invoke(capsys, "history", "gemm", "time", "--results", str(tmp_path), "--json")
    rows = json.loads(out)
    assert [r["segment"] for r in rows] == [0] * 6 + [1] * 6
    code, _, err = invoke(capsys, "history", "nope", "--results", str(tmp_path))
    assert code == 2 and "no stored record is named 'nope'" in err
