"""Experiments on the LM for the model-architecture claims; each returns plain rows (dicts).

- :func:`moe_vs_dense` (004-moe-inference-40pct): dense, MoE at equal active parameters, and
  MoE vs dense at equal total parameters — val loss at equal steps, tokens/s, FLOPs/token.
- :func:`aux_coef_sweep` (004-moe-aux-loss-0.1): λ ∈ {0, 0.01, 0.1} — load balance, dropped
  tokens at a capacity factor, val loss.
- :func:`expert_specialisation` (004-moe-domain-experts): train on English prose + Python
  source; mutual information between domain and expert choice per layer.
- :func:`dynamic_depth_quality` (001-dynamic-depth-ffn): dense vs dynamic-depth FFNs — val
  loss, average depth used, FFN FLOPs saved.
- :func:`curriculum_comparison` (001-curriculum-learning): random vs short-to-long at equal tokens.
- :func:`swa_quality` (000-swa-98pct-accuracy): dense vs sliding window on text, plus the
  passkey probe by distance (in :mod:`workloads.lm.probes`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, replace

import torch

from workloads.dynamic_depth import DynamicDepthFFN
from workloads.moe import MoE, MoEConfig, load_stats

from .config import LMConfig, make_variant, preset
from .data import Domain, Split, fixed_windows, load_split
from .model import LM
from .train import Order, TrainConfig, Trainer, compare_variants, train


def _base(base: str | LMConfig) -> LMConfig:
    return preset(base) if isinstance(base, str) else base


def _tc(base: LMConfig, steps: int, tc: TrainConfig | None) -> TrainConfig:
    tc = tc or TrainConfig(seq_len=min(128, base.block_size))
    return TrainConfig(
        **{**asdict(tc), "steps": steps, "warmup_steps": min(tc.warmup_steps, steps)}
    )


def moe_vs_dense(
    steps: int = 200,
    *,
    base: str | LMConfig = "tiny",
    train_config: TrainConfig | None = None,
    trainer: Trainer = train,
) -> list[dict]:
    """Rows of :func:`compare_variants` for dense, moe (equal active), moe-equal-total and
    dense-equal-total, each with ``flops_per_token`` (training) and ``tokens_per_s``."""
    cfg = _base(base)
    return compare_variants(
        ["dense", "moe", "moe-equal-total", "dense-equal-total"],
        steps,
        base=cfg,
        train_config=_tc(cfg, steps, train_config),
        trainer=trainer,
    )


@torch.no_grad()
def routing(model: LM, x_BT: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per MoE layer, (expert ids (N, K), kept mask (N, K)) for one eval forward of ``x``."""
    model.eval()
    model(x_BT)
    return [m.last_route for m in model.modules() if isinstance(m, MoE)]


def aux_coef_sweep(
    coefs: tuple[float, ...] = (0.0, 0.01, 0.1),
    steps: int = 200,
    *,
    base: str | LMConfig = "tiny",
    capacity_factor: float = 1.25,
    train_config: TrainConfig | None = None,
    trainer: Trainer = train,
) -> list[dict]:
    """MoE (8 experts, top-2, capacity ``capacity_factor``) trained with each λ.

    Rows: aux_coef, val_loss, bits_per_byte, load_cv, max_over_mean_load, load_entropy_nats,
    dropped_fraction (means over layers, measured on validation windows), steps, tokens."""
    cfg0 = _base(base)
    tc = _tc(cfg0, steps, train_config)
    split = load_split()
    x, _ = fixed_windows(split.val, 16, tc.seq_len)
    rows = []
    for coef in coefs:
        moe = MoEConfig(top_k=2, aux_coef=coef, capacity_factor=capacity_factor)
        cfg = replace(make_variant(cfg0, "moe"), moe=moe)
        model, summary = trainer(cfg, tc, split)
        stats = [load_stats(ids, keep, moe.n_experts) for ids, keep in routing(model, x)]
        mean = {k: sum(s[k] for s in stats) / len(stats) for k in stats[0]}
        rows.append(
            {
                "aux_coef": coef,
                "val_loss": summary["val_loss"],
                "bits_per_byte": summary["bits_per_byte"],
                **mean,
                "steps": steps,
                "tokens": summary["tokens"],
            }
        )
    return rows


@functools.lru_cache(maxsize=2)
def mixed_split(max_bytes: int = 450_000) -> tuple[Split, Split, Split]:
    """English and Python splits of about equal size, and their concatenation for training
    (cached: the same object each call)."""
    en = load_split(Domain.ENGLISH, max_bytes=max_bytes)
    py = load_split(Domain.PYTHON, max_bytes=max_bytes)
    return Split(torch.cat([en.train, py.train]), torch.cat([en.val, py.val])), en, py


def mutual_information_bits(joint: torch.Tensor) -> float:
    """I(A; B) in bits from a count table (A rows, B columns)."""
    p = joint.double() / joint.sum()
    pa, pb = p.sum(1, keepdim=True), p.sum(0, keepdim=True)
    nz = p > 0
    return float((p[nz] * (p[nz] / (pa @ pb)[nz]).log2()).sum())


def expert_specialisation(
    steps: int = 200,
    *,
    base: str | LMConfig = "tiny",
    train_config: TrainConfig | None = None,
    windows: int = 16,
    trainer: Trainer = train,
) -> list[dict]:
    """Train the MoE LM on English + Python; per layer, MI (bits) between the domain of a token
    and its first-choice expert, for the trained and the untrained (random router) model.

    Rows: layer, trained (bool), mi_bits, max_mi_bits (1 bit: two equally likely domains),
    top_expert_english, top_expert_python, english_share_in_top_python_expert."""
    cfg = make_variant(_base(base), "moe")
    tc = _tc(cfg, steps, train_config)
    mixed, en, py = mixed_split()
    trained, _ = trainer(cfg, tc, mixed)
    torch.manual_seed(tc.seed)
    untrained = LM(cfg)
    x_en, _ = fixed_windows(en.val, windows, tc.seq_len)
    x_py, _ = fixed_windows(py.val, windows, tc.seq_len)
    rows = []
    for is_trained, model in ((False, untrained), (True, trained)):
        for layer, (r_en, r_py) in enumerate(
            zip(routing(model, x_en), routing(model, x_py), strict=True)
        ):
            e = cfg.moe.n_experts
            joint = torch.stack([torch.bincount(r[0][:, 0], minlength=e) for r in (r_en, r_py)])
            top_py = int(joint[1].argmax())
            rows.append(
                {
                    "layer": layer,
                    "trained": is_trained,
                    "mi_bits": mutual_information_bits(joint),
                    "max_mi_bits": 1.0,
                    "top_expert_english": int(joint[0].argmax()),
                    "top_expert_python": top_py,
                    "english_share_in_top_python_expert": float(
                        joint[0, top_py] / joint[:, top_py].sum()
                    ),
                    "steps": steps,
                }
            )
    return rows


def dynamic_depth_quality(
    steps: int = 200,
    *,
    base: str | LMConfig = "tiny",
    train_config: TrainConfig | None = None,
    trainer: Trainer = train,
) -> list[dict]:
    """Dense vs dynamic-depth FFNs at equal steps. Rows: the compare_variants columns plus
    avg_depth, max_depth and ffn_flops_saved_fraction (measured on validation windows, hard
    early exit; 0 for dense)."""
    cfg0 = _base(base)
    tc = _tc(cfg0, steps, train_config)
    split = load_split()
    x, _ = fixed_windows(split.val, 16, tc.seq_len)
    rows = []
    for name in ("dense", "dynamic-depth"):
        model, summary = trainer(make_variant(cfg0, name), tc, split)
        summary.pop("history")
        model.eval()
        with torch.no_grad():
            model(x)
        depths = [
            m.last_depth_N.float().mean() for m in model.modules() if isinstance(m, DynamicDepthFFN)
        ]
        cap = cfg0.depth.n_sublayers
        avg = float(sum(depths) / len(depths)) if depths else float(cap)
        rows.append(
            {
                "variant": name,
                **summary,
                "avg_depth": avg,
                "max_depth": cap,
                "ffn_flops_saved_fraction": 1 - avg / cap,
            }
        )
    return rows


def curriculum_comparison(
    steps: int = 200,
    *,
    base: str | LMConfig = "tiny",
    train_config: TrainConfig | None = None,
    trainer: Trainer = train,
) -> list[dict]:
    """Random order vs short-to-long length curriculum, equal tokens per step, same eval.
    Rows: order, val_loss, bits_per_byte, tokens, steps, tokens_per_s."""
    cfg = _base(base)
    tc = _tc(cfg, steps, train_config)
    split = load_split()
    rows = []
    for order in Order:
        _, s = trainer(cfg, replace(tc, order=order), split)
        rows.append(
            {
                "order": order.value,
                **{
                    k: s[k]
                    for k in ("val_loss", "bits_per_byte", "tokens", "steps", "tokens_per_s")
                },
            }
        )
    return rows


def swa_quality(
    steps: int = 200,
    *,
    base: str | LMConfig = "tiny",
    window: int | None = None,
    train_config: TrainConfig | None = None,
    trainer: Trainer = train,
) -> list[dict]:
    """Dense vs sliding-window LM on text at equal steps; rows of compare_variants plus
    ``quality_retained`` = exp(−(val_loss − dense val_loss)) (ratio of per-byte likelihoods;
    the seed's "98%" read as 0.98) and the window used."""
    cfg = _base(base)
    w = window or max(2, cfg.block_size // 4)
    variants = {"dense": cfg, "sliding-window": make_variant(cfg, "sliding-window", window=w)}
    rows = compare_variants(
        variants, steps, base=cfg, train_config=_tc(cfg, steps, train_config), trainer=trainer
    )
    dense = rows[0]["val_loss"]
    return [
        {
            **r,
            "window": None if r["variant"] == "dense" else w,
            "quality_retained": math.exp(dense - r["val_loss"]),
        }
        for r in rows
    ]
