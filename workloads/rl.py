"""Generalised advantage estimation (GAE) and group-relative advantages.

Seed 004 §2.2 describes PPO with a 3-part reward and GAE. GAE (Schulman et al. 2016,
"High-Dimensional Continuous Control Using Generalized Advantage Estimation", eq. 16) is

    δ_t = r_t + γ·V(s_{t+1})·(1 − done_t) − V(s_t)
    A_t = Σ_{l≥0} (γλ)^l · δ_{t+l}      (the sum stops at the end of an episode)

computed here backwards in one pass (A_t = δ_t + γλ(1 − done_t)·A_{t+1}), vectorised over a
batch of trajectories, and checked against :func:`gae_reference`, the direct double sum.
DeepSeek's own RL (DeepSeekMath, R1) uses GRPO instead, which has no value network: the
advantage of each sampled answer is its reward standardised within its group
(:func:`grpo_advantages`, Shao et al. 2024 §4.1).

Shapes: ``N`` trajectories, ``T`` steps; ``rewards_NT``, ``values_NT`` (V(s_t)),
``last_values_N`` (V of the state after the last step), ``dones_NT`` (1.0 where step t ends
an episode).
"""

from __future__ import annotations

import torch


def _check(
    rewards_NT: torch.Tensor,
    values_NT: torch.Tensor,
    dones_NT: torch.Tensor,
    last_values_N: torch.Tensor,
    gamma: float,
    lam: float,
) -> None:
    if (
        rewards_NT.dim() != 2
        or values_NT.shape != rewards_NT.shape
        or dones_NT.shape != rewards_NT.shape
    ):
        raise ValueError(
            f"rewards {tuple(rewards_NT.shape)}, values {tuple(values_NT.shape)} and dones "
            f"{tuple(dones_NT.shape)} must all be (N, T)"
        )
    if last_values_N.shape != rewards_NT.shape[:1]:
        raise ValueError(
            f"last_values {tuple(last_values_N.shape)} must be (N,) = ({rewards_NT.shape[0]},)"
        )
    if not (0 <= gamma <= 1 and 0 <= lam <= 1):
        raise ValueError(f"need 0 <= gamma({gamma}) <= 1 and 0 <= lam({lam}) <= 1")


def gae(
    rewards_NT: torch.Tensor,
    values_NT: torch.Tensor,
    dones_NT: torch.Tensor,
    last_values_N: torch.Tensor,
    gamma: float = 0.99,
    lam: float = 0.95,
) -> torch.Tensor:
    """Advantages ``(N, T)`` by the backward recursion; returns = advantages + values."""
    _check(rewards_NT, values_NT, dones_NT, last_values_N, gamma, lam)
    not_done_NT = 1.0 - dones_NT
    next_values_NT = torch.cat([values_NT[:, 1:], last_values_N[:, None]], dim=1)
    deltas_NT = rewards_NT + gamma * next_values_NT * not_done_NT - values_NT
    advantages_NT = torch.empty_like(deltas_NT)
    running_N = torch.zeros_like(last_values_N)
    for t in range(rewards_NT.shape[1] - 1, -1, -1):
        running_N = deltas_NT[:, t] + gamma * lam * not_done_NT[:, t] * running_N
        advantages_NT[:, t] = running_N
    return advantages_NT


def gae_reference(
    rewards_NT: torch.Tensor,
    values_NT: torch.Tensor,
    dones_NT: torch.Tensor,
    last_values_N: torch.Tensor,
    gamma: float = 0.99,
    lam: float = 0.95,
) -> torch.Tensor:
    """The definition, summed term by term in float64 (slow, obviously correct)."""
    _check(rewards_NT, values_NT, dones_NT, last_values_N, gamma, lam)
    r, v, d, last = (x.double().tolist() for x in (rewards_NT, values_NT, dones_NT, last_values_N))
    n, horizon = rewards_NT.shape
    out = [[0.0] * horizon for _ in range(n)]
    for i in range(n):
        for t in range(horizon):
            total, weight = 0.0, 1.0
            for k in range(t, horizon):
                next_v = v[i][k + 1] if k + 1 < horizon else last[i]
                delta = r[i][k] + gamma * next_v * (1 - d[i][k]) - v[i][k]
                total += weight * delta
                if d[i][k]:
                    break
                weight *= gamma * lam
            out[i][t] = total
    return torch.tensor(out, dtype=torch.float64)


def grpo_advantages(rewards_GS: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """GRPO: each of ``S`` sampled answers in each of ``G`` groups gets (r − mean) / std."""
    if rewards_GS.dim() != 2 or rewards_GS.shape[1] < 2:
        raise ValueError(f"rewards must be (groups, samples>=2), got {tuple(rewards_GS.shape)}")
    mean_G1 = rewards_GS.mean(dim=1, keepdim=True)
    std_G1 = rewards_GS.std(dim=1, keepdim=True)
    return (rewards_GS - mean_G1) / (std_G1 + eps)
