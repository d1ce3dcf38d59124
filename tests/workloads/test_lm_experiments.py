"""LM experiments and probes: row columns, the passkey generator, routing MI, registered cases.
Short runs only (a few steps); the figures themselves come from the benchmark script."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from workloads.base import get
from workloads.lm import LM, AttnKind, AttnSpec, TrainConfig, make_variant, param_counts, preset
from workloads.lm.experiments import (
    aux_coef_sweep,
    curriculum_comparison,
    dynamic_depth_quality,
    expert_specialisation,
    moe_vs_dense,
    mutual_information_bits,
    swa_quality,
)
from workloads.lm.probes import (
    KEY_LO,
    N_KEYS,
    N_QUERIES,
    QUERY,
    memory_passkey_probe,
    passkey_batch,
    passkey_probe,
)

TC = TrainConfig(batch_size=4, seq_len=32, eval_windows=4, warmup_steps=1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_passkey_batch_places_key_at_distance():
    gen = torch.Generator().manual_seed(0)
    d = torch.tensor([8, 13, 31])
    x, key = passkey_batch(3, 32, d, gen)
    assert (x[:, -N_QUERIES:] == QUERY).all()
    for b in range(3):
        is_key = (x[b] >= KEY_LO) & (x[b] < KEY_LO + N_KEYS)
        assert is_key.nonzero().flatten().tolist() == [31 - int(d[b])]
        assert x[b, 31 - int(d[b])] == key[b]
    with pytest.raises(ValueError, match=r"distances must be in \[8, 31\], got 32..32"):
        passkey_batch(1, 32, torch.tensor([32]), gen)


def test_passkey_probe_rows():
    cfg = make_variant(preset("tiny"), "sliding-window", window=5)
    rows = passkey_probe({"swa": cfg}, seq_len=16, steps=2, batch=4, distances=[8, 15])
    assert [r["distance"] for r in rows] == [8, 15]
    assert rows[0]["receptive_field"] == 8
    assert [r["beyond_receptive_field"] for r in rows] == [False, True]


def test_memory_passkey_probe_rows_and_window_equivalence():
    """A MEMORY layer without a bank is a WINDOW layer; with banks the probe runs segment-wise."""
    mem_cfg = replace(preset("tiny"), attention=(AttnSpec(AttnKind.MEMORY, window=4, top_m=2),) * 2)
    win_cfg = replace(preset("tiny"), attention=(AttnSpec(AttnKind.WINDOW, window=4),) * 2)
    torch.manual_seed(0)
    mem = LM(mem_cfg)
    win = LM(win_cfg)
    win.load_state_dict({k: v for k, v in mem.state_dict().items() if "memory_attn" not in k})
    x = torch.randint(0, 256, (2, 16))
    torch.testing.assert_close(mem(x)[0], win(x)[0])
    assert sum(p.numel() for p in mem.parameters()) == param_counts(mem_cfg)["params"]
    rows = memory_passkey_probe(
        {"mem": mem_cfg},
        seg_len=16,
        train_segments=2,
        contexts=(32, 64),
        steps=1,
        batch=2,
        n_eval=2,
    )
    assert [(r["context_tokens"], r["distance"]) for r in rows] == [(32, 24), (64, 56)]


def test_mutual_information():
    assert mutual_information_bits(torch.tensor([[10, 0], [0, 10]])) == pytest.approx(1.0)
    assert mutual_information_bits(torch.tensor([[5, 5], [5, 5]])) == pytest.approx(0.0)


def test_experiment_rows():
    assert {r["variant"] for r in moe_vs_dense(2, train_config=TC)} == {
        "dense",
        "moe",
        "moe-equal-total",
        "dense-equal-total",
    }
    sweep = aux_coef_sweep((0.0, 0.1), 2, train_config=TC)
    assert [r["aux_coef"] for r in sweep] == [0.0, 0.1] and 0 <= sweep[0]["dropped_fraction"] < 1
    spec = expert_specialisation(2, train_config=TC, windows=2)
    assert len(spec) == 2 * preset("tiny").n_layers and all(0 <= r["mi_bits"] <= 1 for r in spec)
    depth = dynamic_depth_quality(2, train_config=TC)
    assert 1 <= depth[1]["avg_depth"] <= depth[1]["max_depth"]
    assert [r["order"] for r in curriculum_comparison(2, train_config=TC)] == [
        "random",
        "short-to-long",
    ]
    swa = swa_quality(2, train_config=TC, window=8)
    assert swa[0]["quality_retained"] == 1.0 and swa[1]["window"] == 8


@pytest.mark.parametrize(
    "variant", ["dense", "sliding-window", "progressive", "moe", "dynamic-depth"]
)
def test_registered_lm_cases(variant):
    workload = get(f"lm-forward-{variant}")
    assert set(workload.sizes) == {"tiny", "cpu", "gpu"}
    case = workload.build("tiny", "cpu", "float32")
    torch.testing.assert_close(case.fn(), case.reference(), atol=case.atol, rtol=case.rtol)
    assert case.flops > 0
