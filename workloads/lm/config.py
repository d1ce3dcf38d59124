"""Configuration of the decoder-only LM, its presets (exact names) and named variants.

A variant changes only the per-layer attention or FFN choice of a base preset, so that
comparisons vary one thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from workloads.dynamic_depth import DepthConfig
from workloads.moe import Gate, MoEConfig

from .attention import AttnKind, AttnSpec


class FFNKind(Enum):
    DENSE = "dense"
    MOE = "moe"
    DYNAMIC_DEPTH = "dynamic-depth"


@dataclass(frozen=True)
class LMConfig:
    """A GPT-2-style byte-level decoder (pre-norm, learned positions, tied embeddings, GELU).

    vocab_size: 256 for bytes.
    block_size: the longest sequence (learned position table length).
    n_layers / n_heads / d_model: depth, heads, width; ``d_model % n_heads == 0``.
    d_ff: hidden width of the dense FFN (4·d_model in GPT-2).
    attention: one :class:`AttnSpec` per layer; empty = dense everywhere.
    ffn: one :class:`FFNKind` per layer; empty = dense everywhere.
    moe: routing settings of MoE layers; ``d_expert`` their expert hidden width
        (None = ``d_ff // moe.top_k``, so the active FFN parameters equal the dense FFN's).
    depth: settings of dynamic-depth layers; each sub-layer has hidden ``d_ff // n_sublayers``
        so the full-depth stack has the dense FFN's parameters.
    dropout: residual / attention dropout probability.
    """

    vocab_size: int = 256
    block_size: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_model: int = 128
    d_ff: int = 512
    attention: tuple[AttnSpec, ...] = ()
    ffn: tuple[FFNKind, ...] = ()
    moe: MoEConfig = field(default_factory=MoEConfig)
    d_expert: int | None = None
    depth: DepthConfig = field(default_factory=DepthConfig)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layers", "n_heads", "d_model", "d_ff"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {name}={getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model({self.d_model}) is not divisible by n_heads({self.n_heads})")
        for name in ("attention", "ffn"):
            n = len(getattr(self, name))
            if n not in (0, self.n_layers):
                raise ValueError(f"{name} has {n} entries but n_layers={self.n_layers}")
        if not all(isinstance(s, AttnSpec) for s in self.attention):
            raise ValueError(f"attention entries must be AttnSpec, got {self.attention!r}")
        if not all(isinstance(k, FFNKind) for k in self.ffn):
            raise ValueError(f"ffn entries must be FFNKind, got {self.ffn!r}")
        if self.d_expert is not None and self.d_expert <= 0:
            raise ValueError(f"d_expert must be > 0, got d_expert={self.d_expert}")
        if self.d_ff % self.depth.n_sublayers:
            raise ValueError(
                f"d_ff({self.d_ff}) is not divisible by depth.n_sublayers({self.depth.n_sublayers})"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got dropout={self.dropout}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def expert_hidden(self) -> int:
        return self.d_expert if self.d_expert is not None else max(1, self.d_ff // self.moe.top_k)

    def layer_attention(self, i: int) -> AttnSpec:
        return self.attention[i] if self.attention else AttnSpec()

    def layer_ffn(self, i: int) -> FFNKind:
        return self.ffn[i] if self.ffn else FFNKind.DENSE


PRESETS: dict[str, LMConfig] = {
    # unit tests: milliseconds per step
    "tiny": LMConfig(block_size=64, n_layers=2, n_heads=2, d_model=32, d_ff=128),
    # ~6.4M parameters; a few hundred steps on 2 CPU cores in minutes
    "cpu-small": LMConfig(block_size=256, n_layers=8, n_heads=8, d_model=256, d_ff=1024),
    # GPT-2 small / GPT-3 XL shapes (Radford et al. 2019; Brown et al. 2020, table 2.1), bytes
    "gpt-125m": LMConfig(block_size=1024, n_layers=12, n_heads=12, d_model=768, d_ff=3072),
    "gpt-1.3b": LMConfig(block_size=2048, n_layers=24, n_heads=16, d_model=2048, d_ff=8192),
}


def preset(name: str) -> LMConfig:
    """The preset called exactly ``name``; an unknown name is a ValueError listing the known."""
    if name not in PRESETS:
        raise ValueError(f"unknown LM preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def _window_for(cfg: LMConfig) -> int:
    return max(2, cfg.block_size // 4)


VARIANTS: tuple[str, ...] = (
    "dense",
    "sliding-window",
    "local-global",
    "top-k",
    "progressive",
    "moe",
    "moe-top1",
    "moe-shared",
    "moe-v3",
    "moe-equal-total",
    "dense-equal-total",
    "dynamic-depth",
)


def make_variant(base: LMConfig, name: str, *, window: int | None = None) -> LMConfig:
    """``base`` with every layer's attention or FFN replaced as the variant says.

    dense: the base. sliding-window / local-global / top-k: that attention in every layer
    (window ``block_size/4`` unless given; 4 global tokens; top-k = window).
    progressive: seed 004 §2.1's schedule — the first third of the layers sliding-window, the
    middle dense (global), the last third top-k (k = window); at least one of each end.
    moe: 8 experts top-2, expert hidden ``d_ff/2`` (equal active FFN parameters).
    moe-top1: 8 experts top-1, hidden ``d_ff``. moe-shared: 1 shared + 8 routed top-1, hidden
    ``d_ff/2``. moe-v3: sigmoid gate + bias balancing, top-2, λ = 0.0001.
    moe-equal-total / dense-equal-total: MoE top-2 with hidden ``d_ff`` and the dense model with
    FFN width ``8·d_ff`` — the same total FFN parameters as each other.
    dynamic-depth: every FFN a 4-sub-layer early-exit stack (same parameters as dense).
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; known variants: {', '.join(VARIANTS)}")
    n = base.n_layers
    w = window if window is not None else _window_for(base)
    moe_layers = (FFNKind.MOE,) * n
    if name == "dense":
        return base
    if name == "sliding-window":
        return replace(base, attention=(AttnSpec(AttnKind.WINDOW, window=w),) * n)
    if name == "local-global":
        return replace(base, attention=(AttnSpec(AttnKind.LOCAL_GLOBAL, window=w, n_global=4),) * n)
    if name == "top-k":
        return replace(base, attention=(AttnSpec(AttnKind.TOPK, top_k=w),) * n)
    if name == "progressive":
        third = max(1, n // 3)
        early, late = third, n - third
        specs = tuple(
            AttnSpec(AttnKind.WINDOW, window=w)
            if i < early
            else AttnSpec(AttnKind.TOPK, top_k=w)
            if i >= late
            else AttnSpec()
            for i in range(n)
        )
        return replace(base, attention=specs)
    if name == "moe":
        return replace(base, ffn=moe_layers, moe=MoEConfig(top_k=2), d_expert=base.d_ff // 2)
    if name == "moe-top1":
        return replace(base, ffn=moe_layers, moe=MoEConfig(top_k=1), d_expert=base.d_ff)
    if name == "moe-shared":
        return replace(
            base, ffn=moe_layers, moe=MoEConfig(top_k=1, n_shared=1), d_expert=base.d_ff // 2
        )
    if name == "moe-v3":
        cfg = MoEConfig(top_k=2, gate=Gate.SIGMOID_BIAS, aux_coef=1e-4)
        return replace(base, ffn=moe_layers, moe=cfg, d_expert=base.d_ff // 2)
    if name == "moe-equal-total":
        return replace(base, ffn=moe_layers, moe=MoEConfig(top_k=2), d_expert=base.d_ff)
    if name == "dense-equal-total":
        return replace(base, d_ff=base.d_ff * 8)
    return replace(base, ffn=(FFNKind.DYNAMIC_DEPTH,) * n)
