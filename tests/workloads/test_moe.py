"""MoE layer: sorted dispatch vs the per-token loop, capacity and dropping, aux loss values,
load spreading, sigmoid+bias balancing, config errors, and the registered cases."""

from __future__ import annotations

import pytest
import torch

from workloads.base import get
from workloads.moe import (
    Gate,
    MoE,
    MoEConfig,
    expert_capacity,
    keep_within_capacity,
    load_balancing_loss,
    load_stats,
    moe_flops_per_token,
    moe_params,
    moe_reference,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


CONFIGS = [
    MoEConfig(n_experts=4, top_k=1),
    MoEConfig(n_experts=4, top_k=2),
    MoEConfig(n_experts=8, top_k=2, capacity_factor=0.5),
    MoEConfig(n_experts=4, top_k=2, n_shared=1, capacity_factor=1.0),
    MoEConfig(n_experts=6, top_k=3, gate=Gate.SIGMOID_BIAS, capacity_factor=0.75),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=repr)
def test_dispatch_equals_per_token_loop(cfg):
    torch.manual_seed(0)
    layer = MoE(12, 20, cfg)
    if cfg.gate is Gate.SIGMOID_BIAS:
        layer.bias_E.copy_(torch.linspace(-0.2, 0.2, cfg.n_experts))
    x = torch.randn(3, 11, 12)
    torch.testing.assert_close(layer(x), moe_reference(layer, x), atol=1e-5, rtol=1e-4)


def test_dispatch_gradients_equal_reference():
    torch.manual_seed(1)
    layer = MoE(8, 16, MoEConfig(n_experts=4, top_k=2, capacity_factor=1.0))
    x = torch.randn(2, 9, 8)
    grads = []
    for fn in (layer, lambda t: moe_reference(layer, t)):
        layer.zero_grad()
        fn(x).square().sum().backward()
        grads.append([p.grad.clone() for p in (layer.router.weight, layer.w1_ECF, layer.w2_EFC)])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_capacity_drops_in_token_order():
    ids_NK = torch.tensor([[0, 1], [0, 1], [0, 2], [1, 0]])
    keep = keep_within_capacity(ids_NK, 3, capacity=2)
    # choice-major: first choices 0,0,0,1 -> third 0 dropped; second choices 1,1,2,0 -> expert 1
    # already has one (token 3's first choice), so token 1's second 1 is dropped; 0 is full
    expected = torch.tensor([[True, True], [True, False], [False, True], [True, False]])
    assert torch.equal(keep, expected)
    cfg = MoEConfig(n_experts=3, top_k=2, capacity_factor=0.75)
    assert expert_capacity(4, cfg) == 2
    assert expert_capacity(4, MoEConfig()) is None


def test_aux_loss_values():
    e, n = 4, 8
    uniform_NE = torch.full((n, e), 1 / e)
    spread_NK = torch.arange(n)[:, None] % e
    assert float(load_balancing_loss(uniform_NE, spread_NK, e)) == pytest.approx(1.0)
    collapsed_NE = torch.zeros(n, e)
    collapsed_NE[:, 0] = 1
    assert float(
        load_balancing_loss(collapsed_NE, torch.zeros(n, 1, dtype=torch.long), e)
    ) == pytest.approx(e)
    layer = MoE(8, 8, MoEConfig(n_experts=e, top_k=1, aux_coef=0.1))
    layer(torch.randn(1, 32, 8))
    assert 0.1 <= float(layer.aux_loss.detach()) <= 0.1 * e


def test_random_router_spreads_load_and_stats():
    torch.manual_seed(0)
    layer = MoE(32, 8, MoEConfig(n_experts=8, top_k=2))
    layer(torch.randn(1, 4096, 32))
    ids, keep = layer.last_route
    stats = load_stats(ids, keep, 8)
    assert stats["max_over_mean_load"] < 1.5
    assert stats["load_entropy_nats"] > 0.95 * torch.log(torch.tensor(8.0))
    assert stats["dropped_fraction"] == 0.0


def test_equal_gates_with_bias_balancing_spread_load():
    """Zero router weights make every gate equal; top-k alone would then send every token to
    the same experts. DeepSeek-V3's bias update spreads the load over a few training steps."""
    layer = MoE(8, 8, MoEConfig(n_experts=8, top_k=2, gate=Gate.SIGMOID_BIAS, bias_rate=0.01))
    torch.nn.init.zeros_(layer.router.weight)
    layer.train()
    x = torch.randn(1, 64, 8)
    loads = torch.zeros(8)
    for _ in range(16):
        layer(x)
        loads += torch.bincount(layer.last_route[0].flatten(), minlength=8)
    assert loads.max() / loads.mean() < 1.1
    softmax_layer = MoE(8, 8, MoEConfig(n_experts=8, top_k=2, capacity_factor=1.0))
    torch.nn.init.zeros_(softmax_layer.router.weight)
    softmax_layer(x)
    stats = load_stats(*softmax_layer.last_route, 8)
    assert stats["dropped_fraction"] == pytest.approx(0.75)  # two experts, capacity 16 each


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_experts": 4, "top_k": 5}, "top_k=5, n_experts=4"),
        ({"top_k": 0}, "top_k=0"),
        ({"n_experts": 0}, "n_experts=0"),
        ({"capacity_factor": 0.0}, "capacity_factor must be > 0, got 0.0"),
        ({"aux_coef": -0.1}, "aux_coef=-0.1"),
        ({"gate": "softmax"}, "gate='softmax'"),
    ],
)
def test_bad_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MoEConfig(**kwargs)


def test_param_and_flop_counts():
    cfg = MoEConfig(n_experts=8, top_k=2, n_shared=1)
    layer = MoE(16, 32, cfg)
    counts = moe_params(16, 32, cfg)
    assert sum(p.numel() for p in layer.parameters()) == counts["total_params"]
    assert counts["active_params"] == 16 * 8 + 3 * 2 * 16 * 32
    assert moe_flops_per_token(16, 32, cfg) == 2 * counts["active_params"]


@pytest.mark.parametrize("name", ["moe-ffn", "moe-dense-equal-active", "moe-dense-equal-total"])
def test_registered_cases_run(name):
    case = get(name).build("tiny", "cpu", "float32")
    out = case.fn()
    if case.reference is not None:
        torch.testing.assert_close(out, case.reference(), atol=case.atol, rtol=case.rtol)
    assert case.flops > 0
