"""A transformer as the cost model sees it: its shape, parameters and FLOPs.

Symbols follow Narayanan et al. 2021 ("Efficient Large-Scale Language Model Training on GPU
Clusters Using Megatron-LM", SC'21) and Korthikanti et al. 2022 ("Reducing Activation
Recomputation in Large Transformer Models"):

    l layers · h hidden · a attention heads · s sequence · V vocabulary · B global batch
    b micro-batch · t tensor-parallel size · p pipeline-parallel size

Memory per GPU lives in :mod:`simulators.memory`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Recompute(StrEnum):
    """Activation recomputation (Korthikanti et al. 2022 §4-5)."""

    NONE = "none"
    SELECTIVE = "selective"  # recompute only the attention core (softmax, dropout, QK, AV)
    FULL = "full"  # store each layer's input, recompute the whole forward in backward


@dataclass(frozen=True)
class TransformerSpec:
    """A decoder-only transformer.

    kv_heads: key/value heads (== heads for multi-head attention, fewer for GQA/MQA).
    ffn: MLP inner width (4h for GPT; about 8h/3 for gated SwiGLU MLPs).
    gated_mlp: SwiGLU-style MLP with three weight matrices instead of two.
    experts / top_k: MoE MLP with ``experts`` experts, each token routed to ``top_k``.
    learned_pos_emb: GPT-style learned position embeddings (s·h parameters).
    tied_embeddings: the output layer reuses the input embedding matrix.
    """

    name: str
    layers: int
    hidden: int
    heads: int
    vocab: int = 51200
    seq: int = 2048
    kv_heads: int = 0  # 0: same as heads
    ffn: int = 0  # 0: 4 * hidden
    gated_mlp: bool = False
    experts: int = 1
    top_k: int = 1
    learned_pos_emb: bool = True
    tied_embeddings: bool = True

    def __post_init__(self) -> None:
        for f in ("layers", "hidden", "heads", "vocab", "seq", "experts", "top_k"):
            if getattr(self, f) < 1:
                raise ValueError(f"model {self.name!r}: {f}({getattr(self, f)}) must be >= 1")
        if self.hidden % self.heads:
            raise ValueError(
                f"model {self.name!r}: hidden({self.hidden}) is not divisible "
                f"by heads({self.heads})"
            )
        if self.heads % self.n_kv_heads:
            raise ValueError(
                f"model {self.name!r}: heads({self.heads}) is not divisible by "
                f"kv_heads({self.n_kv_heads})"
            )
        if self.top_k > self.experts:
            raise ValueError(f"model {self.name!r}: top_k({self.top_k}) > experts({self.experts})")

    @property
    def n_kv_heads(self) -> int:
        return self.kv_heads or self.heads

    @property
    def ffn_hidden(self) -> int:
        return self.ffn or 4 * self.hidden

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def is_moe(self) -> bool:
        return self.experts > 1


# --- parameters -------------------------------------------------------------------------


def attention_params(m: TransformerSpec) -> int:
    """Q, K, V and output projections with biases: h·(h + 2·kv·d) + h² + biases."""
    kv_dim = m.n_kv_heads * m.head_dim
    return (
        m.hidden * (m.hidden + 2 * kv_dim)
        + m.hidden * m.hidden
        + (m.hidden + 2 * kv_dim)
        + m.hidden
    )


def mlp_params(m: TransformerSpec) -> int:
    """One expert's MLP with biases: 2·h·f (+ h·f when gated) + f + h."""
    mats = 3 if m.gated_mlp else 2
    return mats * m.hidden * m.ffn_hidden + m.ffn_hidden + m.hidden


def layer_params(m: TransformerSpec) -> int:
    """One transformer layer: attention + all experts' MLPs (+ router) + two LayerNorms.

    For GPT (a = kv, f = 4h) this is 12h² + 13h, the per-layer term of Narayanan et al.
    2021 §5.1: P = 12·l·h²·(1 + 13/(12h) + (V + s)/(12·l·h)).
    """
    router = m.hidden * m.experts if m.is_moe else 0
    return attention_params(m) + m.experts * mlp_params(m) + router + 4 * m.hidden


def embedding_params(m: TransformerSpec) -> int:
    """Token (V·h) and learned position (s·h) embeddings; an untied output layer adds V·h."""
    pos = m.seq * m.hidden if m.learned_pos_emb else 0
    out = 0 if m.tied_embeddings else m.vocab * m.hidden
    return m.vocab * m.hidden + pos + out


def param_count(m: TransformerSpec) -> int:
    """All parameters (final LayerNorm included)."""
    return m.layers * layer_params(m) + embedding_params(m) + 2 * m.hidden


def active_param_count(m: TransformerSpec) -> int:
    """Parameters a token touches: MoE counts top_k experts instead of all of them."""
    inactive = (m.experts - m.top_k) * mlp_params(m) * m.layers
    return param_count(m) - inactive


# --- FLOPs -----------------------------------------------------------------------------


def megatron_flops_per_iteration(m: TransformerSpec, batch: int, recompute: bool = True) -> float:
    """Narayanan et al. 2021, eq. 3: F = 96·B·s·l·h²·(1 + s/(6h) + V/(16·l·h)).

    This counts the recomputed forward pass (full activation recomputation), which is how
    Megatron-LM reports "achieved TFLOP/s per GPU". Without recomputation the same
    derivation gives 72·B·s·l·h²·(1 + s/(6h) + V/(12·l·h)). GPT-shaped models only
    (f = 4h, multi-head attention); :func:`model_flops_per_iteration` is the general form.
    """
    b, s, n_l, h, v = batch, m.seq, m.layers, m.hidden, m.vocab
    if recompute:
        return 96.0 * b * s * n_l * h * h * (1 + s / (6 * h) + v / (16 * n_l * h))
    return 72.0 * b * s * n_l * h * h * (1 + s / (6 * h) + v / (12 * n_l * h))


def layer_forward_flops_per_token(m: TransformerSpec) -> float:
    """Matmul FLOPs of one layer's forward per token (2 FLOPs per multiply-add).

    Projections 2·(h·(h + 2·kv·d) + h²); attention scores and context 2·2·s·h (the full
    s×s square, as Megatron counts it); MLP 2·(2 or 3)·h·f per active expert.
    """
    kv_dim = m.n_kv_heads * m.head_dim
    proj = 2.0 * (m.hidden * (m.hidden + 2 * kv_dim) + m.hidden * m.hidden)
    attn = 4.0 * m.seq * m.hidden
    mlp = 2.0 * (3 if m.gated_mlp else 2) * m.hidden * m.ffn_hidden * m.top_k
    return proj + attn + mlp


def model_flops_per_token(m: TransformerSpec) -> float:
    """Training FLOPs per token without recomputation: 3 × (forward layers + LM head).

    For GPT this equals 6·N' + 12·l·s·h with N' = 12·l·h² + V·h the matmul parameters
    (Kaplan et al. 2020; Chowdhery et al. 2022 appendix B "model FLOPs"), and matches eq. 3
    of Narayanan et al. without recomputation divided by B·s. Used for MFU.
    """
    return 3.0 * (m.layers * layer_forward_flops_per_token(m) + 2.0 * m.vocab * m.hidden)


def model_flops_per_iteration(m: TransformerSpec, batch: int) -> float:
    """:func:`model_flops_per_token` × B·s."""
    return model_flops_per_token(m) * batch * m.seq


# --- presets ---------------------------------------------------------------------------


def _gpt(name: str, layers: int, hidden: int, heads: int) -> TransformerSpec:
    return TransformerSpec(name, layers, hidden, heads, vocab=51200, seq=2048)


# GPT-3 175B: Brown et al. 2020 Table 2.1 (96 layers, d_model 12288, 96 heads, n_ctx 2048).
# "megatron-*": Narayanan et al. 2021 Table 1 (sequence 2048, vocabulary 51,200).
# "megatron-22b" and "mt-nlg-530b": Korthikanti et al. 2022 Table 3.
# Llama 2: Touvron et al. 2023 (SwiGLU, RoPE, untied embeddings; 70B uses GQA with 8 KV heads).
MODELS: dict[str, TransformerSpec] = {
    m.name: m
    for m in (
        _gpt("gpt3-175b", 96, 12288, 96),
        _gpt("megatron-1.7b", 24, 2304, 24),
        _gpt("megatron-3.6b", 30, 3072, 32),
        _gpt("megatron-7.5b", 36, 4096, 32),
        _gpt("megatron-18b", 40, 6144, 48),
        _gpt("megatron-39b", 48, 8192, 64),
        _gpt("megatron-76b", 60, 10240, 80),
        _gpt("megatron-145b", 80, 12288, 96),
        _gpt("megatron-310b", 96, 16384, 128),
        _gpt("megatron-530b", 105, 20480, 128),
        _gpt("megatron-1t", 128, 25600, 160),
        _gpt("megatron-22b", 48, 6144, 64),
        _gpt("mt-nlg-530b", 105, 20480, 128),
        TransformerSpec(
            "llama2-7b",
            32,
            4096,
            32,
            vocab=32000,
            seq=4096,
            ffn=11008,
            gated_mlp=True,
            learned_pos_emb=False,
            tied_embeddings=False,
        ),
        TransformerSpec(
            "llama2-70b",
            80,
            8192,
            64,
            vocab=32000,
            seq=4096,
            kv_heads=8,
            ffn=28672,
            gated_mlp=True,
            learned_pos_emb=False,
            tied_embeddings=False,
        ),
        # Mixtral-8x7B (Jiang et al. 2024): 32 layers, 4096, 8 experts, top-2, GQA 8.
        TransformerSpec(
            "mixtral-8x7b",
            32,
            4096,
            32,
            vocab=32000,
            seq=4096,
            kv_heads=8,
            ffn=14336,
            gated_mlp=True,
            experts=8,
            top_k=2,
            learned_pos_emb=False,
            tied_embeddings=False,
        ),
    )
}


def model(name: str) -> TransformerSpec:
    """The model preset called exactly ``name``; ValueError lists the known ones."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name]
