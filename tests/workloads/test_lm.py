"""The byte-level LM: config validation, attention factory vs masked-dense reference, causality,
parameter counts, data split, schedule, determinism and the comparison harness."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from workloads.lm import (
    LM,
    VARIANTS,
    AttnKind,
    AttnSpec,
    FFNKind,
    TrainConfig,
    attention_fn,
    compare_variants,
    make_variant,
    param_counts,
    preset,
    receptive_field,
    reference_attention,
    relative_quality,
    train,
)
from workloads.lm.data import Domain, fixed_windows, length_curriculum, load_split, split_documents
from workloads.lm.train import Order, lr_at

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_presets_by_exact_name():
    assert 5e6 <= param_counts(preset("cpu-small"))["params"] <= 20e6
    # GPT-2 small's shapes; 86M not 124M because a byte vocabulary replaces 50,257 BPE tokens
    assert param_counts(preset("gpt-125m"))["params"] + (50257 - 256) * 768 == pytest.approx(
        124.4e6, rel=0.01
    )
    assert 1.1e9 <= param_counts(preset("gpt-1.3b"))["params"] <= 1.5e9
    with pytest.raises(ValueError, match="'cpu_small'.*cpu-small"):
        preset("cpu_small")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"d_model": 30, "n_heads": 4}, r"d_model\(30\).*n_heads\(4\)"),
        ({"n_layers": 0}, "n_layers=0"),
        ({"ffn": (FFNKind.MOE,)}, "ffn has 1 entries but n_layers=2"),
        ({"d_ff": 130}, r"d_ff\(130\).*n_sublayers\(4\)"),
        ({"dropout": 1.0}, "dropout=1.0"),
    ],
)
def test_bad_configs_name_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        replace(preset("tiny"), **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": AttnKind.WINDOW, "window": 0}, "window=0"),
        ({"kind": AttnKind.WINDOW}, "window=None"),
        ({"kind": AttnKind.LOCAL_GLOBAL, "window": 4, "n_global": 0}, "n_global=0"),
        ({"kind": AttnKind.TOPK, "top_k": -1}, "top_k=-1"),
        ({"kind": "window", "window": 4}, "AttnKind"),
    ],
)
def test_bad_attention_specs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AttnSpec(**kwargs)


SPECS = [
    AttnSpec(),
    AttnSpec(AttnKind.WINDOW, window=5),
    AttnSpec(AttnKind.LOCAL_GLOBAL, window=4, n_global=2),
    AttnSpec(AttnKind.TOPK, top_k=6),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.label)
def test_attention_factory_matches_masked_dense_reference(spec):
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 23, 8, generator=gen) for _ in range(3))
    torch.testing.assert_close(
        attention_fn(spec)(q, k, v), reference_attention(q, k, v, spec), atol=1e-5, rtol=1e-4
    )


def test_window_reference_is_a_band():
    """Reference check by hand: with v = one-hot positions, a window-W row averages W keys."""
    t, w = 9, 3
    q = k = torch.zeros(1, 1, t, 4)
    v = torch.eye(t)[None, None]
    out = reference_attention(q, k, v, AttnSpec(AttnKind.WINDOW, window=w))[0, 0]
    for i in range(t):
        expected = torch.zeros(t)
        lo = max(0, i - w + 1)
        expected[lo : i + 1] = 1 / (i + 1 - lo)
        torch.testing.assert_close(out[i], expected)


@pytest.mark.parametrize("variant", VARIANTS)
def test_model_fast_path_equals_reference_and_is_causal(variant):
    cfg = make_variant(preset("tiny"), variant, window=8)
    torch.manual_seed(0)
    model = LM(cfg).eval()
    x = torch.randint(0, 256, (2, 40))
    with torch.no_grad():
        fast, _ = model(x)
        slow, _ = model(x, reference=True)
        x2 = x.clone()
        x2[:, 30:] = (x2[:, 30:] + 1) % 256
        changed, _ = model(x2)
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)
    if variant not in ("moe", "moe-top1", "moe-shared", "moe-v3", "moe-equal-total"):
        # MoE without capacity is per-token too; checked separately for capacity effects
        torch.testing.assert_close(changed[:, :30], fast[:, :30])
    assert sum(p.numel() for p in model.parameters()) == param_counts(cfg)["params"]


def test_active_params_of_moe_variant_equal_dense():
    base = preset("cpu-small")
    dense, moe = param_counts(base), param_counts(make_variant(base, "moe"))
    extra_router = base.n_layers * base.d_model * 8
    assert moe["active_params"] == dense["active_params"] + extra_router
    assert moe["params"] > 3 * dense["params"] // 2
    total = param_counts(make_variant(base, "moe-equal-total"))["params"]
    dense_total = param_counts(make_variant(base, "dense-equal-total"))["params"]
    assert total == dense_total + extra_router


def test_receptive_field():
    assert receptive_field((AttnSpec(AttnKind.WINDOW, window=5),) * 3) == 12
    assert receptive_field((AttnSpec(),)) is None


def test_split_is_seeded_and_disjoint():
    data = bytes(range(256)) * 40
    a, b = split_documents(data, doc_bytes=256), split_documents(data, doc_bytes=256)
    assert torch.equal(a.train, b.train) and torch.equal(a.val, b.val)
    assert a.train.numel() + a.val.numel() == len(data)
    other = split_documents(bytes(range(40)) * 256, doc_bytes=256, split_seed=7)
    assert other.val.numel() == 1024
    with pytest.raises(ValueError, match="val_fraction=1.5"):
        split_documents(data, val_fraction=1.5)


def test_shipped_text_domains():
    english = load_split(Domain.ENGLISH)
    python = load_split(Domain.PYTHON, max_bytes=200_000)
    assert english.train.numel() > 300_000 and english.val.numel() > 30_000
    assert b"def " in bytes(python.train[:50_000].tolist())
    x, y = fixed_windows(english.val, 4, 32)
    assert torch.equal(x[:, 1:], y[:, :-1])


def test_lr_schedule():
    tc = TrainConfig(steps=100, warmup_steps=10, lr=1.0, min_lr_ratio=0.1)
    assert lr_at(0, tc) == pytest.approx(0.1)
    assert lr_at(9, tc) == pytest.approx(1.0)
    assert lr_at(10, tc) == pytest.approx(1.0)
    assert lr_at(55, tc) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_at(100, tc) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="warmup_steps=200, steps=100"):
        TrainConfig(steps=100, warmup_steps=200)


def test_curriculum_lengths_grow_to_full():
    lengths = [length_curriculum(s, 100, 64) for s in range(100)]
    assert lengths[0] == 16 and lengths[-1] == 64
    assert all(a <= b for a, b in zip(lengths, lengths[1:], strict=False))


def test_training_is_deterministic_and_learns():
    cfg = preset("tiny")
    tc = TrainConfig(steps=25, batch_size=8, seq_len=32, warmup_steps=5, lr=3e-3, eval_windows=8)
    split = load_split()
    _, a = train(cfg, tc, split)
    _, b = train(cfg, tc, split)
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    assert a["val_loss"] == b["val_loss"]
    assert a["history"][-1]["loss"] < a["history"][0]["loss"] - 0.5
    assert a["bits_per_byte"] == pytest.approx(a["val_loss"] / math.log(2))
    _, c = train(cfg, replace(tc, order=Order.SHORT_TO_LONG), split)
    assert c["tokens"] == a["tokens"]


def test_compare_variants_rows():
    tc = TrainConfig(batch_size=4, seq_len=32, eval_windows=4, warmup_steps=2)
    rows = compare_variants(["dense", "sliding-window", "moe", "dynamic-depth"], 3, train_config=tc)
    keys = {
        "variant",
        "steps",
        "tokens",
        "val_loss",
        "bits_per_byte",
        "tokens_per_s",
        "params",
        "active_params",
    }
    assert all(keys <= set(r) for r in rows)
    assert len({r["tokens"] for r in rows}) == 1
    rel = relative_quality(rows)
    assert rel[0]["val_loss_ratio"] == 1.0
    with pytest.raises(ValueError, match="unknown variant 'swa'"):
        compare_variants(["swa"], 1)
    with pytest.raises(ValueError, match=r"seq_len\(128\) exceeds block_size\(64\)"):
        train(preset("tiny"), TrainConfig(steps=1, seq_len=128, warmup_steps=0))


def test_progressive_variant_schedule():
    """Seed 004 §2.1: window layers first, dense (global) in the middle, top-k last."""
    kinds = [s.kind for s in make_variant(preset("cpu-small"), "progressive").attention]
    assert kinds == [AttnKind.WINDOW] * 2 + [AttnKind.DENSE] * 4 + [AttnKind.TOPK] * 2
    tiny = [s.kind for s in make_variant(preset("tiny"), "progressive").attention]
    assert tiny == [AttnKind.WINDOW, AttnKind.TOPK]


def test_cached_trainer_trains_once_and_copies_summaries():
    from workloads.lm import CachedTrainer

    cfg, split = preset("tiny"), load_split()
    tc = TrainConfig(steps=2, batch_size=2, seq_len=16, warmup_steps=1, eval_windows=2)
    cached = CachedTrainer()
    model_a, summary_a = cached(cfg, tc, split)
    summary_a.pop("history")  # a caller mutating its copy must not affect the next one
    model_b, summary_b = cached(cfg, tc, split)
    assert model_a is model_b and "history" in summary_b and len(cached) == 1
    cached(cfg, replace(tc, seed=1), split)
    assert len(cached) == 2
