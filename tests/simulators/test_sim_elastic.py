"""Load balancing, autoscaling and aggregation models against hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.aggregation import aggregation_costs
from simulators.autoscale import AutoscalerConfig, JobMix, fixed_size_for_load, utilisation
from simulators.balance import Heterogeneity, simulate_balance, speeds, split


def test_split_is_whole_and_proportional():
    share = split(10, np.array([1.0, 1.0, 2.0]))
    assert share.sum() == 10 and share[2] == 5 and sorted(share[:2]) == [2, 3]


def test_homogeneous_cluster_gains_nothing_and_one_slow_replica_is_exact():
    r = simulate_balance(Heterogeneity(), replicas=8, batch=64, compute_s=1.0, comm_s=0.0)
    assert r.gain == 0 and r.static_step_s == pytest.approx(1.0)
    # persistent speeds: static waits for the slowest, dynamic runs at the mean speed
    r = simulate_balance(
        Heterogeneity(spread=0.3), replicas=4, batch=40000, compute_s=1.0, comm_s=0.0, steps=3
    )
    s = speeds(Heterogeneity(spread=0.3), 4, 4, np.random.default_rng(0))[0]
    assert r.static_step_s == pytest.approx(1 / s.min(), rel=1e-3)
    assert r.dynamic_step_s == pytest.approx(1 / s.mean(), rel=1e-3)


def test_communication_bounds_the_gain():
    h = Heterogeneity(spread=0.2)
    kw = dict(replicas=32, batch=3200, steps=50)
    no_comm = simulate_balance(h, compute_s=1.0, comm_s=0.0, **kw).gain
    comm = simulate_balance(h, compute_s=1.0, comm_s=1.0, **kw).gain
    assert 0 < comm < no_comm


def test_bad_heterogeneity():
    with pytest.raises(ValueError):
        Heterogeneity(straggler_prob=2)


def test_fixed_cluster_utilisation_is_the_offered_load():
    mix = JobMix("one-node", 30, (1,), 1.0, sigma=0.5)
    nodes = fixed_size_for_load(mix, 0.5)
    u = utilisation(mix, days=20, nodes=nodes, seed=3)
    assert u.overall == pytest.approx(0.5, abs=0.05)
    assert len(u.daily) == 20 and u.mean_nodes == pytest.approx(nodes)


def test_autoscaler_tracks_demand():
    mix = JobMix("mixed", 6, (1, 2, 4, 8), 2.0)
    slow = utilisation(mix, days=5, auto=AutoscalerConfig(provision_s=3600), seed=1)
    fast = utilisation(mix, days=5, auto=AutoscalerConfig(provision_s=60), seed=1)
    assert 0.5 < slow.overall < fast.overall < 1.0
    with pytest.raises(ValueError, match="largest job"):
        utilisation(mix, days=1, nodes=4)


def test_aggregation_syncs_per_step():
    c = aggregation_costs(1e9, 8, 16, 240e9, 5e-6, 22.5e9, 6e-6, every=2.5)
    assert c["flat"].global_syncs_per_step == c["hierarchical"].global_syncs_per_step == 1
    assert c["two-level"].global_syncs_per_step == pytest.approx(0.4)
    with pytest.raises(ValueError):
        aggregation_costs(1e9, 8, 16, 240e9, 5e-6, 22.5e9, 6e-6, every=0.5)
