"""Offloaded layers, host Adam and host embedding against their all-resident twins."""

import copy

import pytest
import torch
from torch import nn

from workloads.training.offload import (
    HostAdam,
    HostEmbedding,
    OffloadedLayers,
    param_bytes,
    predicted_swap_overhead,
    tiny_stack,
)


@pytest.mark.parametrize("prefetch", [True, False])
def test_offloaded_forward_equals_resident(prefetch):
    layers = tiny_stack(n_layers=4, width=16)
    resident = copy.deepcopy(layers)
    x = torch.randn(3, 16)
    with torch.no_grad():
        expected = x
        for layer in resident:
            expected = layer(expected)
        off = OffloadedLayers(layers, prefetch=prefetch)
        got = off(x)
        again = off(x)
    assert torch.equal(got, expected) and torch.equal(again, expected)
    per_layer = param_bytes(resident[0])
    assert off.moved_bytes == 2 * 4 * per_layer  # every layer copied in, twice
    assert off.peak_resident_bytes == (2 if prefetch else 1) * per_layer
    assert all(p.numel() == 0 for p in off.layers.parameters())  # nothing left resident


def test_offloaded_lm_blocks_equal_resident():
    from workloads.lm.config import preset
    from workloads.lm.model import LM

    torch.manual_seed(0)
    lm = LM(preset("tiny")).eval()
    x = torch.randn(2, 8, preset("tiny").d_model)
    with torch.no_grad():
        expected = x
        for block in lm.blocks:
            expected = block(expected)
        got = OffloadedLayers(copy.deepcopy(lm.blocks))(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_host_adam_equals_adam():
    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
    b = copy.deepcopy(a)
    opt_a, opt_b = torch.optim.Adam(a.parameters(), lr=1e-2), HostAdam(b.parameters(), lr=1e-2)
    for _ in range(5):
        x = torch.randn(4, 8)
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    n = sum(p.numel() for p in a.parameters())
    assert opt_b.moved_bytes == 5 * 2 * 4 * n
    assert HostAdam.device_bytes_per_param(True) * 2 == HostAdam.device_bytes_per_param(False)


def test_host_embedding_matches_and_gets_gradients():
    torch.manual_seed(0)
    emb = nn.Embedding(50, 8)
    host = HostEmbedding(emb)
    idx = torch.randint(0, 50, (2, 5))
    emb(idx).sum().backward()
    out = host(idx)
    out.sum().backward()
    assert torch.equal(out, emb(idx))
    assert torch.equal(host.weight.grad, emb.weight.grad)
    assert host.moved_bytes == 2 * 5 * 8 * 4


def test_predicted_swap_overhead():
    # copy 1 ms vs compute 4 ms: hidden; copy 8 ms vs compute 4 ms: 2x
    assert predicted_swap_overhead(1e6, 4e9, 1e9, 1e12) == 1.0
    assert predicted_swap_overhead(8e6, 4e9, 1e9, 1e12) == pytest.approx(2.0)
