"""Dynamic-depth FFN: a stack of small FFN sub-layers that each token leaves when a learned
halting gate says so, with a cap on depth.

Shape legend: ``N`` tokens (batch and time flattened), ``C`` model width, ``F`` sub-layer hidden
width, ``L`` sub-layers (the depth cap).

Seed 001 §1.3 claims "the number of layers adapts to input complexity" without a mechanism.
Built here as early exit with a halting gate, trained softly as in adaptive computation time
(Graves 2016, *Adaptive Computation Time*; Elbayad et al. 2020, *Depth-Adaptive Transformer*):

- before sub-layer ``l`` a gate gives a continue probability ``p_l = sigmoid(w_l · x + b_l)``;
  the running product ``c_l = Π_{j<=l} p_j`` is the probability the token is still running;
- training (soft): every sub-layer runs and adds ``c_l · ffn_l(x)``; the ponder cost
  ``ponder_coef · mean_tokens Σ_l c_l`` pushes ``c`` down where the FFN is not worth it;
- inference (hard): a token runs sub-layer ``l`` only while ``c_l >= threshold``, and sub-layers
  are computed on the still-running tokens only (gathered), so FLOPs really drop; the first
  ``min_depth`` sub-layers always run and no token runs more than ``L`` (the cap).

:func:`dynamic_depth_reference` runs every sub-layer on every token and masks: the gathered
path must match it. With the gates disabled (``c = 1``) the stack is an ordinary FFN of hidden
width ``L·F`` split into residual pieces, so the dense model and the dynamic one have equal
parameters and equal full-depth FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workloads.base import Case, Workload, register


@dataclass(frozen=True)
class DepthConfig:
    """n_sublayers: the cap ``L``. min_depth: sub-layers every token runs.
    threshold: at inference a token keeps running while ``c_l >= threshold``.
    ponder_coef: weight of the ponder cost added to the training loss.
    gate_init: initial gate bias (a positive value starts with everyone running deep)."""

    n_sublayers: int = 4
    min_depth: int = 1
    threshold: float = 0.5
    ponder_coef: float = 0.01
    gate_init: float = 3.0

    def __post_init__(self) -> None:
        if self.n_sublayers < 1:
            raise ValueError(f"n_sublayers must be >= 1, got n_sublayers={self.n_sublayers}")
        if not 0 <= self.min_depth <= self.n_sublayers:
            raise ValueError(
                f"min_depth must be in [0, n_sublayers], got min_depth={self.min_depth}, "
                f"n_sublayers={self.n_sublayers}"
            )
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got threshold={self.threshold}")
        if self.ponder_coef < 0:
            raise ValueError(f"ponder_coef must be >= 0, got ponder_coef={self.ponder_coef}")


class DynamicDepthFFN(nn.Module):
    """(B, T, C) -> (B, T, C) *residual update* (the caller adds it to x, like any FFN).

    After each forward: ``aux_loss`` (ponder cost, coefficient applied; zero in eval) and
    ``last_depth_N`` (sub-layers each token ran; soft expected depth in training)."""

    def __init__(self, d_model: int, d_hidden: int, cfg: DepthConfig) -> None:
        super().__init__()
        self.cfg = cfg
        L = cfg.n_sublayers
        self.gate = nn.Linear(d_model, L)
        self.reset_gate()
        self.up = nn.ModuleList(nn.Linear(d_model, d_hidden, bias=False) for _ in range(L))
        self.down = nn.ModuleList(nn.Linear(d_hidden, d_model, bias=False) for _ in range(L))
        self.aux_loss = torch.zeros(())
        self.last_depth_N = torch.zeros(0)

    def reset_gate(self) -> None:
        """Zero gate weights and bias ``gate_init``: every token starts with the same ``p``."""
        nn.init.zeros_(self.gate.weight)
        nn.init.constant_(self.gate.bias, self.cfg.gate_init)

    def sublayer(self, level: int, h_NC: torch.Tensor) -> torch.Tensor:
        return self.down[level](F.gelu(self.up[level](h_NC)))

    def continue_prob(self, level: int, h_NC: torch.Tensor) -> torch.Tensor:
        """``p_l`` for (N, C) states -> (N,); 1 for the first ``min_depth`` sub-layers."""
        if level < self.cfg.min_depth:
            return h_NC.new_ones(h_NC.shape[0])
        w, b = self.gate.weight[level], self.gate.bias[level]
        return torch.sigmoid(h_NC @ w + b)

    def forward(self, x_BTC: torch.Tensor) -> torch.Tensor:
        h_NC = x_BTC.reshape(-1, x_BTC.shape[-1])
        run = self._soft if self.training else self._hard
        h_out_NC = run(h_NC)
        return (h_out_NC - h_NC).view_as(x_BTC)

    def _soft(self, h_NC: torch.Tensor) -> torch.Tensor:
        c_N = h_NC.new_ones(h_NC.shape[0])
        depth_N = torch.zeros_like(c_N)
        for level in range(self.cfg.n_sublayers):
            c_N = c_N * self.continue_prob(level, h_NC)
            h_NC = h_NC + c_N[:, None] * self.sublayer(level, h_NC)
            depth_N = depth_N + c_N
        self.aux_loss = self.cfg.ponder_coef * depth_N.mean()
        self.last_depth_N = depth_N.detach()
        return h_NC

    def _hard(self, h_NC: torch.Tensor) -> torch.Tensor:
        n = h_NC.shape[0]
        active_M = torch.arange(n, device=h_NC.device)  # indices of running tokens
        c_M = h_NC.new_ones(n)
        depth_N = torch.zeros(n, device=h_NC.device)
        for level in range(self.cfg.n_sublayers):
            c_M = c_M * self.continue_prob(level, h_NC[active_M])
            running = c_M >= self.cfg.threshold
            active_M, c_M = active_M[running], c_M[running]
            if active_M.numel() == 0:
                break
            h_M = h_NC[active_M]
            h_NC = h_NC.index_copy(0, active_M, h_M + c_M[:, None] * self.sublayer(level, h_M))
            depth_N[active_M] += 1
        self.aux_loss = h_NC.new_zeros(())
        self.last_depth_N = depth_N
        return h_NC


def dynamic_depth_reference(layer: DynamicDepthFFN, x_BTC: torch.Tensor) -> torch.Tensor:
    """Hard halting computed the slow way: every sub-layer on every token, then masked."""
    h_NC = x_BTC.reshape(-1, x_BTC.shape[-1])
    x_NC = h_NC
    c_N = h_NC.new_ones(h_NC.shape[0])
    alive_N = torch.ones_like(c_N, dtype=torch.bool)
    for level in range(layer.cfg.n_sublayers):
        c_N = c_N * layer.continue_prob(level, h_NC)
        alive_N = alive_N & (c_N >= layer.cfg.threshold)
        update = c_N[:, None] * layer.sublayer(level, h_NC)
        h_NC = torch.where(alive_N[:, None], h_NC + update, h_NC)
    return (h_NC - x_NC).view_as(x_BTC)


def depth_report(layer: DynamicDepthFFN) -> dict[str, float]:
    """Average depth of the last forward and the FFN FLOPs saved against always running ``L``."""
    L = layer.cfg.n_sublayers
    avg = float(layer.last_depth_N.float().mean()) if layer.last_depth_N.numel() else float(L)
    return {"avg_depth": avg, "max_depth": L, "ffn_flops_saved_fraction": 1 - avg / L}


def dynamic_depth_flops(
    d_model: int, d_hidden: int, depth_N: torch.Tensor, n_sublayers: int
) -> float:
    """Forward FLOPs actually spent: ``4·C·F`` per sub-layer run plus ``2·C`` per gate evaluated
    (a token evaluates one gate per sub-layer it reaches, at most ``L``)."""
    runs = float(depth_N.sum())
    gates = float(torch.clamp(depth_N + 1, max=n_sublayers).sum())
    return 4.0 * d_model * d_hidden * runs + 2.0 * d_model * gates


# --- registered workload ------------------------------------------------------------------

_SIZES = {
    "tiny": {"tokens": 32, "d_model": 16, "d_hidden": 16, "n_sublayers": 4, "gate_spread": 2.0},
    "cpu": {"tokens": 4096, "d_model": 512, "d_hidden": 512, "n_sublayers": 4, "gate_spread": 2.0},
    "gpu": {
        "tokens": 16384,
        "d_model": 2048,
        "d_hidden": 2048,
        "n_sublayers": 4,
        "gate_spread": 2.0,
    },
}


def _build(size: str, device: str, dtype: str) -> Case:
    if size not in _SIZES:
        raise ValueError(f"unknown size {size!r}; use one of {sorted(_SIZES)}")
    p = _SIZES[size]
    torch.manual_seed(0)
    dt = getattr(torch, dtype)
    layer = DynamicDepthFFN(
        p["d_model"], p["d_hidden"], DepthConfig(p["n_sublayers"], gate_init=0.5)
    )
    with torch.no_grad():  # random gates, so tokens halt at different depths
        layer.gate.weight.normal_(0, p["gate_spread"] * p["d_model"] ** -0.5)
    layer = layer.to(device, dt).eval()
    x = torch.randn(1, p["tokens"], p["d_model"], device=device, dtype=dt)
    with torch.no_grad():
        layer(x)
    flops = dynamic_depth_flops(p["d_model"], p["d_hidden"], layer.last_depth_N, p["n_sublayers"])
    return Case(
        fn=torch.no_grad()(lambda: layer(x)),
        flops=flops,
        bytes_moved=None,
        reference=torch.no_grad()(lambda: dynamic_depth_reference(layer, x)),
        params={**p, **depth_report(layer)},
        atol=1e-5 if dtype == "float32" else 5e-2,
        rtol=1e-4 if dtype == "float32" else 5e-2,
    )


register(
    Workload(
        name="dynamic-depth-ffn",
        claim_ids=("001-dynamic-depth-ffn",),
        sizes=_SIZES,
        build=_build,
        description="early-exit FFN stack (halting gate, depth cap) vs running every sub-layer",
    )
)
