"""Dynamic-depth FFN: gathered early exit vs running everything and masking, cap and minimum
depth, soft training mode, FLOPs accounting, config errors."""

from __future__ import annotations

import pytest
import torch

from workloads.base import get
from workloads.dynamic_depth import (
    DepthConfig,
    DynamicDepthFFN,
    depth_report,
    dynamic_depth_flops,
    dynamic_depth_reference,
)


def _random_gates(layer: DynamicDepthFFN, seed: int = 0) -> DynamicDepthFFN:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.gate.weight.copy_(torch.randn(layer.gate.weight.shape, generator=gen))
        layer.gate.bias.fill_(0.5)
    return layer


@pytest.mark.parametrize("min_depth", [0, 1, 2])
def test_hard_exit_equals_masked_reference(min_depth):
    torch.manual_seed(0)
    layer = _random_gates(
        DynamicDepthFFN(8, 12, DepthConfig(n_sublayers=4, min_depth=min_depth))
    ).eval()
    x = torch.randn(2, 50, 8)
    out = layer(x)
    torch.testing.assert_close(out, dynamic_depth_reference(layer, x), atol=1e-5, rtol=1e-4)
    depth = layer.last_depth_N
    assert depth.min() >= min_depth and depth.max() <= 4
    assert 0 < depth_report(layer)["ffn_flops_saved_fraction"] < 1


def test_open_gates_run_full_depth_as_a_split_ffn():
    """Gates saturated open: every token runs all L sub-layers, c = 1, and the output is the
    plain residual composition of the sub-layers."""
    torch.manual_seed(0)
    layer = DynamicDepthFFN(8, 4, DepthConfig(n_sublayers=3, gate_init=50.0)).eval()
    x = torch.randn(1, 10, 8)
    out = layer(x)
    h = x.reshape(-1, 8)
    for level in range(3):
        h = h + layer.sublayer(level, h)
    torch.testing.assert_close(out, (h - x.reshape(-1, 8)).view_as(x))
    assert depth_report(layer)["avg_depth"] == 3.0


def test_soft_mode_has_ponder_cost_and_gradients():
    layer = DynamicDepthFFN(8, 4, DepthConfig(n_sublayers=4, ponder_coef=0.1)).train()
    out = layer(torch.randn(2, 5, 8))
    assert float(layer.aux_loss.detach()) > 0
    (out.sum() + layer.aux_loss).backward()
    assert layer.gate.weight.grad is not None and layer.gate.bias.grad.abs().sum() > 0


def test_flops_count():
    depth = torch.tensor([1.0, 4.0])
    assert dynamic_depth_flops(8, 4, depth, 4) == 4 * 8 * 4 * 5 + 2 * 8 * (2 + 4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_sublayers": 0}, "n_sublayers=0"),
        ({"n_sublayers": 2, "min_depth": 3}, "min_depth=3, n_sublayers=2"),
        ({"threshold": 1.0}, "threshold=1.0"),
        ({"ponder_coef": -1}, "ponder_coef=-1"),
    ],
)
def test_bad_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DepthConfig(**kwargs)


def test_registered_case():
    case = get("dynamic-depth-ffn").build("tiny", "cpu", "float32")
    torch.testing.assert_close(case.fn(), case.reference(), atol=case.atol, rtol=case.rtol)
    assert 0 < case.params["ffn_flops_saved_fraction"] < 1
