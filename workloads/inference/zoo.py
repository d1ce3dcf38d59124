"""The named models that quantisation and pruning are applied to, trained from a seed.

``lm-tiny`` / ``lm-small``: the byte-level LM of :mod:`workloads.lm` (presets ``tiny`` and
``cpu-small``) trained on the shipped English text; quality is validation cross-entropy in
nats per byte. ``cnn-digits``: :class:`~workloads.inference.cnn.DigitsCNN` on the bundled
digits; quality is test cross-entropy and accuracy.

A *spec* is a small JSON-able dict that rebuilds the architecture (``family``, ``preset`` or
``widths``, ``train_steps``, ``seed``), so a saved state dict can be loaded into a fresh model.
Trained models are cached per (name, steps, seed) within a process; callers get copies.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import torch
from torch import nn

from workloads.threads import torch_threads  # noqa: F401 - re-exported for the CLIs

from .cnn import CNNTrainConfig, DigitsCNN, evaluate_cnn, load_digits_split, train_cnn

MODELS: dict[str, dict[str, Any]] = {
    "lm-tiny": {"family": "lm", "preset": "tiny", "train_steps": 300, "seq_len": 64, "lr": 3e-3},
    "lm-small": {
        "family": "lm",
        "preset": "cpu-small",
        "train_steps": 100,
        "seq_len": 128,
        "lr": 1e-3,
    },
    "cnn-digits": {
        "family": "cnn",
        "widths": [16, 32, 64],
        "train_steps": 8,
        "seq_len": 0,
        "lr": 3e-3,
    },
}  # cnn train_steps are epochs


def spec_for(name: str, train_steps: int | None = None, seed: int = 0) -> dict[str, Any]:
    """The spec of built-in model ``name`` (exact); ValueError listing the known names."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    spec = {"name": name, **MODELS[name], "seed": seed}
    if train_steps is not None:
        if train_steps < 0:
            raise ValueError(f"train_steps must be >= 0, got train_steps={train_steps}")
        spec["train_steps"] = train_steps
    return spec


def rebuild(spec: dict[str, Any]) -> nn.Module:
    """An untrained model with the architecture ``spec`` describes."""
    if spec["family"] == "cnn":
        return DigitsCNN(tuple(spec["widths"]))
    from workloads.lm import LM, preset

    return LM(preset(spec["preset"]))


@functools.cache
def lm_split():
    from workloads.lm import load_split

    return load_split()


@functools.cache
def digits():
    return load_digits_split()


def _lm_train_config(spec: dict[str, Any], steps: int, lr: float = 1e-3):
    from workloads.lm import TrainConfig

    return TrainConfig(
        steps=max(1, steps), seq_len=spec["seq_len"], seed=spec["seed"], lr=lr,
        warmup_steps=min(20, max(1, steps)), eval_windows=64,
    )  # fmt: skip


@functools.cache
def _trained(spec_json: str) -> nn.Module:
    """Train the model a spec describes (cached per full spec, so a changed preset never hits
    a stale entry)."""
    spec = json.loads(spec_json)
    seed = spec["seed"]
    if spec["family"] == "cnn":
        torch.manual_seed(seed)
        model = DigitsCNN(tuple(spec["widths"]))
        tc = CNNTrainConfig(epochs=spec["train_steps"], lr=spec["lr"], seed=seed)
        return train_cnn(model, digits(), tc)
    from workloads.lm import preset, train

    tc = _lm_train_config(spec, spec["train_steps"], spec["lr"])
    model, _ = train(preset(spec["preset"]), tc, lm_split())
    return model.eval()


def build(name: str, train_steps: int | None = None, seed: int = 0) -> tuple[nn.Module, dict]:
    """A trained copy of built-in model ``name`` and its spec."""
    spec = spec_for(name, train_steps, seed)
    return copy.deepcopy(_trained(json.dumps(spec, sort_keys=True))).eval(), spec


@torch.no_grad()
def evaluate(model: nn.Module, spec: dict[str, Any]) -> dict[str, float]:
    """``val_loss`` (nats per byte or per image) and, for the CNN, ``accuracy``."""
    if spec["family"] == "cnn":
        return evaluate_cnn(model, digits())
    from workloads.lm import evaluate as evaluate_lm

    return evaluate_lm(model, lm_split().val, seq_len=spec["seq_len"], n_windows=64)


def example_input(spec: dict[str, Any], batch: int) -> torch.Tensor:
    """A fixed input batch for timing: validation windows (B, T) or test images (B, 1, 8, 8)."""
    if spec["family"] == "cnn":
        x = digits().x_test
        return x[torch.arange(batch) % x.shape[0]]
    from workloads.lm.data import fixed_windows

    return fixed_windows(lm_split().val, batch, spec["seq_len"])[0]


def forward(model: nn.Module, spec: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
    """Logits of ``model`` on ``x`` (the LM returns (logits, loss))."""
    out = model(x)
    return out[0] if spec["family"] == "lm" else out


def finetune(model: nn.Module, spec: dict[str, Any], steps: int, lr: float = 3e-4,
             after_step=None) -> nn.Module:  # fmt: skip
    """Continue training ``model`` in place for ``steps`` LM steps (or CNN epochs) at a low
    constant-ish rate; ``after_step(model)`` runs after every optimiser step (re-masking)."""
    if steps <= 0:
        return model.eval()
    if spec["family"] == "cnn":
        tc = CNNTrainConfig(epochs=steps, lr=lr, seed=spec["seed"] + 7)
        return train_cnn(model, digits(), tc, after_step)
    from workloads.lm.data import random_windows
    from workloads.lm.train import make_optimizer

    tc = _lm_train_config(spec, steps, lr)
    opt = make_optimizer(model, tc)
    gen = torch.Generator().manual_seed(spec["seed"] + 7)
    model.train()
    for _ in range(steps):
        x, y = random_windows(lm_split().train, tc.batch_size, tc.seq_len, gen)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        if after_step is not None:
            after_step(model)
    return model.eval()
