"""Mixture-of-experts FFN: router, top-k dispatch, load balancing, and a per-token reference.

Shape legend: ``N`` tokens (batch and time flattened), ``C`` model width, ``F`` expert hidden
width, ``E`` routed experts, ``K`` experts per token (top-k), ``A = N·K`` assignments.

Seed 004 §1.1 says "8 experts, a gating network, auxiliary load-balancing coefficient
λ = 0.1". What is built here is the standard layer:

- a linear router; ``softmax`` affinities (Switch, GShard, DeepSeek-V2) or ``sigmoid`` affinities
  with a per-expert bias that only steers selection and is nudged after each training forward
  towards equal load (DeepSeek-V3 §2.1.2, "auxiliary-loss-free load balancing");
- top-k selection; for K > 1 the K gate weights are renormalised to sum to 1 (Mixtral,
  DeepSeek-V3); for K = 1 with softmax the raw probability is kept (Switch §2.1), so the router
  still receives a gradient;
- the auxiliary loss ``λ · E · Σ_e f_e · P_e`` (Switch Transformer eq. 4; GShard): ``f_e`` the
  fraction of assignments routed to expert ``e`` (divided by K), ``P_e`` the mean router
  probability; it equals λ under perfectly uniform routing;
- an optional capacity ``ceil(capacity_factor · A / E)`` per expert; assignments past it are
  dropped in token order (Switch §2.2) and the token keeps its residual only;
- optional shared experts applied to every token (DeepSeekMoE), held as one wider FFN because
  a sum of shared GELU FFNs is exactly one FFN with the hidden units concatenated.

Dispatch is vectorised: assignments are sorted by expert and each expert multiplies its
contiguous slice (a loop over the E experts, never over tokens). :func:`moe_reference` is the
slow per-token loop it is tested against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch
import torch.nn.functional as F
from torch import nn

from workloads.base import Case, Workload, register


class Gate(Enum):
    SOFTMAX = "softmax"  # Switch / GShard / DeepSeek-V2
    SIGMOID_BIAS = "sigmoid-bias"  # DeepSeek-V3: sigmoid affinities + balancing bias


@dataclass(frozen=True)
class MoEConfig:
    """Routing hyper-parameters of one MoE layer (widths come from the model).

    n_experts: routed experts ``E``.
    top_k: experts per token ``K`` (1 or 2 in the seed's setting; any 1 <= K <= E works).
    n_shared: shared experts applied to every token (0 = none).
    gate: affinity function, see :class:`Gate`.
    aux_coef: λ of the load-balancing loss (seed: 0.1; Switch: 0.01; 0 disables it).
    capacity_factor: expert capacity as a multiple of the even share ``A / E``; None = no
        capacity, nothing dropped.
    bias_rate: step ``γ`` of the sign update of the selection bias (``SIGMOID_BIAS`` only;
        DeepSeek-V3 uses 0.001).
    """

    n_experts: int = 8
    top_k: int = 2
    n_shared: int = 0
    gate: Gate = Gate.SOFTMAX
    aux_coef: float = 0.01
    capacity_factor: float | None = None
    bias_rate: float = 1e-3

    def __post_init__(self) -> None:
        if self.n_experts < 1:
            raise ValueError(f"n_experts must be >= 1, got n_experts={self.n_experts}")
        if not 1 <= self.top_k <= self.n_experts:
            raise ValueError(
                f"top_k must be in [1, n_experts], got top_k={self.top_k}, n_experts={self.n_experts}"
            )
        if self.n_shared < 0:
            raise ValueError(f"n_shared must be >= 0, got n_shared={self.n_shared}")
        if not isinstance(self.gate, Gate):
            raise ValueError(f"gate must be a Gate, got gate={self.gate!r}")
        if self.aux_coef < 0:
            raise ValueError(f"aux_coef must be >= 0, got aux_coef={self.aux_coef}")
        if self.capacity_factor is not None and self.capacity_factor <= 0:
            raise ValueError(f"capacity_factor must be > 0, got {self.capacity_factor}")
        if self.bias_rate < 0:
            raise ValueError(f"bias_rate must be >= 0, got bias_rate={self.bias_rate}")


def expert_capacity(n_tokens: int, cfg: MoEConfig) -> int | None:
    """Assignments each expert may take: ``ceil(capacity_factor · N · K / E)`` (Switch §2.2)."""
    if cfg.capacity_factor is None:
        return None
    return math.ceil(cfg.capacity_factor * n_tokens * cfg.top_k / cfg.n_experts)


def route(
    logits_NE: torch.Tensor, cfg: MoEConfig, bias_E: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Router logits -> (expert ids (N, K), gate weights (N, K), router probabilities (N, E)).

    The probabilities are what the auxiliary loss averages: the softmax, or for the sigmoid
    gate the sigmoid affinities normalised per token (DeepSeek-V3's sequence-wise loss).
    """
    if cfg.gate is Gate.SOFTMAX:
        probs_NE = logits_NE.softmax(dim=-1)
        weights_NK, ids_NK = probs_NE.topk(cfg.top_k, dim=-1)
    else:
        scores_NE = logits_NE.sigmoid()
        biased = scores_NE if bias_E is None else scores_NE + bias_E
        ids_NK = biased.topk(cfg.top_k, dim=-1).indices
        weights_NK = scores_NE.gather(-1, ids_NK)
        probs_NE = scores_NE / scores_NE.sum(dim=-1, keepdim=True)
    if cfg.top_k > 1 or cfg.gate is Gate.SIGMOID_BIAS:
        weights_NK = weights_NK / weights_NK.sum(dim=-1, keepdim=True)
    return ids_NK, weights_NK, probs_NE


def keep_within_capacity(
    ids_NK: torch.Tensor, n_experts: int, capacity: int | None
) -> torch.Tensor:
    """Bool (N, K): which assignments fit in their expert's capacity, first come first served
    in token order (all first choices of the batch before any second choice, as in GShard)."""
    if capacity is None:
        return torch.ones_like(ids_NK, dtype=torch.bool)
    onehot_KNE = F.one_hot(ids_NK.t(), n_experts)  # (K, N, E), choice-major order
    position_KNE = onehot_KNE.flatten(0, 1).cumsum(0).view_as(onehot_KNE) - 1
    position_NK = (position_KNE * onehot_KNE).sum(-1).t()
    return position_NK < capacity


def load_balancing_loss(
    probs_NE: torch.Tensor, ids_NK: torch.Tensor, n_experts: int
) -> torch.Tensor:
    """Switch Transformer eq. 4 without λ: ``E · Σ_e f_e · P_e``; 1.0 under uniform routing."""
    k = ids_NK.shape[1]
    f_E = torch.bincount(ids_NK.flatten(), minlength=n_experts).to(probs_NE.dtype)
    f_E = f_E / (ids_NK.shape[0] * k)
    return n_experts * (f_E * probs_NE.mean(0)).sum()


def load_stats(ids_NK: torch.Tensor, keep_NK: torch.Tensor, n_experts: int) -> dict[str, float]:
    """Expert load after dropping: max/mean load, entropy (nats; ln E is perfect balance),
    coefficient of variation, and the fraction of assignments dropped."""
    load_E = torch.bincount(ids_NK[keep_NK], minlength=n_experts).double()
    share_E = load_E / load_E.sum().clamp_min(1)
    nz = share_E[share_E > 0]
    return {
        "max_over_mean_load": float(load_E.max() / load_E.mean().clamp_min(1e-12)),
        "load_entropy_nats": float(-(nz * nz.log()).sum()),
        "load_cv": float(load_E.std(unbiased=False) / load_E.mean().clamp_min(1e-12)),
        "dropped_fraction": float(1 - keep_NK.double().mean()),
    }


def expert_ffn(x_NC: torch.Tensor, w1_CF: torch.Tensor, w2_FC: torch.Tensor) -> torch.Tensor:
    """One expert: ``gelu(x W1) W2`` (the same GELU MLP as the dense model's FFN)."""
    return F.gelu(x_NC @ w1_CF) @ w2_FC


class MoE(nn.Module):
    """(B, T, C) -> (B, T, C). After each forward, ``aux_loss`` (λ already applied) and
    ``last_route`` (ids, keep mask) are set; the model adds ``aux_loss`` to its loss."""

    def __init__(self, d_model: int, d_expert: int, cfg: MoEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        e = cfg.n_experts
        self.router = nn.Linear(d_model, e, bias=False)
        self.w1_ECF = nn.Parameter(torch.randn(e, d_model, d_expert) * d_model**-0.5)
        self.w2_EFC = nn.Parameter(torch.randn(e, d_expert, d_model) * d_expert**-0.5)
        self.register_buffer("bias_E", torch.zeros(e))
        self.shared = (
            nn.Sequential(
                nn.Linear(d_model, cfg.n_shared * d_expert, bias=False),
                nn.GELU(),
                nn.Linear(cfg.n_shared * d_expert, d_model, bias=False),
            )
            if cfg.n_shared
            else None
        )
        self.aux_loss = torch.zeros(())
        self.last_route: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x_BTC: torch.Tensor) -> torch.Tensor:
        x_NC = x_BTC.reshape(-1, x_BTC.shape[-1])
        ids_NK, weights_NK, probs_NE = route(self.router(x_NC), self.cfg, self.bias_E)
        keep_NK = keep_within_capacity(
            ids_NK, self.cfg.n_experts, expert_capacity(x_NC.shape[0], self.cfg)
        )
        y_NC = dispatch(x_NC, ids_NK, weights_NK * keep_NK, keep_NK, self.w1_ECF, self.w2_EFC)
        if self.shared is not None:
            y_NC = y_NC + self.shared(x_NC)
        self.aux_loss = self.cfg.aux_coef * load_balancing_loss(
            probs_NE, ids_NK, self.cfg.n_experts
        )
        self.last_route = (ids_NK.detach(), keep_NK)
        if self.training and self.cfg.gate is Gate.SIGMOID_BIAS:
            self._update_bias(ids_NK)
        return y_NC.view_as(x_BTC)

    @torch.no_grad()
    def _update_bias(self, ids_NK: torch.Tensor) -> None:
        """DeepSeek-V3: ``b_e += γ · sign(mean load − load_e)``, outside the gradient."""
        load_E = torch.bincount(ids_NK.flatten(), minlength=self.cfg.n_experts).float()
        self.bias_E += self.cfg.bias_rate * torch.sign(load_E.mean() - load_E)


def dispatch(
    x_NC: torch.Tensor,
    ids_NK: torch.Tensor,
    weights_NK: torch.Tensor,
    keep_NK: torch.Tensor,
    w1_ECF: torch.Tensor,
    w2_EFC: torch.Tensor,
) -> torch.Tensor:
    """Sort the kept assignments by expert, run each expert on its contiguous slice, and add the
    weighted outputs back to their tokens. Returns (N, C)."""
    n, k = ids_NK.shape
    token_A = torch.arange(n, device=x_NC.device).repeat_interleave(k)[keep_NK.flatten()]
    expert_A = ids_NK.flatten()[keep_NK.flatten()]
    weight_A = weights_NK.flatten()[keep_NK.flatten()]
    order_A = expert_A.argsort(stable=True)
    token_A, expert_A, weight_A = token_A[order_A], expert_A[order_A], weight_A[order_A]
    counts = torch.bincount(expert_A, minlength=w1_ECF.shape[0]).tolist()
    x_AC = x_NC[token_A]
    out_AC = (
        torch.cat(
            [
                expert_ffn(x_part, w1_ECF[e], w2_EFC[e])
                for e, x_part in enumerate(x_AC.split(counts))
            ]
        )
        if x_AC.shape[0]
        else x_AC
    )
    y_NC = torch.zeros_like(x_NC)
    return y_NC.index_add(0, token_A, out_AC * weight_A[:, None].to(out_AC.dtype))


def moe_reference(layer: MoE, x_BTC: torch.Tensor) -> torch.Tensor:
    """Obviously-correct per-token loop: route, then for every token and each of its kept
    experts add ``weight · expert(x_t)``. Uses the layer's current bias; does not update it."""
    cfg = layer.cfg
    x_NC = x_BTC.reshape(-1, x_BTC.shape[-1])
    ids_NK, weights_NK, _ = route(layer.router(x_NC), cfg, layer.bias_E)
    capacity = expert_capacity(x_NC.shape[0], cfg)
    used = [0] * cfg.n_experts
    y_NC = torch.zeros_like(x_NC)
    for j in range(cfg.top_k):  # choice-major, the same priority as keep_within_capacity
        for t in range(x_NC.shape[0]):
            e = int(ids_NK[t, j])
            if capacity is not None and used[e] >= capacity:
                continue
            used[e] += 1
            y_NC[t] += (
                weights_NK[t, j] * expert_ffn(x_NC[t : t + 1], layer.w1_ECF[e], layer.w2_EFC[e])[0]
            )
    if layer.shared is not None:
        y_NC = y_NC + layer.shared(x_NC)
    return y_NC.view_as(x_BTC)


# --- cost ------------------------------------------------------------------------------------


def moe_params(d_model: int, d_expert: int, cfg: MoEConfig) -> dict[str, int]:
    """Total and active (per token) parameters: router ``C·E``, each expert ``2·C·F``."""
    expert = 2 * d_model * d_expert
    router = d_model * cfg.n_experts
    shared = cfg.n_shared * expert
    return {
        "total_params": router + cfg.n_experts * expert + shared,
        "active_params": router + cfg.top_k * expert + shared,
    }


def moe_flops_per_token(d_model: int, d_expert: int, cfg: MoEConfig) -> float:
    """Forward FLOPs per token: 2 per multiply-add of the active parameters (dropped tokens
    and the gather/scatter are not counted)."""
    return 2.0 * moe_params(d_model, d_expert, cfg)["active_params"]


def dense_ffn_flops_per_token(d_model: int, d_hidden: int) -> float:
    """Forward FLOPs per token of a dense GELU FFN ``C -> F -> C``: ``4·C·F``."""
    return 4.0 * d_model * d_hidden


# --- registered workloads ---------------------------------------------------------------------

_SIZES = {
    "tiny": {"tokens": 24, "d_model": 16, "d_expert": 32, "n_experts": 4, "top_k": 2},
    "cpu": {"tokens": 4096, "d_model": 512, "d_expert": 1024, "n_experts": 8, "top_k": 2},
    "gpu": {"tokens": 16384, "d_model": 2048, "d_expert": 4096, "n_experts": 8, "top_k": 2},
}


def _tol(dtype: str) -> dict[str, float]:
    return {"atol": 1e-5, "rtol": 1e-4} if dtype == "float32" else {"atol": 5e-2, "rtol": 5e-2}


def _build_moe(size: str, device: str, dtype: str) -> Case:
    p = _SIZES[size]
    torch.manual_seed(0)
    cfg = MoEConfig(n_experts=p["n_experts"], top_k=p["top_k"])
    layer = MoE(p["d_model"], p["d_expert"], cfg).to(device, getattr(torch, dtype)).eval()
    x = torch.randn(1, p["tokens"], p["d_model"], device=device, dtype=getattr(torch, dtype))
    elem = x.element_size()
    flops = p["tokens"] * moe_flops_per_token(p["d_model"], p["d_expert"], cfg)
    weights = moe_params(p["d_model"], p["d_expert"], cfg)["total_params"] * elem
    return Case(
        fn=torch.no_grad()(lambda: layer(x)),
        flops=flops,
        bytes_moved=weights + 2 * x.numel() * elem,
        reference=torch.no_grad()(lambda: moe_reference(layer, x)),
        params={**p, "gate": cfg.gate.value},
        **_tol(dtype),
    )


def _build_dense(size: str, device: str, dtype: str, *, equal: str) -> Case:
    p = _SIZES[size]
    hidden = p["d_expert"] * (p["top_k"] if equal == "active" else p["n_experts"])
    torch.manual_seed(0)
    dt = getattr(torch, dtype)
    w1 = torch.randn(p["d_model"], hidden, device=device, dtype=dt) * p["d_model"] ** -0.5
    w2 = torch.randn(hidden, p["d_model"], device=device, dtype=dt) * hidden**-0.5
    x = torch.randn(p["tokens"], p["d_model"], device=device, dtype=dt)
    return Case(
        fn=torch.no_grad()(lambda: expert_ffn(x, w1, w2)),
        flops=p["tokens"] * dense_ffn_flops_per_token(p["d_model"], hidden),
        bytes_moved=(w1.numel() + w2.numel() + 2 * x.numel()) * x.element_size(),
        reference=None,
        params={**p, "d_hidden": hidden, "equal": equal},
    )


def _sized(build):
    def build_size(size: str, device: str, dtype: str) -> Case:
        if size not in _SIZES:
            raise ValueError(f"unknown size {size!r}; use one of {sorted(_SIZES)}")
        return build(size, device, dtype)

    return build_size


MOE_CLAIMS = ("004-moe-inference-40pct", "004-moe-aux-loss-0.1", "004-moe-domain-experts")
register(
    Workload(
        name="moe-ffn",
        claim_ids=MOE_CLAIMS,
        sizes=_SIZES,
        build=_sized(_build_moe),
        description="MoE FFN, 8 experts top-2, sorted dispatch vs a per-token loop",
    )
)
register(
    Workload(
        name="moe-dense-equal-active",
        claim_ids=("004-moe-inference-40pct",),
        sizes=_SIZES,
        build=_sized(lambda s, d, t: _build_dense(s, d, t, equal="active")),
        description="dense FFN with the MoE's active parameters (hidden K·F)",
    )
)
register(
    Workload(
        name="moe-dense-equal-total",
        claim_ids=("004-moe-inference-40pct",),
        sizes=_SIZES,
        build=_sized(lambda s, d, t: _build_dense(s, d, t, equal="total")),
        description="dense FFN with the MoE's total parameters (hidden E·F)",
    )
)
