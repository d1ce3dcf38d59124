"""Cost and energy against hand arithmetic."""

from __future__ import annotations

import pytest

from simulators.cost import GPU_HOUR_USD, CostConfig, cost_of
from simulators.horizon import run_horizon
from simulators.scenario import apply_overrides, load_scenario


def test_cost_energy_and_per_token():
    c = cost_of(
        CostConfig(pue=1.5, host_power_w=1000),
        gpu_name="H100-SXM", gpu_tdp_w=700, gpus=16, nodes=2,
        wall_s=7200, useful_s=3600, tokens=2e9,
    )  # fmt: skip
    assert c.gpu_hours == 32
    assert c.cost_usd == pytest.approx(32 * 55.04 / 8)
    assert c.energy_kwh == pytest.approx((16 * 700 + 2 * 1000) * 2 * 1.5 / 1000)
    assert c.usd_per_million_tokens == pytest.approx(c.cost_usd / 2000)
    assert c.usd_per_useful_hour == pytest.approx(c.cost_usd)


def test_price_override_and_unknown_gpu():
    assert CostConfig(gpu_hour_usd=1.0).price_per_gpu_hour("anything") == 1.0
    assert CostConfig().price_per_gpu_hour("A100-40GB") == pytest.approx(2.7447, abs=1e-4)
    with pytest.raises(ValueError, match="cost.gpu_hour_usd"):
        CostConfig().price_per_gpu_hour("TPUv5")
    assert set(GPU_HOUR_USD) == {"A100-40GB", "A100-80GB", "H100-SXM", "H200"}


@pytest.mark.parametrize("kwargs", [{"pue": 0.9}, {"gpu_hour_usd": -1.0}, {"host_power_w": -5.0}])
def test_bad_cost_parameters(kwargs):
    with pytest.raises(ValueError, match="cost."):
        CostConfig(**kwargs)


def test_failures_raise_the_cost_per_token():
    base = load_scenario("dp-1.7b-allreduce")
    calm = run_horizon(apply_overrides(base, ["failures.enabled=false"]), 5)
    rough = run_horizon(apply_overrides(base, ["failures.rate_scale=50"]), 5)
    assert calm.cost.cost_usd == rough.cost.cost_usd  # same GPUs held as long
    assert rough.cost.usd_per_million_tokens > calm.cost.usd_per_million_tokens
