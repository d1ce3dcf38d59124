"""Pruning: true sparsity, progressive rounds, rebuilt layers equal masked originals, counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from workloads.inference import prune as pr
from workloads.inference.cnn import DigitsCNN, conv_flops


@pytest.fixture(autouse=True)
def _one_thread():
    """Training small tensors on an oversubscribed 2-core machine is far faster on one thread."""
    from workloads.inference.zoo import torch_threads

    with torch_threads(1):
        yield


def _cnn(widths=(8, 16, 32)) -> DigitsCNN:
    torch.manual_seed(0)
    model = DigitsCNN(widths).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.1, 1.0)
            m.running_mean.uniform_(-0.5, 0.5)
    return model


def _x(n: int = 6) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(3))


def test_global_magnitude_true_sparsity_and_dense_storage():
    model = _cnn()
    before = pr.sparsity_report(model)
    masks = pr.global_magnitude_prune(model, 0.3)
    rep = pr.sparsity_report(model)
    assert rep["sparsity"] == pytest.approx(0.3, abs=1e-3)
    assert rep["stored_params"] == before["stored_params"]  # zeros stay in dense tensors
    assert rep["dense_bytes"] == before["dense_bytes"]
    assert rep["nonzero_params"] < before["nonzero_params"]
    kept = torch.cat([m.flatten() for m in masks.values()])
    assert kept.float().mean() == pytest.approx(0.7, abs=1e-3)


def test_progressive_rounds_follow_formula_and_never_give_42pct():
    model = _cnn()
    masks = pr.global_magnitude_prune(model, 0.3)
    pr.global_magnitude_prune(model, 0.3, masks)
    assert pr.sparsity_report(model)["sparsity"] == pytest.approx(0.51, abs=2e-3)
    assert pr.progressive_sparsity(0.3, 2) == pytest.approx(0.51)
    assert all(abs(pr.progressive_sparsity(0.3, r) - 0.42) > 0.05 for r in range(1, 10))


def test_apply_masks_restores_zeros():
    model = _cnn()
    masks = pr.global_magnitude_prune(model, 0.5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    pr.apply_masks(model, masks)
    assert pr.sparsity_report(model)["sparsity"] >= 0.5 - 1e-3


@pytest.mark.parametrize("criterion", list(pr.Criterion))
def test_rebuilt_cnn_equals_masked_original(criterion):
    model = _cnn()
    small, keep = pr.prune_cnn_channels(model, 0.3, criterion)
    assert small.widths == (6, 11, 22)
    with pr.channel_masks_forward(model, keep):
        ref = model(_x())
    torch.testing.assert_close(small(_x()), ref, atol=1e-5, rtol=1e-5)
    assert pr.count_params(small) < pr.count_params(model)


def test_channel_criteria_keep_the_largest():
    model = _cnn()
    _, keep = pr.prune_cnn_channels(model, 0.5, pr.Criterion.BN_GAMMA)
    gamma = model.features[1].weight.detach().abs()
    assert set(keep[0].tolist()) == set(gamma.topk(4).indices.tolist())


def test_counted_flops_match_closed_form():
    model = _cnn()
    small, _ = pr.prune_cnn_channels(model, 0.3)
    for m in (model, small):
        assert pr.count_flops(m, _x(1)) == conv_flops(m.widths)


def test_thirty_pct_channels_cut_more_than_thirty_pct_flops():
    widths = (16, 32, 64)
    kept = tuple(w - round(0.3 * w) for w in widths)
    cut = 1 - conv_flops(kept) / conv_flops(widths)
    assert 0.45 < cut < 0.55  # ≈ 1 − 0.7² for the inner layers
    f = pr.fractions_for_flop_cut(widths, 0.30)
    kept = tuple(w - round(f * w) for w in widths)
    assert 1 - conv_flops(kept) / conv_flops(widths) == pytest.approx(0.30, abs=0.03)


def test_lm_ffn_pruning_rebuilds_and_matches_masked_original():
    from workloads.lm import LM, preset

    torch.manual_seed(0)
    model = LM(preset("tiny")).eval()
    small, keep = pr.prune_ffn_channels(model, 0.25)
    assert small.blocks[0].ffn.up.out_features == 96
    x = torch.randint(0, 256, (2, 16))
    mlps = [b.ffn for b in model.blocks]
    hooks = []
    for mlp, idx in zip(mlps, keep, strict=True):
        mask = torch.zeros(128)
        mask[idx] = 1
        hooks.append(mlp.down.register_forward_pre_hook(lambda _m, a, k=mask: (a[0] * k,)))
    ref = model(x)[0]
    for h in hooks:
        h.remove()
    torch.testing.assert_close(small(x)[0], ref, atol=1e-5, rtol=1e-5)
    assert pr.count_flops(small, x) < pr.count_flops(model, x)


def test_bad_fractions_are_rejected():
    with pytest.raises(ValueError, match="amount"):
        pr.global_magnitude_prune(_cnn(), 1.0)
    with pytest.raises(ValueError, match="fractions"):
        pr.prune_cnn_channels(_cnn(), [0.3])


def _fake_timer(fn):
    fn()
    return [1.0, 1.0, 1.0]


def test_channel_prune_rows_count_what_was_rebuilt(monkeypatch):
    from workloads.inference import zoo
    from workloads.inference.comparisons import cnn_channel_prune_rows

    monkeypatch.setitem(
        zoo.MODELS, "cnn-digits", {**zoo.MODELS["cnn-digits"], "widths": [4, 8, 16]}
    )
    rows = cnn_channel_prune_rows(_fake_timer, (0.25, 0.5), finetune_epochs=1, train_epochs=1)
    quarter, half = rows
    assert quarter["widths"] == [3, 6, 12] and half["widths"] == [2, 4, 8]
    assert quarter["flops"] == conv_flops((3, 6, 12))
    assert quarter["flop_reduction_pct"] == pytest.approx(
        100 * (1 - conv_flops((3, 6, 12)) / conv_flops((4, 8, 16)))
    )
    assert half["flop_reduction_pct"] > quarter["flop_reduction_pct"] > 25
    assert quarter["speedup"] == 1.0 and 0 <= quarter["accuracy"] <= 1
