"""Checkpoints and recovery against closed forms: size, Young/Daly, lost work per failure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulators.horizon import run_horizon
from simulators.model import param_count
from simulators.recovery import (
    CheckpointMode,
    Policy,
    RecoveryConfig,
    checkpoint_costs,
    daly_interval_s,
    first_order_ettr,
    restart_downtime_s,
    young_interval_s,
)
from simulators.scenario import Scenario, apply_overrides, load_scenario

SOFTWARE_ONLY = [f"failures.{c}_per_hour=0" for c in ("gpu", "node", "nic", "link")]
GPU_ONLY = [f"failures.{c}_per_hour=0" for c in ("software", "node", "nic", "link")]


def small(*overrides: str):
    return apply_overrides(load_scenario("dp-1.7b-allreduce"), list(overrides))


def test_gpt3_checkpoint_is_14_bytes_per_parameter():
    params = param_count(Scenario().model)
    c = checkpoint_costs(RecoveryConfig(storage_write_bytes_per_s=100e9), params, 8000, 200e9)
    assert c.size_bytes == pytest.approx(14 * params) and 2.4e12 < c.size_bytes < 2.5e12
    assert c.stall_s == pytest.approx(c.size_bytes / 100e9) and c.commit_s == 0
    a = checkpoint_costs(RecoveryConfig(checkpoint_mode="async"), params, 8000, 200e9)
    assert a.stall_s == pytest.approx(c.size_bytes / 8000 / 20e9)  # shard over PCIe
    assert a.commit_s == pytest.approx(c.size_bytes / 100e9)  # the write, in the background
    m = checkpoint_costs(RecoveryConfig(checkpoint_mode="in-memory"), params, 8000, 200e9)
    assert m.load_s == m.commit_s == pytest.approx(c.size_bytes / 1000 / 200e9)


def test_young_and_daly():
    assert young_interval_s(50, 20000) == pytest.approx(math.sqrt(2 * 50 * 20000))
    # Daly -> Young - delta when delta << M; Daly's series otherwise
    assert daly_interval_s(1e-3, 1e6) == pytest.approx(young_interval_s(1e-3, 1e6), rel=1e-3)
    x = 500 / 20000
    expected = math.sqrt(2 * 500 * 10000) * (1 + math.sqrt(x) / 3 + x / 9) - 500
    assert daly_interval_s(500, 10000) == pytest.approx(expected)
    assert daly_interval_s(3, 1) == 1  # delta >= 2M: checkpoint every M


def test_young_interval_maximises_first_order_ettr():
    delta, r, m = 30.0, 900.0, 6 * 3600.0
    tau = young_interval_s(delta, m)
    best = max(np.linspace(60, 6000, 2000), key=lambda t: first_order_ettr(t, delta, r, m))
    assert best == pytest.approx(tau, rel=0.05)
    assert first_order_ettr(1e9, 1, 1, 10) == 0.0  # floored


def test_downtime_adds_its_parts():
    cfg = RecoveryConfig(detection_s=60, reschedule_s=600, restart_s=300, warmup_s=100)
    assert restart_downtime_s(cfg, 20, node_lost=True) == 60 + 600 + 300 + 20 + 100
    assert restart_downtime_s(cfg, 20, node_lost=False) == 60 + 300 + 20 + 100


@pytest.mark.parametrize(
    "kwargs",
    [{"detection_s": -1.0}, {"storage_write_bytes_per_s": 0.0}, {"spares": -2},
     {"checkpoint_interval_s": math.inf}, {"policy": "pray"}],
)  # fmt: skip
def test_bad_recovery_parameters(kwargs):
    with pytest.raises(ValueError):
        RecoveryConfig(**kwargs)


def lost_per_failure(*overrides: str, seeds=range(3)):
    lost = []
    for seed in seeds:
        scn = small(
            *SOFTWARE_ONLY, "failures.software_per_hour=0.01",
            "recovery.checkpoint_interval_s=600", *overrides,
        )  # fmt: skip
        r = run_horizon(scn, 100, seed=seed)
        lost += r.lost_per_failure_s
    return np.array(lost), r


def test_blocking_checkpoints_lose_half_an_interval_per_failure():
    lost, r = lost_per_failure("recovery.storage_write_bytes_per_s=1e15")
    tau = r.interval_s + r.checkpoint.stall_s
    se = tau / math.sqrt(12 * len(lost))  # uniform on [0, tau)
    assert lost.mean() == pytest.approx(tau / 2, abs=4 * se)
    assert lost.max() <= tau + 1e-6


def test_async_commit_lag_adds_to_the_loss():
    lost, r = lost_per_failure(
        "recovery.checkpoint_mode=async", "recovery.storage_write_bytes_per_s=0.2e9"
    )
    c = r.checkpoint.commit_s
    assert 100 < c < 150
    tau = r.interval_s + r.checkpoint.stall_s
    assert lost.mean() == pytest.approx(tau / 2 + c, abs=4 * tau / math.sqrt(12 * len(lost)))


def test_hot_spares_beat_rescheduling_beat_waiting_for_repair():
    base = [*GPU_ONLY, "failures.gpu_per_hour=1e-4", "recovery.repair_s=86400"]
    down = {}
    for policy, extra in [("spare", ["recovery.spares=4"]), ("reschedule", []), ("wait", [])]:
        r = run_horizon(small(*base, f"recovery.policy={policy}", *extra), 60, seed=5)
        down[policy] = r.downtime_s["gpu"] / r.interruptions["gpu"]
    assert down["spare"] < down["reschedule"] < down["wait"]
    assert down["wait"] > 86400 / 2  # failures during a wait cut it short and start anew


def test_spares_run_out_and_then_the_job_waits_for_repairs():
    base = [
        *GPU_ONLY,
        "failures.gpu_per_hour=1e-3",
        "recovery.policy=spare",
        "recovery.repair_s=86400",
    ]
    few = run_horizon(small(*base, "recovery.spares=1"), 20, seed=2)
    many = run_horizon(small(*base, "recovery.spares=64"), 20, seed=2)
    assert few.interruptions == many.interruptions  # same failures, seeded
    assert few.ettr < many.ettr


def test_shrink_runs_on_fewer_replicas_and_grows_back():
    base = [*GPU_ONLY, "failures.gpu_per_hour=1e-4", "recovery.repair_s=7200"]
    shrink = run_horizon(small(*base, "recovery.policy=shrink"), 30, seed=1)
    assert shrink.degraded_s > 0
    assert shrink.mean_downtime_s < run_horizon(small(*base), 30, seed=1).mean_downtime_s
    assert CheckpointMode("in-memory") is CheckpointMode.IN_MEMORY and Policy("shrink")


def test_every_long_run_field_is_documented():
    from dataclasses import fields
    from pathlib import Path

    from simulators.cost import CostConfig
    from simulators.failures import FailureConfig

    doc = (Path(__file__).parents[2] / "simulators" / "scenarios" / "README.md").read_text()
    for cls, section in (
        (FailureConfig, "failures"),
        (RecoveryConfig, "recovery"),
        (CostConfig, "cost"),
    ):
        assert f"## `[{section}]`" in doc
        for f in fields(cls):
            assert f"`{f.name}`" in doc, f"{section}.{f.name} is not documented"


def test_a_node_waited_for_stays_missing_when_the_wait_is_interrupted():
    # GPU failures need the node back (wait for repair); frequent software failures
    # interrupt the waits. The job must stay down for every repair window regardless.
    repair = 6 * 3600.0
    scn = small(
        "failures.gpu_per_hour=2e-4", "failures.software_per_hour=0.05",
        "failures.node_per_hour=0", "failures.nic_per_hour=0", "failures.link_per_hour=0",
        "recovery.policy=wait", f"recovery.repair_s={repair}",
    )  # fmt: skip
    r = run_horizon(scn, 20, seed=3)
    windows = sorted((t, t + repair) for t, c in r.interruption_log if c == "gpu")
    assert len(windows) >= 3
    covered, end = 0.0, 0.0
    for lo, hi in windows:
        lo, hi = max(lo, end), min(hi, r.wall_s)
        covered += max(0.0, hi - lo)
        end = max(end, hi)
    assert sum(r.downtime_s.values()) >= covered
    same = run_horizon(apply_overrides(scn, ["recovery.policy=spare", "recovery.spares=0",
                                             "recovery.spare_swap_s=0"]), 20, seed=3)  # fmt: skip
    assert same.ettr == pytest.approx(r.ettr)
