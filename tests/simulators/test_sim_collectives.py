"""α–β collective costs against their closed forms and nccl-tests conventions."""

import math

import numpy as np
import pytest

from simulators import collectives as co


def test_ring_all_reduce_equals_alpha_beta_formula():
    n, p, b, a = 1e9, 16, 100e9, 5e-6
    assert co.ring_all_reduce_s(n, p, b, a) == pytest.approx(2 * 15 * a + 2 * 15 / 16 * n / b)
    assert co.ring_all_reduce_s(n, 1, b, a) == 0.0


def test_busbw_recovers_link_bandwidth_for_ring():
    n, p, b = 1e9, 8, 230e9
    t = co.ring_all_reduce_s(n, p, b, 0.0)
    assert co.algbw(n, t) * co.bus_bandwidth_factor("all_reduce", p) == pytest.approx(b)
    assert co.bus_bandwidth_factor("all_gather", 8) == pytest.approx(7 / 8)
    assert co.bus_bandwidth_factor("broadcast", 8) == 1.0


def test_tree_beats_ring_on_latency_loses_on_bandwidth():
    p, b, a = 1024, 25e9, 10e-6
    assert co.tree_all_reduce_s(1e3, p, b, a) < co.ring_all_reduce_s(1e3, p, b, a)
    assert co.tree_all_reduce_s(1e10, 16, b, a) > co.ring_all_reduce_s(1e10, 16, b, a)


def test_hierarchical_cuts_latency_not_bandwidth():
    # Unpipelined phases: for large messages the intra-node phases add to the inter-node
    # one, so NCCL's flat multi-NIC ring is as fast or faster.
    args = dict(
        gpus_per_node=8,
        nodes=64,
        intra_bytes_per_s=225e9,
        intra_alpha_s=2e-6,
        inter_bytes_per_s_per_gpu=22.5e9,
        inter_alpha_s=8e-6,
    )
    small, large = 1e6, 1e10
    assert co.hierarchical_all_reduce_s(small, **args) < 0.3 * co.flat_ring_all_reduce_s(
        small, **args
    )
    ratio = co.hierarchical_all_reduce_s(large, **args) / co.flat_ring_all_reduce_s(large, **args)
    assert 1.0 <= ratio < 2.0


def test_parameter_server_incast():
    n, w, b = 1e9, 100, 12.5e9
    single = co.parameter_server_s(n, w, b, b, 0.0)
    assert single == pytest.approx(2 * w * n / b)
    assert co.parameter_server_s(n, w, b, b, 0.0, servers=100) == pytest.approx(2 * n / b)
    ring = co.ring_all_reduce_s(n, w, b, 0.0)
    assert single / ring == pytest.approx(w * w / (w - 1))


def test_mixing_matrices_are_doubly_stochastic():
    for g in co.GossipGraph:
        w = co.mixing_matrix(g, 16)
        assert np.allclose(w.sum(0), 1) and np.allclose(w.sum(1), 1) and np.allclose(w, w.T)


def test_ring_gossip_spectral_gap_closed_form():
    # W = (I + S + S^T)/3 on a cycle: eigenvalues (1 + 2 cos(2πk/n))/3.
    n = 20
    gap = co.spectral_gap(co.mixing_matrix("ring", n))
    assert gap == pytest.approx(1 - (1 + 2 * math.cos(2 * math.pi / n)) / 3)
    assert co.gossip_rounds_to_consensus(co.mixing_matrix("complete", n), 1e-3) == 1


def test_gossip_rounds_grow_with_ring_size_but_not_exponential_graph():
    r = [co.gossip_rounds_to_consensus(co.mixing_matrix("ring", n), 1e-2) for n in (16, 64)]
    e = [co.gossip_rounds_to_consensus(co.mixing_matrix("exponential", n), 1e-2) for n in (16, 64)]
    assert r[1] > 10 * r[0] and e[1] <= 3 * e[0]


def test_gossip_does_not_change_per_hop_latency():
    # a round costs degree · (α + N/B): the α is the network's own.
    assert co.gossip_round_s(0.0, 2, 1e9, 5e-6) == pytest.approx(10e-6)


def test_int8_compression_is_a_quarter_plus_scales():
    c = co.compressed_bytes(4 * 1024 * 1024, 8)
    assert c / (4 * 1024 * 1024) == pytest.approx(0.25 + 4 / 4096)
    assert co.compressed_bytes(4e6, 16) == 2e6
    with pytest.raises(ValueError, match=r"bits\(3\)"):
        co.compressed_bytes(1.0, 3)


def test_compression_pays_off_only_when_bandwidth_bound():
    slow = dict(p=64, bandwidth_bytes_per_s=1.25e9, alpha_s=10e-6, hbm_bytes_per_s=1.5e12)
    fast = dict(p=8, bandwidth_bytes_per_s=230e9, alpha_s=2e-6, hbm_bytes_per_s=1.5e12)
    n = 1e9
    assert co.compressed_ring_all_reduce_s(n, bits=8, **slow) < co.ring_all_reduce_s(
        n, 64, 1.25e9, 10e-6
    )
    assert co.compressed_ring_all_reduce_s(n, bits=8, **fast) > 0.5 * co.ring_all_reduce_s(
        n, 8, 230e9, 2e-6
    )


def test_negative_bandwidth_is_rejected():
    with pytest.raises(ValueError, match=r"bandwidth_bytes_per_s\(-5"):
        co.ring_all_reduce_s(1.0, 4, -5.0, 0.0)
