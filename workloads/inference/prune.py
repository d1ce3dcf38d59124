"""Pruning of a built model: global magnitude (unstructured) and L1 channel (structured).

**Global magnitude pruning** (Han et al. 2015) zeroes the ``amount`` fraction of the smallest
|w| across all prunable weights at once. The zeros stay in dense tensors, so stored parameters,
bytes and dense-kernel time do not change; only a sparse format or 2:4 sparse tensor cores turn
zeros into savings. :func:`sparsity_report` counts both, so the "true sparsity" is measured,
not assumed. Progressive pruning (round ``r`` removes ``amount`` of what survived) leaves
``(1 − a)^r`` of the weights: at ``a = 0.3``, 30% after one round, 51% after two — no whole
number of rounds gives the seed's "42% fewer parameters" (:func:`progressive_sparsity`).

**L1 channel pruning** (Li et al. 2017, "Pruning Filters for Efficient ConvNets") ranks each
output channel of a layer by the L1 norm of its filter — or, for Network Slimming (Liu et al.
2017), by |γ| of the BatchNorm that follows, after training with an L1 penalty on γ — and
*rebuilds* smaller layers: the conv loses output channels, its BN the same features, the next
layer the matching input channels. Removing a fraction ``p`` of channels from two consecutive
layers scales the FLOPs between them by ``(1 − p)²``: 30% of channels is ≈ 51% of those FLOPs,
so "30% of channels" and "30% of FLOPs" are different claims. For the LM's dense FFN the
channels are the hidden units: ``up`` loses rows, ``down`` the matching columns.

A rebuilt model is exact: it equals the original with the pruned channels' activations zeroed
(:func:`channel_masks_forward` hooks), which the tests use as the reference.

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` (matmuls, convs and
attention, 2 per multiply-add) on one real forward; parameters by walking the model.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from contextlib import contextmanager
from enum import Enum

import torch
from torch import nn

from .cnn import DigitsCNN


class Criterion(Enum):
    FILTER_L1 = "filter-l1"  # Li et al. 2017: ||W_c||_1 of the channel's filter
    BN_GAMMA = "bn-gamma"  # Liu et al. 2017 (Network Slimming): |γ_c| of the following BN


# --- counting ------------------------------------------------------------------------------


def count_params(model: nn.Module) -> int:
    """Stored parameters (shared tensors such as tied weights counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def count_flops(model: nn.Module, *inputs: torch.Tensor) -> int:
    """Forward FLOPs of ``model(*inputs)`` as counted by ``FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*inputs)
    return int(counter.get_total_flops())


# --- global magnitude pruning --------------------------------------------------------------


def prunable_weights(
    model: nn.Module, skip: Iterable[str] = ("lm_head",)
) -> dict[str, nn.Parameter]:
    """Weights of Linear and Conv2d layers not in ``skip`` (tied weights once)."""
    skip, seen, out = tuple(skip), set(), {}
    for name, m in model.named_modules():
        prunable = isinstance(m, nn.Linear | nn.Conv2d) and not any(
            name.startswith(s) for s in skip
        )
        if prunable and id(m.weight) not in seen:
            seen.add(id(m.weight))
            out[f"{name}.weight"] = m.weight
    return out


@torch.no_grad()
def global_magnitude_prune(model: nn.Module, amount: float, masks: dict | None = None,
                           skip: Iterable[str] = ("lm_head",)) -> dict[str, torch.Tensor]:  # fmt: skip
    """Zero the ``amount`` fraction of the smallest-|w| weights that are still non-zero under
    ``masks`` (one progressive round), in place; return the new masks (bool, True = kept)."""
    if not 0 <= amount < 1:
        raise ValueError(f"amount must be in [0, 1), got amount={amount}")
    weights = prunable_weights(model, skip)
    masks = dict(masks or {n: torch.ones_like(w, dtype=torch.bool) for n, w in weights.items()})
    alive = torch.cat([weights[n].abs()[masks[n]].flatten() for n in weights])
    k = int(round(amount * alive.numel()))
    threshold = alive.kthvalue(k).values if k > 0 else alive.new_tensor(-1.0)
    for name, w in weights.items():
        masks[name] = masks[name] & (w.abs() > threshold)
        w.mul_(masks[name])
    return masks


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Re-zero pruned weights (call after each fine-tuning step)."""
    for name, param in model.named_parameters():
        if name in masks:
            param.mul_(masks[name])


def sparsity_report(model: nn.Module, skip: Iterable[str] = ("lm_head",)) -> dict[str, float]:
    """Measured counts: prunable weights and their zeros (``sparsity`` = true fraction), all
    stored parameters and their non-zeros, dense fp32 bytes (unchanged by zeros) and the
    bytes of a CSR copy of the prunable weights (4 B value + 8 B int64 column per non-zero)."""
    weights = prunable_weights(model, skip)
    prunable = sum(w.numel() for w in weights.values())
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    stored = count_params(model)
    nonzero = sum(int((p != 0).sum()) for p in {id(p): p for p in model.parameters()}.values())
    csr = sum(12 * int((w != 0).sum()) + 8 * (w.shape[0] + 1) for w in weights.values())
    return {
        "prunable_weights": prunable,
        "zero_weights": zeros,
        "sparsity": zeros / prunable if prunable else 0.0,
        "stored_params": stored,
        "nonzero_params": nonzero,
        "dense_bytes": 4 * stored,
        "csr_bytes_prunable": csr,
    }


def progressive_sparsity(amount: float, rounds: int) -> float:
    """Fraction removed after ``rounds`` rounds that each prune ``amount`` of the survivors."""
    return 1.0 - (1.0 - amount) ** rounds


# --- L1 channel pruning: CNN ---------------------------------------------------------------


def _keep(scores_C: torch.Tensor, fraction: float) -> torch.Tensor:
    """Indices (sorted) of the channels kept when ``fraction`` of them are removed (>= 1 kept)."""
    n_keep = max(1, scores_C.numel() - int(round(fraction * scores_C.numel())))
    return scores_C.topk(n_keep).indices.sort().values


def _stages(model: DigitsCNN) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    mods = list(model.features)
    return [(m, mods[i + 1]) for i, m in enumerate(mods) if isinstance(m, nn.Conv2d)]


def cnn_channel_scores(model: DigitsCNN, criterion: Criterion) -> list[torch.Tensor]:
    """Per stage, one score per output channel (higher = more important)."""
    if criterion is Criterion.FILTER_L1:
        return [conv.weight.detach().abs().sum(dim=(1, 2, 3)) for conv, _ in _stages(model)]
    return [bn.weight.detach().abs() for _, bn in _stages(model)]


@torch.no_grad()
def prune_cnn_channels(model: DigitsCNN, fraction: float | list[float],
                       criterion: Criterion = Criterion.FILTER_L1) -> tuple[DigitsCNN, list]:  # fmt: skip
    """A new, physically smaller :class:`DigitsCNN` without ``fraction`` of each stage's
    channels (a list gives one fraction per stage); also returns the kept indices per stage."""
    stages = _stages(model)
    fractions = fraction if isinstance(fraction, list) else [fraction] * len(stages)
    if len(fractions) != len(stages) or not all(0 <= f < 1 for f in fractions):
        raise ValueError(f"need {len(stages)} fractions in [0, 1), got {fraction}")
    scores = cnn_channel_scores(model, criterion)
    keep = [_keep(s, f) for s, f in zip(scores, fractions, strict=True)]
    small = DigitsCNN(tuple(k.numel() for k in keep))
    prev = torch.arange(1)
    for (conv, bn), (new_conv, new_bn), idx in zip(stages, _stages(small), keep, strict=True):
        new_conv.weight.copy_(conv.weight[idx][:, prev])
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(new_bn, name).copy_(getattr(bn, name)[idx])
        new_bn.num_batches_tracked.copy_(bn.num_batches_tracked)
        prev = idx
    small.head.weight.copy_(model.head.weight[:, prev])
    small.head.bias.copy_(model.head.bias)
    return small.train(model.training), keep


def fractions_for_flop_cut(widths: tuple[int, ...], target: float) -> float:
    """The uniform channel fraction whose rebuilt :class:`DigitsCNN` has ``target`` fewer
    counted conv + classifier FLOPs (bisection on :func:`~workloads.inference.cnn.conv_flops`)."""
    from .cnn import conv_flops

    base = conv_flops(widths)
    lo, hi = 0.0, 0.99
    for _ in range(40):
        mid = (lo + hi) / 2
        kept = tuple(max(1, w - int(round(mid * w))) for w in widths)
        cut = 1 - conv_flops(kept) / base
        lo, hi = (mid, hi) if cut < target else (lo, mid)
    return hi


@contextmanager
def channel_masks_forward(model: DigitsCNN, keep: list[torch.Tensor]):
    """Inside the block, ``model`` zeroes every channel not in ``keep`` after each stage's ReLU:
    the reference a rebuilt model must match exactly."""
    relus = [m for m in model.features if isinstance(m, nn.ReLU)]
    handles = []
    for stage, (relu, idx) in enumerate(zip(relus, keep, strict=True)):
        mask = torch.zeros(model.widths[stage], dtype=torch.bool)
        mask[idx] = True
        handles.append(relu.register_forward_hook(lambda _m, _i, y, m=mask: y * m[:, None, None]))
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


# --- L1 channel pruning: the LM's dense FFN ------------------------------------------------


def _mlps(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if hasattr(m, "up") and hasattr(m, "down")]


@torch.no_grad()
def prune_ffn_channels(model: nn.Module, fraction: float) -> tuple[nn.Module, list]:
    """A copy of the LM with ``fraction`` of each dense FFN's hidden units removed (lowest L1
    norm of the ``up`` row), rebuilt as smaller ``up``/``down`` linears; returns kept indices."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got fraction={fraction}")
    out = copy.deepcopy(model)
    kept = []
    for mlp in _mlps(out):
        idx = _keep(mlp.up.weight.abs().sum(dim=1), fraction)
        up = nn.Linear(mlp.up.in_features, idx.numel(), bias=mlp.up.bias is not None)
        down = nn.Linear(idx.numel(), mlp.down.out_features, bias=mlp.down.bias is not None)
        up.weight.copy_(mlp.up.weight[idx])
        down.weight.copy_(mlp.down.weight[:, idx])
        if up.bias is not None:
            up.bias.copy_(mlp.up.bias[idx])
        if down.bias is not None:
            down.bias.copy_(mlp.down.bias)
        mlp.up, mlp.down = up, down
        kept.append(idx)
    return out, kept
