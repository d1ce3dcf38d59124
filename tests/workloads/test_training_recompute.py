"""Recomputation against the plain model: equal outputs and gradients, less memory, the
analytic count checked against measured bytes, and the seed's code run as written."""

from __future__ import annotations

import pytest
import torch

from workloads.lm import LM, LMConfig, preset
from workloads.training.live_memory import LiveBytes
from workloads.training.recompute import (
    BlockStack,
    RecomputedBlocks,
    activation_bytes_per_layer,
    apply_recompute,
    first_layers,
    fixed_forward_with_recompute,
    loglog_slope,
    remove_recompute,
    run_seed_recompute,
    segments_every,
    sqrt_segments,
    step_memory,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


STACK_CFG = LMConfig(block_size=16, n_layers=1, n_heads=2, d_model=16, d_ff=64)


def _loss_and_grads(model, x):
    model.zero_grad(set_to_none=True)
    _, loss = model(x, x)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize(
    "segments", [segments_every(2, 1), segments_every(2, 2), first_layers(2, 1)]
)
def test_recomputed_lm_equals_plain(segments):
    torch.manual_seed(0)
    model = LM(preset("tiny"))
    x = torch.randint(0, 256, (2, 32), generator=torch.Generator().manual_seed(1))
    loss0, grads0 = _loss_and_grads(model, x)
    keys0 = set(model.state_dict())
    apply_recompute(model, segments)
    assert isinstance(model.blocks, RecomputedBlocks)
    assert set(model.state_dict()) == keys0  # same modules under the same names
    loss1, grads1 = _loss_and_grads(model, x)
    assert torch.equal(loss0, loss1)
    for name, g in grads0.items():
        torch.testing.assert_close(grads1[name], g, rtol=0, atol=1e-7)
    remove_recompute(model)
    assert not isinstance(model.blocks, RecomputedBlocks)


def test_segment_plans():
    assert segments_every(5, 2) == (range(0, 2), range(2, 4), range(4, 5))
    assert sqrt_segments(16) == segments_every(16, 4)
    assert first_layers(3, 2) == (range(0, 1), range(1, 2))
    with pytest.raises(ValueError, match="count"):
        first_layers(3, 4)
    with pytest.raises(ValueError, match="disjoint"):
        RecomputedBlocks(torch.nn.ModuleList([torch.nn.Identity()] * 3), (range(0, 2), range(1, 3)))


def test_korthikanti_defaults_reproduce_the_paper():
    s, b, h, a = 2048, 1, 12288, 96  # GPT-3 175B shape
    assert activation_bytes_per_layer(s, b, h, a) == pytest.approx(s * b * h * (34 + 5 * a * s / h))


def test_measured_bytes_per_layer_match_the_count():
    b, t = 2, 16
    kept = []
    for n in (1, 3):
        torch.manual_seed(0)
        stack = BlockStack(STACK_CFG, n)
        x = torch.randn(b, t, STACK_CFG.d_model)
        kept.append(
            step_memory(stack, lambda s=stack, x=x: s(x).square().mean())["after_forward_bytes"]
        )
    per_layer = (kept[1] - kept[0]) / 2
    c = STACK_CFG
    expected = activation_bytes_per_layer(
        t, b, c.d_model, c.n_heads, c.d_ff, elem_bytes=4, dropout=False, flash=True, norm_stats=True
    )
    assert per_layer == pytest.approx(expected, rel=0.02)


def test_sqrt_segments_scale_sublinearly():
    b, t = 1, 16
    peaks = {"none": [], "sqrt": []}
    depths = (1, 4, 16)
    for n in depths:
        torch.manual_seed(0)
        stack = BlockStack(STACK_CFG, n)
        x = torch.randn(b, t, STACK_CFG.d_model)
        for plan in peaks:
            remove_recompute(stack)
            if plan == "sqrt":
                apply_recompute(stack, sqrt_segments(n))
            mem = step_memory(stack, lambda s=stack, x=x: s(x).square().mean())
            peaks[plan].append(mem["peak_activation_bytes"])
    assert loglog_slope(depths, peaks["none"]) > 0.8
    assert loglog_slope(depths, peaks["sqrt"]) < 0.65
    assert peaks["sqrt"][-1] < peaks["none"][-1] / 2


def test_live_bytes_counts_allocations_and_frees():
    with LiveBytes() as mem:
        a = torch.ones(1000)  # 4000 B
        b = a.view(10, 100)  # a view: no new storage
        c = a * 2  # 4000 B more
        del c
        d = torch.zeros(10)
    assert mem.peak_bytes == 8000
    assert mem.live_bytes == 4040
    assert b.shape == (10, 100) and d.numel() == 10


def test_loglog_slope():
    assert loglog_slope([1, 4, 16], [3, 6, 12]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        loglog_slope([1], [1])


@pytest.mark.filterwarnings("ignore:torch.utils.checkpoint")
def test_seed_forward_with_recompute_raises_and_fix_matches():
    result = run_seed_recompute()
    assert result["outcome"] == "raised"
    assert result["error"] == "TypeError"
    assert "0 positional arguments" in result["message"]
    from workloads.training.recompute import TwoLayers

    torch.manual_seed(0)
    host = TwoLayers(8)
    x = torch.randn(3, 8, requires_grad=True)
    y0 = host(x)
    (g0,) = torch.autograd.grad(y0.sum(), x)
    y1 = fixed_forward_with_recompute(host, x)
    (g1,) = torch.autograd.grad(y1.sum(), x)
    assert torch.equal(y0, y1) and torch.equal(g0, g1)
