"""Message-level SimPy mode against the analytic α–β mode, and contention."""

import pytest

from simulators import collectives as co
from simulators.hardware import ClusterSpec, node
from simulators.network import simulate_ring_all_reduces


@pytest.mark.parametrize("nodes, size", [(2, 1e6), (16, 1e9), (64, 1e8)])
def test_rail_ring_agrees_with_analytic_within_2pct(nodes, size):
    c = ClusterSpec(node("dgx-a100"), nodes)
    sim = simulate_ring_all_reduces(c, [[n * 8 for n in range(nodes)]], size).times_s[0]
    ana = co.ring_all_reduce_s(
        size, nodes, c.inter_node_bytes_per_s_per_gpu(nodes), c.inter_node_latency_s(nodes)
    )
    assert sim == pytest.approx(ana, rel=0.02)


def test_intra_node_ring_agrees():
    c = ClusterSpec(node("dgx-h100"), 1)
    sim = simulate_ring_all_reduces(c, [list(range(8))], 4e8).times_s[0]
    link = c.node.intra_link
    assert sim == pytest.approx(
        co.ring_all_reduce_s(4e8, 8, link.achievable_bytes_per_s, link.latency_s), rel=0.02
    )


def test_rails_do_not_contend_on_dgx_but_do_on_p4d():
    groups = [[n * 8 + k for n in range(8)] for k in range(8)]
    dgx = ClusterSpec(node("dgx-a100"), 8)
    alone = simulate_ring_all_reduces(dgx, groups[:1], 1e9).times_s[0]
    assert max(simulate_ring_all_reduces(dgx, groups, 1e9).times_s) == pytest.approx(alone)
    p4d = ClusterSpec(node("p4d.24xlarge"), 8)  # 8 GPUs share 4 NICs
    alone = simulate_ring_all_reduces(p4d, groups[:1], 1e9).times_s[0]
    shared = max(simulate_ring_all_reduces(p4d, groups, 1e9).times_s)
    assert shared == pytest.approx(2 * alone, rel=0.05)


def test_refuses_large_clusters():
    with pytest.raises(ValueError, match=r"num_nodes\(65\)"):
        simulate_ring_all_reduces(ClusterSpec(node("dgx-a100"), 65), [[0, 8]], 1.0)
