"""The deterministic part of the quick regression suite against the committed baselines.

Simulator scenarios and analytic claim checks are machine-independent, so their outputs are
golden files under ``results/baselines/deterministic/``. A change that moves a prediction
fails here until the baseline is updated on purpose::

    dsbench regress --suite full --part deterministic --update
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dsbench.regress.compare import FAILING
from dsbench.regress.suite import run_suite, suite_items

ROOT = Path(__file__).resolve().parent.parent / "results" / "baselines"


def test_every_deterministic_item_has_a_committed_baseline():
    names = {p.name for p in (ROOT / "deterministic").glob("*.json")}
    assert len(names) >= len(suite_items("full", "deterministic"))


@pytest.fixture(scope="module")
def quick_results():
    return list(run_suite("quick", "deterministic", root=ROOT))


def test_quick_suite_matches_baselines(quick_results):
    missing = [r.item.label for r in quick_results if r.missing_baseline]
    assert not missing, f"no committed baseline for {missing}"
    moved = [
        f"{c.name} {c.metric}: {c.baseline} -> {c.new} ({c.status.value}{', ' + c.note if c.note else ''})"
        for r in quick_results
        for c in r.comparison.changes
        if c.status in FAILING or c.status.value == "missing"
    ]
    assert not moved, (
        "predictions moved against results/baselines/deterministic; if intended, run "
        "`dsbench regress --suite full --part deterministic --update`:\n" + "\n".join(moved)
    )


def test_suite_covers_scenarios_and_checks(quick_results):
    kinds = {r.item.kind.value for r in quick_results}
    assert kinds == {"scenario", "check"}
    compared = sum(len(r.comparison.changes) for r in quick_results)
    assert compared > 50  # every scenario metric and every check's value and verdict
