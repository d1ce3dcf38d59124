"""Memory per GPU against Korthikanti et al. 2022, Figure 1 (per-GPU GiB, A100-80GB).

The configurations are those of the paper's Table 3 (micro-batch 4 for 22B, 1 otherwise;
175B and 530B use the interleaved schedule with 3 chunks per stage). Model states are
reported with Megatron's 18 B/param (fp32 main gradients) for the transformer layers.
"""

import pytest

from simulators import memory as mem
from simulators.model import Recompute, model

GIB = 2**30

CASES = {  # name: (model, micro_batch, tp, pp, virtual, params+opt GiB, act none, act seqsel)
    "22B": ("megatron-22b", 4, 8, 1, 1, 45.5625, 59.25, 9.5625),
    "175B": ("gpt3-175b", 1, 8, 8, 3, 45.5625, 66.84375, 12.3515625),
    "530B": ("mt-nlg-530b", 1, 8, 35, 3, 31.640625, 114.0234375, 23.076171875),
    "1T": ("megatron-1t", 1, 8, 64, 1, 32.958984375, 131.25, 26.5625),
}


@pytest.mark.parametrize("case", CASES)
def test_activation_memory_matches_figure1(case):
    name, b, t, p, v, _, none_gib, seqsel_gib = CASES[case]
    m = model(name)
    kw = dict(micro_batch=b, tp=t, pp=p, micro_batches=64 * p, virtual_stages=v)
    none = mem.activation_bytes(m, **kw)
    seqsel = mem.activation_bytes(m, sequence_parallel=True, recompute=Recompute.SELECTIVE, **kw)
    assert none / GIB == pytest.approx(none_gib, rel=0.01)
    assert seqsel / GIB == pytest.approx(seqsel_gib, rel=0.01)


@pytest.mark.parametrize("case", CASES)
def test_model_states_match_figure1(case):
    name, _, t, p, _, par_opt_gib, _, _ = CASES[case]
    params = mem.params_per_gpu(model(name), t, p, include_embeddings=False)
    w, g, o = mem.model_state_bytes(params, dp=1, grad_bytes=4)
    assert (w + g + o) / GIB == pytest.approx(par_opt_gib, rel=0.001)


def test_korthikanti_per_layer_formulas_by_hand():
    m = model("gpt3-175b")
    s, h, a, b, t = 2048, 12288, 96, 1, 8
    sbh = s * b * h
    assert mem.activation_bytes_per_layer(m, b) == sbh * (34 + 5 * a * s / h)
    assert mem.activation_bytes_per_layer(m, b, t) == sbh * (10 + 24 / t + 5 * a * s / (h * t))
    assert mem.activation_bytes_per_layer(m, b, t, True) == sbh * (34 + 5 * a * s / h) / t
    assert mem.activation_bytes_per_layer(m, b, t, True, Recompute.SELECTIVE) == 34 * sbh / t
    assert mem.activation_bytes_per_layer(m, b, t, False, Recompute.FULL) == 2 * sbh


def test_gpipe_holds_all_micro_batches():
    m = model("gpt3-175b")
    one_f = mem.in_flight_layers(m, pp=8, micro_batches=32)
    gpipe = mem.in_flight_layers(m, pp=8, micro_batches=32, schedule=mem.Schedule.GPIPE)
    assert one_f == 96 and gpipe == 32 * 12


@pytest.mark.parametrize(
    "stage, bytes_per_param", [(0, 16), (1, 4 + 12 / 8), (2, 2 + 14 / 8), (3, 16 / 8)]
)
def test_zero_stages(stage, bytes_per_param):
    w, g, o = mem.model_state_bytes(1.0, dp=8, zero_stage=stage)
    assert w + g + o == pytest.approx(bytes_per_param)


def test_memory_per_gpu_totals_components():
    br = mem.memory_per_gpu(
        model("gpt3-175b"),
        micro_batch=1,
        micro_batches=64,
        tp=8,
        pp=8,
        dp=1,
        recompute=Recompute.FULL,
    )
    d = br.as_dict()
    assert d["total_bytes"] == pytest.approx(sum(v for k, v in d.items() if k != "total_bytes"))
    assert br.optimizer_bytes == 6 * br.weights_bytes
