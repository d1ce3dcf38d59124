"""The hardware table against the datasheet figures it cites."""

import pytest

from simulators import hardware as hw


def test_a100_peaks_match_datasheet():
    a100 = hw.gpu("A100-80GB")
    assert a100.peak_flops("bf16") == 312e12
    assert a100.peak_flops(hw.DType.TF32) == 156e12
    assert a100.peak_flops("int8") == 624e12
    assert a100.hbm_bandwidth_bytes_per_s == 2039e9
    assert hw.gpu("A100-40GB").hbm_bandwidth_bytes_per_s == 1555e9


def test_h100_h200_share_compute_differ_in_memory():
    h100, h200 = hw.gpu("H100-SXM"), hw.gpu("H200")
    assert h100.peak_flops("fp8") == h200.peak_flops("fp8") == 1978.9e12
    assert h200.hbm_bytes > h100.hbm_bytes
    assert h200.hbm_bandwidth_bytes_per_s / h100.hbm_bandwidth_bytes_per_s == pytest.approx(
        4.8 / 3.35
    )


def test_a100_has_no_fp8():
    with pytest.raises(ValueError, match="no fp8"):
        hw.gpu("A100-40GB").peak_flops("fp8")


def test_unknown_names_list_known_ones():
    with pytest.raises(ValueError, match=r"unknown GPU 'a100'.*A100-40GB"):
        hw.gpu("a100")
    with pytest.raises(ValueError, match="unknown node"):
        hw.node("dgx")
    with pytest.raises(ValueError, match="unknown link.*NVLink3"):
        hw.link("nvlink")


def test_p4d_nic_share_per_gpu():
    p4d = hw.node("p4d.24xlarge")
    assert p4d.nic_bytes_per_s_per_node == 50e9  # 400 Gb/s EFA
    assert p4d.nic_bytes_per_s_per_gpu == pytest.approx(6.25e9)


def test_cluster_oversubscription_applies_past_a_leaf():
    c = hw.ClusterSpec(hw.node("dgx-a100"), 64, nodes_per_leaf=16, oversubscription=2.0)
    assert c.world_size == 512
    inside = c.inter_node_bytes_per_s_per_gpu(16)
    assert inside == pytest.approx(25e9 * 0.9)
    assert c.inter_node_bytes_per_s_per_gpu(17) == pytest.approx(inside / 2)
    assert c.inter_node_latency_s(64) > c.inter_node_latency_s(2)


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"num_nodes": 0}, r"num_nodes\(0\)"),
        ({"num_nodes": 2, "oversubscription": 0.5}, r"oversubscription\(0.5\)"),
    ],
)
def test_cluster_rejects_bad_values(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        hw.ClusterSpec(hw.node("dgx-a100"), **kwargs)


def test_link_rejects_negative_bandwidth():
    with pytest.raises(ValueError, match=r"bandwidth_bytes_per_s\(-1"):
        hw.LinkSpec("x", hw.LinkKind.INTER, -1.0, 1e-6, 0.9)
