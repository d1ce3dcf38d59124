"""The rank grid: Megatron-LM's documented example, round trips and validation messages."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.layout import Coord, Layout, RankOrder


def test_megatron_docstring_example():
    # Megatron-LM initialize_model_parallel: 16 GPUs, tp=2, pp=4, dp=2.
    lay = Layout(tp=2, pp=4, dp=2, world_size=16, gpus_per_node=8)
    assert lay.tp_groups()[:4] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert sorted(lay.pp_groups()) == [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]]
    assert sorted(lay.dp_groups())[:4] == [[0, 2], [1, 3], [4, 6], [5, 7]]


def test_world_size_mismatch_prints_every_number():
    with pytest.raises(
        ValueError,
        match=r"dp\(8\) \* pp\(4\) \* tp\(2\) = 64 != "
        r"world_size\(48\)",
    ):
        Layout(tp=2, pp=4, dp=8, world_size=48)


def test_tp_must_stay_inside_a_node():
    with pytest.raises(ValueError, match=r"tp\(16\) > gpus_per_node\(8\)"):
        Layout(tp=16, dp=1)
    assert Layout(tp=16, allow_tp_across_nodes=True).tp == 16
    with pytest.raises(ValueError, match=r"gpus_per_node\(8\) is not divisible by tp\(3\)"):
        Layout(tp=3)


def test_layers_must_divide_into_stages():
    lay = Layout(tp=8, pp=35, dp=1)
    lay.check_layers(105, virtual_stages=3)
    with pytest.raises(ValueError, match=r"layers\(96\) is not divisible by pp\(35\)"):
        lay.check_layers(96)


def test_for_world_and_nodes():
    lay = Layout.for_world(8000, tp=8, pp=8)
    assert lay.dp == 125 and lay.num_nodes == 1000
    with pytest.raises(ValueError, match=r"world_size\(100\) is not divisible"):
        Layout.for_world(100, tp=8, pp=1)


def test_tp_groups_are_inside_one_node():
    lay = Layout(tp=8, pp=4, dp=4)
    assert all(lay.nodes_spanned(g) == 1 for g in lay.tp_groups())
    assert all(lay.nodes_spanned(g) == 4 for g in lay.dp_groups())


def test_tp_pp_dp_order_keeps_pipeline_in_node():
    lay = Layout(tp=2, pp=4, dp=2, order=RankOrder.TP_PP_DP)
    assert all(lay.nodes_spanned(g) == 1 for g in lay.pp_groups())


def test_expert_groups_split_dp():
    lay = Layout(tp=1, pp=1, dp=8, ep=4)
    assert lay.ep_groups() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ValueError, match=r"dp\(8\) is not divisible by ep\(3\)"):
        Layout(dp=8, ep=3)


@given(
    tp=st.sampled_from([1, 2, 4, 8]),
    pp=st.integers(1, 5),
    dp=st.integers(1, 5),
    order=st.sampled_from(list(RankOrder)),
)
def test_every_rank_in_exactly_one_group_per_axis(tp, pp, dp, order):
    lay = Layout(tp=tp, pp=pp, dp=dp, order=order)
    for groups in (lay.tp_groups(), lay.pp_groups(), lay.dp_groups()):
        flat = sorted(r for g in groups for r in g)
        assert flat == list(range(lay.size))
    for r in range(lay.size):
        c = lay.coords(r)
        assert isinstance(c, Coord) and lay.rank(*c) == r
