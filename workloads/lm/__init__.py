"""A small byte-level decoder-only LM with a per-layer choice of attention and FFN, trained on
text that ships with Python, plus the probes and experiments that use it.

Modules: ``attention`` (per-layer attention spec and factory), ``config`` (LMConfig, presets,
variants), ``model`` (the LM, parameter and FLOP counts), ``data`` (shipped text, fixed split),
``train`` (AdamW + warm-up + cosine, evaluation, :func:`compare_variants`), ``probes`` (passkey
retrieval by distance, with and without a kNN memory), ``experiments`` (one function per
model-architecture claim, each returning plain rows).

Importing this package does not register workloads; :mod:`workloads.lm.registry` does.
"""

from .attention import AttnKind, AttnSpec, attention_fn, receptive_field, reference_attention
from .config import PRESETS, VARIANTS, FFNKind, LMConfig, make_variant, preset
from .data import Domain, Split, load_split
from .model import LM, flops_per_token, param_counts
from .train import (
    CachedTrainer,
    Order,
    TrainConfig,
    Trainer,
    compare_variants,
    evaluate,
    relative_quality,
    train,
)

__all__ = [
    "LM",
    "PRESETS",
    "VARIANTS",
    "AttnKind",
    "AttnSpec",
    "CachedTrainer",
    "Domain",
    "FFNKind",
    "LMConfig",
    "Order",
    "Split",
    "TrainConfig",
    "Trainer",
    "attention_fn",
    "compare_variants",
    "evaluate",
    "flops_per_token",
    "load_split",
    "make_variant",
    "param_counts",
    "preset",
    "receptive_field",
    "reference_attention",
    "relative_quality",
    "train",
]
