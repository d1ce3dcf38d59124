"""A decoder-only byte-level language model that reads top to bottom: norm → attention → FFN →
block → model (after nanoGPT's ``model.py``), with each layer's attention and FFN chosen by the
config.

Shape legend: ``B`` batch, ``T`` tokens, ``C`` model width, ``H`` heads, ``D = C / H`` head
dim, ``V`` vocabulary (256 bytes).

MoE and dynamic-depth FFNs leave an auxiliary loss on their module after each forward
(load balancing, ponder cost); :meth:`LM.forward` adds them to the language-model loss and
reports the sum separately.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from workloads.dynamic_depth import DynamicDepthFFN
from workloads.moe import MoE, moe_params

from .attention import (
    AttnKind,
    AttnSpec,
    attention_fn,
    attention_pairs,
    memory_attention_module,
    new_memory,
    reference_attention,
)
from .config import FFNKind, LMConfig


class CausalSelfAttention(nn.Module):
    """(B, T, C) -> (B, T, C); how it attends is the layer's :class:`AttnSpec`."""

    def __init__(self, cfg: LMConfig, spec: AttnSpec) -> None:
        super().__init__()
        self.n_heads, self.spec = cfg.n_heads, spec
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.dropout = nn.Dropout(cfg.dropout)
        self.attend = attention_fn(spec)
        self.memory_attn = (
            memory_attention_module(spec, cfg.n_heads) if spec.kind is AttnKind.MEMORY else None
        )

    def forward(self, x_BTC: torch.Tensor, *, reference: bool = False, memory=None) -> torch.Tensor:
        b, t, c = x_BTC.shape
        q, k, v = (
            self.qkv(x_BTC).view(b, t, 3, self.n_heads, c // self.n_heads).permute(2, 0, 3, 1, 4)
        )
        if reference:
            y_BHTD = reference_attention(q, k, v, self.spec)
        elif self.memory_attn is not None and memory is not None:
            y_BHTD = self.memory_attn(q, k, v, memory)
        else:
            y_BHTD = self.attend(q, k, v)
        return self.dropout(self.proj(y_BHTD.transpose(1, 2).reshape(b, t, c)))


class MLP(nn.Module):
    """The dense FFN: ``C -> F -> C`` with GELU."""

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x_BTC: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.gelu(self.up(x_BTC))))


def make_ffn(cfg: LMConfig, kind: FFNKind) -> nn.Module:
    if kind is FFNKind.MOE:
        return MoE(cfg.d_model, cfg.expert_hidden, cfg.moe)
    if kind is FFNKind.DYNAMIC_DEPTH:
        return DynamicDepthFFN(cfg.d_model, cfg.d_ff // cfg.depth.n_sublayers, cfg.depth)
    return MLP(cfg.d_model, cfg.d_ff, cfg.dropout)


class Block(nn.Module):
    """Pre-norm residual block: ``x + attn(ln(x))``, then ``x + ffn(ln(x))``."""

    def __init__(self, cfg: LMConfig, i: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg, cfg.layer_attention(i))
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.ffn = make_ffn(cfg, cfg.layer_ffn(i))

    def forward(self, x_BTC: torch.Tensor, *, reference: bool = False, memory=None) -> torch.Tensor:
        x_BTC = x_BTC + self.attn(self.ln_1(x_BTC), reference=reference, memory=memory)
        return x_BTC + self.ffn(self.ln_2(x_BTC))


class LM(nn.Module):
    """Byte-level GPT. ``forward(idx (B, T), targets (B, T) | None)`` returns ``(logits (B, T, V),
    loss | None)``; ``loss`` is cross-entropy (nats/byte) plus the auxiliary losses, and
    ``self.last_aux_loss`` holds the auxiliary part. ``memories`` (from :meth:`new_memories`)
    gives MEMORY layers their kNN banks: call forward segment by segment with the same list and
    each segment retrieves from the earlier ones."""

    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.block_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying (Press & Wolf 2017)
        self.apply(self._init_weights)
        residual_std = 0.02 / math.sqrt(2 * cfg.n_layers)  # GPT-2: scale residual outputs by depth
        for name, p in self.named_parameters():
            if name.endswith("w1_ECF"):
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith(("proj.weight", "down.weight", "w2_EFC")) or ".down." in name:
                nn.init.normal_(p, 0.0, residual_std)
        for m in self.modules():
            if isinstance(m, DynamicDepthFFN):
                m.reset_gate()
        self.last_aux_loss = torch.zeros(())

    def new_memories(self, capacity: int) -> list:
        """One empty kNN bank of ``capacity`` entries per MEMORY layer (None for the others)."""
        return [
            new_memory(capacity) if b.attn.memory_attn is not None else None for b in self.blocks
        ]

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if getattr(module, "bias", None) is not None and not isinstance(module, nn.Embedding):
                nn.init.zeros_(module.bias)

    def forward(
        self,
        idx_BT: torch.Tensor,
        targets_BT: torch.Tensor | None = None,
        *,
        reference: bool = False,
        memories: list | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        b, t = idx_BT.shape
        if t > self.cfg.block_size:
            raise ValueError(f"sequence length {t} exceeds block_size={self.cfg.block_size}")
        pos_T = torch.arange(t, device=idx_BT.device)
        x_BTC = self.drop(self.wte(idx_BT) + self.wpe(pos_T))
        memories = memories if memories is not None else [None] * len(self.blocks)
        for block, memory in zip(self.blocks, memories, strict=True):
            x_BTC = block(x_BTC, reference=reference, memory=memory)
        logits_BTV = self.lm_head(self.ln_f(x_BTC))
        if targets_BT is None:
            return logits_BTV, None
        self.last_aux_loss = sum(
            (m.aux_loss for m in self.modules() if isinstance(m, MoE | DynamicDepthFFN)),
            start=logits_BTV.new_zeros(()),
        )
        ce = F.cross_entropy(logits_BTV.flatten(0, 1), targets_BT.flatten(), ignore_index=-1)
        return logits_BTV, ce + self.last_aux_loss


# --- counting --------------------------------------------------------------------------------


def param_counts(cfg: LMConfig) -> dict[str, int]:
    """Total and active-per-token parameters, embeddings included (the tied head counts once;
    the position table is counted). Analytic, so it works for presets too large to build."""
    c = cfg.d_model
    emb = cfg.vocab_size * c + cfg.block_size * c + 2 * c  # + final LayerNorm
    total = active = emb
    for i in range(cfg.n_layers):
        attn = 4 * c * c + 4 * c  # qkv, proj, two LayerNorms
        if cfg.layer_attention(i).kind is AttnKind.MEMORY:
            attn += cfg.n_heads  # the per-head memory gate
        kind = cfg.layer_ffn(i)
        if kind is FFNKind.MOE:
            counts = moe_params(c, cfg.expert_hidden, cfg.moe)
            ffn_total, ffn_active = counts["total_params"], counts["active_params"]
        elif kind is FFNKind.DYNAMIC_DEPTH:
            ffn_total = ffn_active = 2 * c * cfg.d_ff + cfg.depth.n_sublayers * (c + 1)
        else:
            ffn_total = ffn_active = 2 * c * cfg.d_ff
        total += attn + ffn_total
        active += attn + ffn_active
    return {"params": total, "active_params": active}


def flops_per_token(cfg: LMConfig, seq_len: int, *, training: bool = True) -> float:
    """Forward (or forward + backward, ×3) FLOPs per token: ``2·N_active`` for the matmuls
    (embedding lookups excluded, the tied head included) plus attention ``4·D·pairs/T`` per
    head and layer (Kaplan et al. 2020, table 1, with the causal/sparse pair count)."""
    counts = param_counts(cfg)
    c = cfg.d_model
    matmul_params = counts["active_params"] - cfg.block_size * c  # position table is a lookup
    attn = sum(
        4 * c * attention_pairs(cfg.layer_attention(i), seq_len) / seq_len
        for i in range(cfg.n_layers)
    )
    fwd = 2.0 * matmul_params + attn
    return 3.0 * fwd if training else fwd
