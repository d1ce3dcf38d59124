"""The failure/recovery/elasticity checks: verdicts, evidence and the numbers behind them."""

from __future__ import annotations

import pytest

from dsbench.claims.engine import verify
from dsbench.core import results

IDS = [
    "000-dynamic-lb-throughput-40pct", "002-hierarchical-agg-sync-60pct",
    "002-fault-recovery-minutes", "002-k8s-util-85pct", "002-gpt3-1000-nodes-ettr-72-to-94",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("verify")
    rows = verify(out, only=IDS)
    return out, {r.claim.id: r.outcome for r in rows}


def metrics(run, claim_id):
    out, outcomes = run
    return results.read_record(out / outcomes[claim_id].evidence[0]).metrics


@pytest.mark.parametrize("claim_id, verdict", [
    ("000-dynamic-lb-throughput-40pct", "partly"),
    ("002-hierarchical-agg-sync-60pct", "partly"),
    ("002-fault-recovery-minutes", "supported"),
    ("002-k8s-util-85pct", "supported"),
    ("002-gpt3-1000-nodes-ettr-72-to-94", "supported"),
])  # fmt: skip
def test_verdicts_rest_on_simulation_records(run, claim_id, verdict):
    outcome = run[1][claim_id]
    assert outcome.verdict.value == verdict, outcome.explanation
    assert outcome.measured is not None and outcome.evidence
    out = run[0]
    assert results.read_record(out / outcome.evidence[0]).kind.value == "simulation"


def test_load_balancing_gain_grows_with_heterogeneity(run):
    m = metrics(run, "000-dynamic-lb-throughput-40pct")
    gains = [m[f"gain_spread_{s}"].value for s in ("0", "0.02", "0.05", "0.1", "0.2", "0.3")]
    assert gains[0] == pytest.approx(0, abs=1e-9)  # homogeneous: nothing to balance
    assert gains == sorted(gains) and gains[-1] > 40
    assert m["gain_stragglers_0.05"].value < 0  # balancing on stale speeds hurts


def test_hierarchical_all_reduce_keeps_one_global_sync_per_step(run):
    m = metrics(run, "002-hierarchical-agg-sync-60pct")
    assert m["global_sync_reduction_hierarchical"].value == 0
    assert m["global_sync_reduction_two-level"].value == pytest.approx(60)
    assert m["comm_two-level"].value < m["comm_hierarchical"].value


def test_recovery_minutes_are_the_sum_of_their_parts(run):
    m = metrics(run, "002-fault-recovery-minutes")
    assert 1 <= m["elastic_downtime"].value < 10 < m["baseline_downtime"].value
    assert m["checkpoint_size"].value == pytest.approx(2.44e12, rel=0.01)


def test_ettr_before_and_after_and_first_order(run):
    m = metrics(run, "002-gpt3-1000-nodes-ettr-72-to-94")
    for tag in ("baseline_llama3-2024", "elastic_llama3-2024"):
        assert m[f"ettr_{tag}"].value == pytest.approx(m[f"ettr_first_order_{tag}"].value, abs=3)
    assert m["ettr_elastic_llama3-2024"].value > m["ettr_baseline_llama3-2024"].value
    assert m["ettr_elastic_kokolis-2025"].value < m["ettr_elastic_llama3-2024"].value
    assert m["mttf_elastic_llama3-2024"].value == pytest.approx(6.33, abs=0.01)


def test_autoscaler_beats_fixed_cluster(run):
    m = metrics(run, "002-k8s-util-85pct")
    autos = {k: v.value for k, v in m.items() if k.startswith("auto_") and "daily" not in k}
    for k, v in autos.items():
        assert v > m[k.replace("auto_", "fixed_")].value
