"""Train and evaluate the byte-level LM; compare variants at equal steps and equal tokens.

Optimiser: AdamW (decoupled weight decay on matrices only, Loshchilov & Hutter 2019), linear
warm-up then cosine decay to ``min_lr_ratio · lr`` (as in nanoGPT / GPT-3), gradient clipping.

Determinism: model init, batch sampling and the train/val split are all seeded, so the same
seed gives bit-identical losses on the same machine, torch build and thread count. Across
thread counts or devices, float reduction order changes and results agree only to ~1e-5
relative per step (drifting slowly with training).

Records: every experiment function returns a list of plain dicts (one per run), ready to be
turned into records; ``tokens_per_s`` is training throughput (forward + backward + optimiser,
evaluation excluded) measured with ``time.perf_counter`` on the calling thread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import Enum

import torch

from .config import LMConfig, make_variant, preset
from .data import Split, fixed_windows, length_curriculum, load_split, random_windows
from .model import LM, flops_per_token, param_counts


class Order(Enum):
    RANDOM = "random"
    SHORT_TO_LONG = "short-to-long"  # length curriculum at equal tokens per step


@dataclass(frozen=True)
class TrainConfig:
    """steps / batch_size / seq_len: the run (tokens = steps · batch · seq_len).
    lr, min_lr_ratio, warmup_steps: peak rate, floor of the cosine, linear warm-up length.
    weight_decay, beta1, beta2, grad_clip: AdamW and clipping. seed: init and batch order.
    eval_windows: validation windows of ``seq_len`` (fixed). order: batch ordering."""

    steps: int = 200
    batch_size: int = 8
    seq_len: int = 128
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 20
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    seed: int = 0
    eval_windows: int = 64
    order: Order = Order.RANDOM

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "seq_len", "eval_windows"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {name}={getattr(self, name)}")
        if self.lr <= 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(
                f"need lr > 0 and 0 <= min_lr_ratio <= 1, got lr={self.lr}, min_lr_ratio={self.min_lr_ratio}"
            )
        if not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(
                f"warmup_steps must be in [0, steps], got warmup_steps={self.warmup_steps}, steps={self.steps}"
            )


def lr_at(step: int, tc: TrainConfig) -> float:
    """Linear warm-up over ``warmup_steps`` then cosine from ``lr`` to ``min_lr_ratio · lr``."""
    if step < tc.warmup_steps:
        return tc.lr * (step + 1) / tc.warmup_steps
    progress = (step - tc.warmup_steps) / max(1, tc.steps - tc.warmup_steps)
    floor = tc.min_lr_ratio * tc.lr
    return floor + 0.5 * (tc.lr - floor) * (1 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: LM, tc: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on tensors of rank >= 2 only (not norms, biases)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": tc.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=tc.lr, betas=(tc.beta1, tc.beta2))


def _batch(
    split: Split, step: int, tc: TrainConfig, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    if tc.order is Order.RANDOM:
        return random_windows(split.train, tc.batch_size, tc.seq_len, gen)
    length = length_curriculum(step, tc.steps, tc.seq_len)
    return random_windows(split.train, tc.batch_size * tc.seq_len // length, length, gen)


@torch.no_grad()
def evaluate(
    model: LM, tokens: torch.Tensor, *, seq_len: int, n_windows: int = 64, batch: int = 16
) -> dict[str, float]:
    """Mean next-byte cross-entropy over fixed windows: ``val_loss`` (nats/byte) and
    ``bits_per_byte`` (= val_loss / ln 2, since a token is a byte)."""
    was_training = model.training
    model.eval()
    x_NT, y_NT = fixed_windows(tokens, n_windows, seq_len)
    total = 0.0
    for x, y in zip(x_NT.split(batch), y_NT.split(batch), strict=True):
        logits, _ = model(x)
        total += float(
            torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum")
        )
    model.train(was_training)
    loss = total / y_NT.numel()
    return {"val_loss": loss, "bits_per_byte": loss / math.log(2)}


def train(cfg: LMConfig, tc: TrainConfig, split: Split | None = None) -> tuple[LM, dict]:
    """Train a fresh model; returns it and a summary dict (see :func:`compare_variants`),
    with ``history`` a list of {step, lr, loss, aux_loss}."""
    if tc.seq_len > cfg.block_size:
        raise ValueError(f"seq_len({tc.seq_len}) exceeds block_size({cfg.block_size})")
    split = split if split is not None else load_split()
    torch.manual_seed(tc.seed)
    model = LM(cfg)
    opt = make_optimizer(model, tc)
    gen = torch.Generator().manual_seed(tc.seed + 1)
    history, tokens, train_s = [], 0, 0.0
    model.train()
    for step in range(tc.steps):
        x, y = _batch(split, step, tc, gen)
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        train_s += time.perf_counter() - t0
        tokens += x.numel()
        aux = float(model.last_aux_loss.detach())
        history.append(
            {
                "step": step,
                "lr": lr_at(step, tc),
                "loss": float(loss.detach()) - aux,
                "aux_loss": aux,
            }
        )
    summary = {
        "steps": tc.steps,
        "tokens": tokens,
        "train_s": train_s,
        "tokens_per_s": tokens / train_s,
        "train_loss": sum(h["loss"] for h in history[-10:]) / len(history[-10:]),
        **evaluate(model, split.val, seq_len=tc.seq_len, n_windows=tc.eval_windows),
        **param_counts(cfg),
        "flops_per_token": flops_per_token(cfg, tc.seq_len),
        "history": history,
    }
    return model, summary


Trainer = Callable[[LMConfig, TrainConfig, Split], tuple[LM, dict]]


class CachedTrainer:
    """A :data:`Trainer` that trains each (config, train config, split) once and then hands
    out the same model and a copy of its summary. Several experiments that need the same
    baseline (dense at equal steps, say) then train it once. Keys hold the split object
    itself, so a split is matched by identity and cannot be confused with a new one."""

    def __init__(self) -> None:
        self._runs: dict[tuple, tuple[Split, LM, dict]] = {}

    def __call__(self, cfg: LMConfig, tc: TrainConfig, split: Split) -> tuple[LM, dict]:
        key = (cfg, tc, id(split))
        if key not in self._runs:
            model, summary = train(cfg, tc, split)
            self._runs[key] = (split, model, summary)
        _, model, summary = self._runs[key]
        return model, dict(summary)

    def __len__(self) -> int:
        return len(self._runs)


def compare_variants(
    variants: Iterable[str] | Mapping[str, LMConfig],
    steps: int,
    *,
    base: str | LMConfig = "tiny",
    train_config: TrainConfig | None = None,
    split: Split | None = None,
    keep_history: bool = False,
    trainer: Trainer = train,
) -> list[dict]:
    """Train each variant from the same seed on the same batches for ``steps`` steps and
    evaluate on the same validation windows (equal steps *and* equal tokens).

    variants: names from :data:`~workloads.lm.config.VARIANTS` applied to ``base`` (a preset
        name or config), or a mapping name -> LMConfig.
    trainer: how a model is trained (:func:`train`, or a :class:`CachedTrainer` to reuse runs).
    Returns one dict per variant with: variant, preset, steps, tokens, val_loss, bits_per_byte,
    tokens_per_s, train_loss, params, active_params, flops_per_token (training, per token),
    train_s, seq_len, batch_size, seed (and ``history`` if ``keep_history``).
    """
    base_cfg = preset(base) if isinstance(base, str) else base
    configs = (
        dict(variants)
        if isinstance(variants, Mapping)
        else {v: make_variant(base_cfg, v) for v in variants}
    )
    tc = train_config or TrainConfig(seq_len=min(128, base_cfg.block_size))
    tc = TrainConfig(**{**asdict(tc), "steps": steps, "warmup_steps": min(tc.warmup_steps, steps)})
    split = split if split is not None else load_split()
    rows = []
    for name, cfg in configs.items():
        _, summary = trainer(cfg, tc, split)
        if not keep_history:
            summary.pop("history")
        rows.append(
            {
                "variant": name,
                "preset": base if isinstance(base, str) else "custom",
                "seq_len": tc.seq_len,
                "batch_size": tc.batch_size,
                "seed": tc.seed,
                **summary,
            }
        )
    return rows


def relative_quality(rows: Sequence[Mapping], baseline: str = "dense") -> list[dict]:
    """Per row: val-loss ratio and bits-per-byte ratio to ``baseline`` (1.0 = equal quality;
    "98% accuracy retained" would read as a ratio <= 1/0.98 ≈ 1.02), and tokens/s ratio."""
    ref = next((r for r in rows if r["variant"] == baseline), None)
    if ref is None:
        raise ValueError(f"baseline {baseline!r} not among {[r['variant'] for r in rows]}")
    return [
        {
            "variant": r["variant"],
            "val_loss_ratio": r["val_loss"] / ref["val_loss"],
            "bpb_delta": r["bits_per_byte"] - ref["bits_per_byte"],
            "tokens_per_s_ratio": r["tokens_per_s"] / ref["tokens_per_s"],
        }
        for r in rows
    ]
