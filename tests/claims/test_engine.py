"""The verify engine: every claim reported, failures isolated, interrupted runs resumed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from dsbench.claims.catalogue import load_catalogue
from dsbench.claims.engine import verify
from dsbench.claims.registry import Check, CheckContext, all_checks
from dsbench.claims.verdicts import Outcome, Verdict, judge_reduction
from dsbench.cli.main import cli
from dsbench.core import results

CLAIM = "003-grad-compress-75pct"
OTHER = "000-attention-quadratic"


def fixture_check(measured_pct: float, calls: list[str]):
    """A stand-in check whose measured value the test sets; the shared rule decides."""

    def run(ctx: CheckContext) -> Outcome:
        calls.append(ctx.mode)
        path = ctx.evidence("fixture", {"saving": (measured_pct, "%")})
        return Outcome(
            CLAIM,
            judge_reduction(75, measured_pct),
            f"fixture measured {measured_pct}%",
            measured=measured_pct,
            unit="%",
            evidence=(path,),
        )

    return {CLAIM: Check("tests.fixture", (CLAIM,), run)}


@pytest.mark.parametrize(
    "measured, verdict",
    [(74.9, "supported"), (50.0, "partly"), (10.0, "contradicted"), (-3.0, "contradicted")],
)
def test_measured_value_drives_verdict(tmp_path, measured, verdict):
    rows = verify(tmp_path, only=[CLAIM], registry=fixture_check(measured, []))
    (row,) = rows
    assert row.outcome.verdict.value == verdict
    assert row.outcome.claimed == "32-bit; 8-bit; 75%"  # filled from the catalogue
    assert (tmp_path / row.outcome.evidence[0]).exists()
    assert results.read_record(tmp_path / row.record).info["verdict"] == verdict


def test_every_claim_is_reported_unchecked_ones_too(tmp_path):
    rows = verify(tmp_path, registry=fixture_check(74.9, []))
    assert [r.claim.id for r in rows] == [c.id for c in load_catalogue()]
    unchecked = [r for r in rows if r.outcome.verdict is Verdict.UNCHECKED]
    assert len(unchecked) == len(rows) - 1
    assert unchecked[0].outcome.explanation == "no check is registered yet"


def test_resume_skips_finished_checks_unless_forced(tmp_path):
    calls: list[str] = []
    registry = fixture_check(74.9, calls)
    first = verify(tmp_path, only=[CLAIM], registry=registry)
    again = verify(tmp_path, only=[CLAIM], registry=registry)
    assert calls == ["quick"] and again[0].record == first[0].record
    verify(tmp_path, only=[CLAIM], registry=registry, force=True)
    verify(tmp_path, mode="full", only=[CLAIM], registry=registry)
    assert calls == ["quick", "quick", "full"]
    assert len(list((tmp_path / "records").glob("*verdict*"))) == 3  # nothing overwritten


def test_interrupted_run_keeps_finished_checks(tmp_path):
    calls: list[str] = []
    registry = fixture_check(74.9, calls)

    def interrupted(ctx):
        raise KeyboardInterrupt

    registry[OTHER] = Check("tests.interrupted", (OTHER,), interrupted)
    with pytest.raises(KeyboardInterrupt):
        verify(tmp_path, only=[CLAIM, OTHER], registry=registry)
    state = json.loads((tmp_path / "state.json").read_text())
    assert list(state["done"]) == ["quick:tests.fixture"]
    del registry[OTHER]
    assert verify(tmp_path, only=[CLAIM], registry=registry)[0].outcome.verdict is Verdict.SUPPORTED
    assert calls == ["quick"]


def test_a_raising_check_is_an_error_row_and_others_run(tmp_path):
    def broken(ctx):
        raise RuntimeError("kernel exploded")

    registry = fixture_check(74.9, [])
    registry[OTHER] = Check("tests.broken", (OTHER,), broken)
    rows = {r.claim.id: r for r in verify(tmp_path, only=[OTHER, CLAIM], registry=registry)}
    assert rows[OTHER].outcome.verdict is Verdict.ERROR
    assert "RuntimeError: kernel exploded" in rows[OTHER].outcome.explanation
    assert rows[CLAIM].outcome.verdict is Verdict.SUPPORTED


def test_check_must_cover_its_ids(tmp_path):
    registry = {OTHER: Check("tests.wrong", (OTHER,), lambda ctx: Outcome(CLAIM, "vague", "x"))}
    (row,) = verify(tmp_path, only=[OTHER], registry=registry)
    assert row.outcome.verdict is Verdict.ERROR and "expected" in row.outcome.explanation


def test_registered_checks_name_real_claims():
    ids = {c.id for c in load_catalogue()}
    for check in all_checks().values():
        assert set(check.claim_ids) <= ids


def test_quick_verify_cli_json_interface(tmp_path, monkeypatch):
    # The formula-based checks only: the measuring ones are exercised by their own tests.
    import dsbench.claims.engine as engine

    formulas = ("dsbench.claims.checks.analytic.", "dsbench.claims.checks.external.")
    registered = engine.checks_by_claim()
    monkeypatch.setattr(
        engine,
        "checks_by_claim",
        lambda: {i: c for i, c in registered.items() if c.name.startswith(formulas)},
    )
    out = CliRunner().invoke(cli, ["verify", "--out", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert [r["id"] for r in rows] == [c.id for c in load_catalogue()]
    for row in rows:
        assert {"id", "verdict", "claimed", "measured", "unit", "explanation", "evidence"} <= set(
            row
        )
        for path in row["evidence"]:
            assert (tmp_path / path).exists()
    assert (tmp_path / "report.md").exists() and (tmp_path / "report.html").exists()
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and rows[0]["id"] in html
    assert sum(r["verdict"] != "unchecked" for r in rows) >= 37


def test_only_refreshes_the_full_report(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["verify", "--out", str(tmp_path), "--only", CLAIM]).exit_code == 0
    report = (tmp_path / "report.md").read_text()
    assert CLAIM in report and "its check has not run in this folder yet" in report


def test_unknown_only_id_exits_2_in_one_line(tmp_path):
    code = "import sys; from dsbench.cli.main import main; main(sys.argv[1:])"
    proc = subprocess.run(
        [sys.executable, "-c", code, "verify", "--only", "000-nope", "--out", str(tmp_path / "v")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: unknown claim id '000-nope'; run `dsbench verify --list` to see the ids"
    )
    assert not (tmp_path / "v").exists()


def test_corrupt_state_is_a_user_error(tmp_path):
    (tmp_path / "state.json").write_text("{oops")
    out = CliRunner().invoke(cli, ["verify", "--out", str(tmp_path), "--only", CLAIM])
    assert out.exit_code != 0 and "unreadable verify state" in str(out.exception or out.output)
