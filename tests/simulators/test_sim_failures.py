"""Failure processes: published rates, renewal clocks, Poisson counts of interruptions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulators.failures import (
    RATE_PRESETS,
    Component,
    Distribution,
    FailureConfig,
    UnitClocks,
    job_rates_per_s,
    mttf_s,
    poisson_interval,
    units_per_job,
)
from simulators.horizon import run_horizon
from simulators.scenario import apply_overrides, load_scenario

ONLY_SOFTWARE = [f"failures.{c}_per_hour=0" for c in ("gpu", "node", "nic", "link")]


def test_llama3_preset_reproduces_one_failure_every_three_hours():
    # Dubey et al. 2024: 419 unexpected interruptions in 54 days on 2048 nodes x 8 H100
    assert mttf_s(FailureConfig(), 2048, 8) / 3600 == pytest.approx(54 * 24 / 419, rel=1e-9)
    rates = job_rates_per_s(FailureConfig(), 2048, 8)
    assert rates[Component.GPU] / sum(rates.values()) == pytest.approx(268 / 419)


def test_kokolis_preset_is_7_9_hours_at_1024_gpus():
    assert mttf_s(FailureConfig(preset="kokolis-2025"), 128, 8) / 3600 == pytest.approx(7.9)
    ratio = RATE_PRESETS["kokolis-2025"][Component.GPU] / RATE_PRESETS["llama3-2024"][Component.GPU]
    assert 5 < ratio < 8  # research clusters fail ~6x as often


def test_overrides_scale_and_disable():
    cfg = FailureConfig(gpu_per_hour=1e-4, rate_scale=2.0)
    assert cfg.rates_per_hour()[Component.GPU] == 2e-4
    assert FailureConfig(enabled=False).rates_per_hour()[Component.NODE] == 0
    assert mttf_s(FailureConfig(enabled=False), 10, 8) == math.inf
    assert units_per_job(3, 8) == {"gpu": 24, "node": 3, "nic": 24, "link": 24, "software": 3}


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"preset": "nope"}, "failures.preset"),
        ({"gpu_per_hour": -1.0}, "failures.gpu_per_hour(-1.0)"),
        ({"rate_scale": -0.5}, "failures.rate_scale"),
        ({"weibull_shape": 0.0}, "failures.weibull_shape"),
    ],
)
def test_bad_parameters_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field.replace("(", r"\(").replace(")", r"\)")):
        FailureConfig(**kwargs)


@pytest.mark.parametrize("dist", list(Distribution))
def test_unit_lifetimes_have_the_configured_mean(dist):
    rng = np.random.default_rng(0)
    clocks = UnitClocks(200_000, 1e-3, FailureConfig(distribution=dist, weibull_shape=0.7), rng)
    mean = clocks.next_s.mean()
    assert mean == pytest.approx(1e3, rel=0.02)  # Weibull scale chosen so the mean is 1/rate


def test_renewal_replaces_the_failed_unit():
    clocks = UnitClocks(3, 1.0, FailureConfig(), np.random.default_rng(1))
    first = sorted(clocks.next_s)
    t = clocks.pop()
    assert t == first[0] and clocks.next_s.min() >= first[0] and len(clocks.next_s) == 3


def test_poisson_interval_matches_known_quantiles():
    assert poisson_interval(113.7) == (87, 142)  # scipy.stats.poisson.ppf(0.005/0.995)
    assert poisson_interval(3.0) == (0, 8)
    assert poisson_interval(0.0) == (0, 0)


def test_interruption_counts_are_poisson():
    # 16 nodes, software failures only at 0.01/node-hour: M = 6.25 h; 100 days ~ 384 expected
    scn = apply_overrides(
        load_scenario("dp-1.7b-allreduce"), [*ONLY_SOFTWARE, "failures.software_per_hour=0.01"]
    )
    counts = []
    for seed in range(8):
        r = run_horizon(scn, 100, seed=seed)
        n = sum(r.interruptions.values())
        lo, hi = r.interruption_interval
        assert lo <= n <= hi, (seed, n, r.interruption_interval)
        counts.append(n)
    expected = 0.01 * 16 * 100 * 24
    assert r.expected_interruptions == pytest.approx(expected)
    # mean of 8 Poisson counts: sd = sqrt(384 / 8) ~ 6.9
    assert abs(np.mean(counts) - expected) < 4 * math.sqrt(expected / 8)
