"""GAE against its definition, and GRPO's group standardisation."""

from __future__ import annotations

import pytest
import torch

from workloads.rl import gae, gae_reference, grpo_advantages


def _batch(n=5, t=13, seed=0):
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(n, t, generator=g)
    values = torch.randn(n, t, generator=g)
    dones = (torch.rand(n, t, generator=g) < 0.15).float()
    last = torch.randn(n, generator=g)
    return rewards, values, dones, last


@pytest.mark.parametrize("gamma, lam", [(0.99, 0.95), (1.0, 1.0), (0.9, 0.0)])
def test_gae_matches_definition(gamma, lam):
    batch = _batch()
    fast = gae(*batch, gamma=gamma, lam=lam)
    assert torch.allclose(fast.double(), gae_reference(*batch, gamma=gamma, lam=lam), atol=1e-5)


def test_lambda_zero_is_one_step_td():
    rewards, values, dones, last = _batch()
    adv = gae(rewards, values, dones, last, gamma=0.9, lam=0.0)
    next_values = torch.cat([values[:, 1:], last[:, None]], dim=1)
    assert torch.allclose(adv, rewards + 0.9 * next_values * (1 - dones) - values)


def test_bad_shapes_name_the_values():
    rewards, values, dones, last = _batch()
    with pytest.raises(ValueError, match=r"must all be \(N, T\)"):
        gae(rewards, values[:, :-1], dones, last)
    with pytest.raises(ValueError, match="gamma"):
        gae(rewards, values, dones, last, gamma=1.5)


def test_grpo_standardises_within_groups():
    adv = grpo_advantages(torch.tensor([[1.0, 0.0, 1.0, 0.0], [3.0, 3.0, 3.0, 9.0]]))
    assert torch.allclose(adv.mean(dim=1), torch.zeros(2), atol=1e-6)
    assert adv[0, 0] > 0 > adv[0, 1]
