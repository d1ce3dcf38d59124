"""Parameter counts and FLOPs against the figures published with each model."""

import pytest

from simulators import model as tm

GIB = 2**30


@pytest.mark.parametrize(
    "name, published_billion",
    [
        # Narayanan et al. 2021 Table 1, "Number of parameters (billion)".
        ("megatron-1.7b", 1.7),
        ("megatron-3.6b", 3.6),
        ("megatron-7.5b", 7.5),
        ("megatron-18b", 18.4),
        ("megatron-39b", 39.1),
        ("megatron-76b", 76.1),
        ("megatron-145b", 145.6),
        ("megatron-310b", 310.1),
        ("megatron-530b", 529.6),
        ("megatron-1t", 1008.0),
    ],
)
def test_megatron_table1_parameter_counts(name, published_billion):
    assert tm.param_count(tm.model(name)) / 1e9 == pytest.approx(published_billion, abs=0.06)


def test_gpt3_matches_megatron_closed_form():
    m = tm.model("gpt3-175b")
    n_l, h, v, s = m.layers, m.hidden, m.vocab, m.seq
    closed = 12 * n_l * h * h * (1 + 13 / (12 * h) + (v + s) / (12 * n_l * h))
    assert tm.param_count(m) == pytest.approx(closed, rel=1e-6)  # + final LayerNorm only
    assert tm.param_count(m) / 1e9 == pytest.approx(174.6, abs=0.1)


@pytest.mark.parametrize(
    "name, billions, rel",
    [("llama2-7b", 6.74, 0.01), ("llama2-70b", 68.98, 0.01), ("mixtral-8x7b", 46.7, 0.01)],
)
def test_llama_family_counts(name, billions, rel):
    assert tm.param_count(tm.model(name)) / 1e9 == pytest.approx(billions, rel=rel)


def test_mixtral_active_params_is_about_13b():
    assert tm.active_param_count(tm.model("mixtral-8x7b")) / 1e9 == pytest.approx(12.9, rel=0.02)


def test_eq3_by_hand_for_145b_row():
    # 96 * 2304 * 2048 * 80 * 12288^2 * (1 + 2048/73728 + 51200/(16*80*12288))
    m = tm.model("megatron-145b")
    by_hand = 96 * 2304 * 2048 * 80 * 12288**2 * (1 + 2048 / 73728 + 51200 / 15728640)
    assert tm.megatron_flops_per_iteration(m, 2304) == pytest.approx(by_hand, rel=1e-12)
    # 148 TFLOP/s per GPU on 1536 GPUs => this many seconds per iteration
    assert by_hand / (1536 * 148e12) == pytest.approx(24.8, abs=0.1)


@pytest.mark.parametrize("name", ["megatron-1.7b", "gpt3-175b", "megatron-1t"])
def test_model_flops_equal_eq3_without_recompute(name):
    m = tm.model(name)
    assert tm.model_flops_per_iteration(m, 8) == pytest.approx(
        tm.megatron_flops_per_iteration(m, 8, recompute=False), rel=1e-9
    )


def test_model_flops_is_6n_plus_attention():
    m = tm.model("gpt3-175b")
    n_matmul = 12 * m.layers * m.hidden**2 + m.vocab * m.hidden
    assert tm.model_flops_per_token(m) == pytest.approx(
        6 * n_matmul + 12 * m.layers * m.seq * m.hidden, rel=1e-9
    )


def test_bad_spec_names_the_values():
    with pytest.raises(ValueError, match=r"hidden\(100\) is not divisible by heads\(3\)"):
        tm.TransformerSpec("x", 2, 100, 3)
    with pytest.raises(ValueError, match="unknown model 'gpt3'"):
        tm.model("gpt3")
