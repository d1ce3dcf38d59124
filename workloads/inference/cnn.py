"""A small CNN on scikit-learn's bundled digits: the offline stand-in for ResNet-50/ImageNet.

The seeds' pruning claims are about ResNet-50 on ImageNet (002) and CNNs in general (001, 003).
Neither ImageNet nor a ResNet-50 checkpoint can be downloaded here, so the pruning mechanics
(channel selection, rebuilding smaller layers, counted FLOPs, accuracy after fine-tuning) run
on :func:`sklearn.datasets.load_digits` — 1,797 8×8 grey images of handwritten digits (the UCI
"Optical Recognition of Handwritten Digits" test set, shipped inside scikit-learn, so nothing
is downloaded). Accuracy figures from it say how a small, over-parameterised CNN reacts to
pruning; they are not ImageNet accuracies, and every record says so.

Model (:class:`DigitsCNN`): three 3×3 conv → BatchNorm → ReLU stages (widths 16, 32, 64; 2×2
max-pool after the second and third), global average pooling, a linear classifier. Global
average pooling keeps the classifier's input equal to the last stage's channels, so channel
pruning only has to shrink conv, BN and the classifier's columns.

Training: Adam, full passes over a seeded 80/20 stratified split, optional L1 penalty on the
BatchNorm scales (Network Slimming, Liu et al. 2017), optional weight masks re-applied after
every step (fine-tuning a magnitude-pruned model keeps its zeros).

Shape legend: ``N`` images, ``C`` channels, ``H``/``W`` height/width (8), ``K`` classes (10).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

N_CLASSES = 10
DATASET = "sklearn.datasets.load_digits (8x8 digits, 1797 images; stand-in for ImageNet)"


@dataclass(frozen=True)
class DigitsSplit:
    """train/test images (N, 1, 8, 8) float in [0, 1] and labels (N,) int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits_split(test_fraction: float = 0.2, seed: int = 0) -> DigitsSplit:
    """The bundled digits, scaled to [0, 1], split per class with a seeded permutation."""
    from sklearn.datasets import load_digits

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got test_fraction={test_fraction}")
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    gen = torch.Generator().manual_seed(seed)
    test_idx, train_idx = [], []
    for k in range(N_CLASSES):
        idx = torch.nonzero(y == k).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=gen)]
        n_test = round(test_fraction * idx.numel())
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    tr, te = torch.cat(train_idx).sort().values, torch.cat(test_idx).sort().values
    return DigitsSplit(x[tr], y[tr], x[te], y[te])


class DigitsCNN(nn.Module):
    """(N, 1, 8, 8) -> logits (N, 10). ``widths`` are the three stages' channels."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64)) -> None:
        super().__init__()
        if not widths or any(w <= 0 for w in widths):
            raise ValueError(f"widths must be positive, got widths={widths}")
        self.widths = tuple(widths)
        layers: list[nn.Module] = []
        c_in = 1
        for i, c in enumerate(widths):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, N_CLASSES)

    def forward(self, x_NCHW: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x_NCHW).mean(dim=(2, 3)))


def bn_l1_penalty(model: nn.Module) -> torch.Tensor:
    """Σ|γ| over all BatchNorm scales (the Network Slimming sparsity term)."""
    gammas = [m.weight.abs().sum() for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    return torch.stack(gammas).sum() if gammas else torch.zeros(())


@dataclass(frozen=True)
class CNNTrainConfig:
    """epochs over the training split, batch size, Adam lr, seed, and ``bn_l1`` (λ of the
    Network Slimming penalty λ·Σ|γ|; 0 = plain training)."""

    epochs: int = 15
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0
    bn_l1: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size <= 0 or self.lr <= 0 or self.bn_l1 < 0:
            raise ValueError(
                f"need epochs >= 0, batch_size > 0, lr > 0, bn_l1 >= 0; got epochs={self.epochs}, "
                f"batch_size={self.batch_size}, lr={self.lr}, bn_l1={self.bn_l1}"
            )


def train_cnn(model: nn.Module, data: DigitsSplit, tc: CNNTrainConfig,
              after_step: Callable[[nn.Module], None] | None = None) -> nn.Module:  # fmt: skip
    """Train ``model`` in place; ``after_step(model)`` runs after every optimiser step."""
    torch.manual_seed(tc.seed)
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr)
    gen = torch.Generator().manual_seed(tc.seed + 1)
    model.train()
    n = data.x_train.shape[0]
    for _ in range(tc.epochs):
        for idx in torch.randperm(n, generator=gen).split(tc.batch_size):
            loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            if tc.bn_l1:
                loss = loss + tc.bn_l1 * bn_l1_penalty(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if after_step is not None:
                after_step(model)
    model.eval()
    return model


@torch.no_grad()
def evaluate_cnn(model: nn.Module, data: DigitsSplit) -> dict[str, float]:
    """Test-split ``val_loss`` (mean cross-entropy, nats) and ``accuracy`` (fraction)."""
    was_training = model.training
    model.eval()
    logits_NK = model(data.x_test)
    model.train(was_training)
    return {
        "val_loss": float(F.cross_entropy(logits_NK, data.y_test)),
        "accuracy": float((logits_NK.argmax(-1) == data.y_test).float().mean()),
    }


def conv_flops(widths: tuple[int, ...], n_classes: int = N_CLASSES, side: int = 8) -> int:
    """Closed-form forward FLOPs of one image (2 per multiply-add; conv, classifier only —
    BN, ReLU, pooling are not counted): conv ``2·C_out·C_in·9·H·W`` at the input resolution of
    each stage (8×8, then 8×8 before the first pool, 4×4 before the second)."""
    total, c_in, hw = 0, 1, side * side
    for i, c in enumerate(widths):
        total += 2 * c * c_in * 9 * hw
        if i > 0:
            hw //= 4
        c_in = c
    return total + 2 * c_in * n_classes
