"""Per-token decode latency at batch 1: the LM and an encoder-decoder translation model, with a KV
cache, measured on the CPU and *estimated* for a GPU from bytes and FLOPs.

Shape legend: ``B`` batch, ``T`` target tokens, ``S`` source tokens, ``C`` model width, ``H``
heads, ``D = C / H`` head dim, ``V`` vocabulary, ``L`` cached tokens.

Claims served: seed 002 §4.2 "end-to-end translation latency under 150 ms" (no model, sentence
length or hardware given) and seed 004 §2.3 "on an A100 inference latency falls to 8.3 ms, 37%
faster than the baseline" (no model, batch or baseline given; 8.3 ms is what one decode step of
a ~7B-parameter FP16 model takes, since at batch 1 every step reads all weights once).

* **KV-cached decoding of the LM** is applied to a built :class:`workloads.lm.model.LM` by
  functions (:func:`lm_prefill`, :func:`lm_decode_step`), never by editing the model: each step
  runs the model's own modules on the newest token and attends over cached keys and values.
  :func:`lm_greedy` with ``cached=False`` recomputes the whole prefix each step — the reference
  the cached path must reproduce token for token. Dense-attention layers only.
* **Translation model**: :class:`Seq2Seq`, a pre-norm Transformer encoder-decoder (Vaswani et
  al. 2017; the ``transformer-base`` preset has their base sizes: 6 + 6 layers, d_model 512,
  8 heads, FFN 2048, a shared 32k vocabulary). :func:`translate` encodes once, caches each
  decoder layer's cross-attention K/V and its self-attention K/V, and decodes greedily.
* **GPU estimate** (:func:`decode_step_estimate`): at batch 1 a decode step must read every
  weight, so ``t ≥ bytes / HBM bandwidth``; it must also do ``2·N`` FLOPs, and each kernel
  launch costs a few microseconds. The estimate is ``max(bytes/BW, FLOPs/peak) + kernels ·
  launch_s`` with peaks from :mod:`simulators.hardware`. It is a lower-bound model, labelled as
  an estimate wherever it is reported — not a measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from simulators.hardware import GPUSpec

# Host-side cost of launching one CUDA kernel: 2.5–5 µs is the usual figure (NVIDIA CUDA C++
# Best Practices Guide, "kernel launch overhead"; torch.compile/CUDA-graphs docs). An assumption,
# stated where the estimate is reported.
LAUNCH_S = 4e-6

Cache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: (k_BHLD, v_BHLD)


# --- the LM, decoded with a KV cache by functions ------------------------------------------------


def _check_dense(lm) -> None:
    from workloads.lm.attention import AttnKind

    kinds = {b.attn.spec.kind for b in lm.blocks}
    if kinds != {AttnKind.DENSE}:
        raise ValueError(
            f"KV-cached decoding supports dense attention only, got {sorted(k.value for k in kinds)}"
        )


def _lm_layers(lm, x_BTC: torch.Tensor, cache: Cache, causal: bool) -> torch.Tensor:
    b, t, c = x_BTC.shape
    for i, block in enumerate(lm.blocks):
        attn = block.attn
        q, k, v = (
            attn.qkv(block.ln_1(x_BTC))
            .view(b, t, 3, attn.n_heads, c // attn.n_heads)
            .permute(2, 0, 3, 1, 4)
        )
        if i < len(cache):
            k = torch.cat([cache[i][0], k], dim=2)
            v = torch.cat([cache[i][1], v], dim=2)
            cache[i] = (k, v)
        else:
            cache.append((k, v))
        y_BHTD = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        x_BTC = x_BTC + attn.proj(y_BHTD.transpose(1, 2).reshape(b, t, c))
        x_BTC = x_BTC + block.ffn(block.ln_2(x_BTC))
    return lm.lm_head(lm.ln_f(x_BTC))


@torch.no_grad()
def lm_prefill(lm, idx_BT: torch.Tensor) -> tuple[torch.Tensor, Cache]:
    """Run the prompt once; return the last position's logits (B, V) and the filled cache."""
    _check_dense(lm)
    pos_T = torch.arange(idx_BT.shape[1], device=idx_BT.device)
    cache: Cache = []
    logits = _lm_layers(lm, lm.wte(idx_BT) + lm.wpe(pos_T), cache, causal=True)
    return logits[:, -1], cache


@torch.no_grad()
def lm_decode_step(lm, token_B: torch.Tensor, cache: Cache) -> torch.Tensor:
    """One token per sequence at position ``len(cache)``; extends ``cache``; returns (B, V)."""
    pos = cache[0][0].shape[2]
    if pos >= lm.cfg.block_size:
        raise ValueError(f"position {pos} exceeds block_size={lm.cfg.block_size}")
    x = lm.wte(token_B[:, None]) + lm.wpe(torch.tensor([pos], device=token_B.device))
    return _lm_layers(lm, x, cache, causal=False)[:, -1]


@torch.no_grad()
def lm_greedy(lm, prompt_BT: torch.Tensor, n_new: int, cached: bool = True) -> torch.Tensor:
    """Greedy continuation (B, n_new); ``cached=False`` is the recompute-everything reference."""
    if not cached:
        idx = prompt_BT
        for _ in range(n_new):
            idx = torch.cat([idx, lm(idx)[0][:, -1].argmax(-1, keepdim=True)], dim=1)
        return idx[:, prompt_BT.shape[1] :]
    logits, cache = lm_prefill(lm, prompt_BT)
    out = [logits.argmax(-1)]
    for _ in range(n_new - 1):
        out.append(lm_decode_step(lm, out[-1], cache).argmax(-1))
    return torch.stack(out, dim=1)


# --- an encoder-decoder translation model --------------------------------------------------------


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Transformer encoder-decoder sizes; ``vocab_size`` is shared by source and target."""

    vocab_size: int = 32_000
    d_model: int = 512
    n_heads: int = 8
    d_ff: int = 2048
    n_encoder: int = 6
    n_decoder: int = 6
    max_len: int = 256

    def __post_init__(self) -> None:
        for name in (
            "vocab_size",
            "d_model",
            "n_heads",
            "d_ff",
            "n_encoder",
            "n_decoder",
            "max_len",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model({self.d_model}) is not divisible by n_heads({self.n_heads})")


SEQ2SEQ_PRESETS: dict[str, Seq2SeqConfig] = {
    "tiny": Seq2SeqConfig(
        vocab_size=64, d_model=32, n_heads=2, d_ff=64, n_encoder=2, n_decoder=2, max_len=64
    ),
    # Vaswani et al. 2017, table 3 "base": N=6, d_model=512, d_ff=2048, h=8; ~37k shared BPE vocab
    "transformer-base": Seq2SeqConfig(),
}


def seq2seq_preset(name: str) -> Seq2SeqConfig:
    if name not in SEQ2SEQ_PRESETS:
        raise ValueError(f"unknown seq2seq preset {name!r}; known: {', '.join(SEQ2SEQ_PRESETS)}")
    return SEQ2SEQ_PRESETS[name]


class Attention(nn.Module):
    """Multi-head attention (B, T, C) x (B, S, C) -> (B, T, C) with separate q/k/v projections."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.q, self.k, self.v, self.o = (nn.Linear(d_model, d_model, bias=False) for _ in range(4))

    def heads(self, x_BTC: torch.Tensor) -> torch.Tensor:
        b, t, c = x_BTC.shape
        return x_BTC.view(b, t, self.n_heads, c // self.n_heads).transpose(1, 2)

    def attend(self, q_BTC, k_BHSD, v_BHSD, causal: bool = False) -> torch.Tensor:
        b, t, c = q_BTC.shape
        y = F.scaled_dot_product_attention(
            self.heads(self.q(q_BTC)), k_BHSD, v_BHSD, is_causal=causal
        )
        return self.o(y.transpose(1, 2).reshape(b, t, c))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg.d_model, cfg.n_heads)
        self.ffn = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff), nn.ReLU(), nn.Linear(cfg.d_ff, cfg.d_model)
        )

    def forward(self, x_BSC: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x_BSC)
        x_BSC = x_BSC + self.attn.attend(
            h, self.attn.heads(self.attn.k(h)), self.attn.heads(self.attn.v(h))
        )
        return x_BSC + self.ffn(self.ln2(x_BSC))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.self_attn = Attention(cfg.d_model, cfg.n_heads)
        self.cross_attn = Attention(cfg.d_model, cfg.n_heads)
        self.ffn = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff), nn.ReLU(), nn.Linear(cfg.d_ff, cfg.d_model)
        )

    def forward(self, x_BTC, memory_kv, self_cache: list | None, causal: bool) -> torch.Tensor:
        """``self_cache``: ``[k, v]`` of earlier positions, extended in place (None: no cache)."""
        h = self.ln1(x_BTC)
        k, v = self.self_attn.heads(self.self_attn.k(h)), self.self_attn.heads(self.self_attn.v(h))
        if self_cache is not None:
            if self_cache:
                k, v = torch.cat([self_cache[0], k], 2), torch.cat([self_cache[1], v], 2)
            self_cache[:] = [k, v]
        x_BTC = x_BTC + self.self_attn.attend(h, k, v, causal=causal)
        x_BTC = x_BTC + self.cross_attn.attend(self.ln2(x_BTC), *memory_kv)
        return x_BTC + self.ffn(self.ln3(x_BTC))


class Seq2Seq(nn.Module):
    """Encoder-decoder with tied embeddings and learned positions."""

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_encoder))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_decoder))
        self.ln_enc, self.ln_dec = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.normal_(p, 0.0, 0.02)

    def embed(self, idx_BT: torch.Tensor, start: int = 0) -> torch.Tensor:
        pos = torch.arange(start, start + idx_BT.shape[1], device=idx_BT.device)
        return self.emb(idx_BT) * math.sqrt(self.cfg.d_model) + self.pos(pos)

    def encode(self, src_BS: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Encoder output projected to each decoder layer's cross-attention (k, v), computed once."""
        x = self.embed(src_BS)
        for layer in self.encoder:
            x = layer(x)
        mem = self.ln_enc(x)
        return [
            (d.cross_attn.heads(d.cross_attn.k(mem)), d.cross_attn.heads(d.cross_attn.v(mem)))
            for d in self.decoder
        ]

    def decode(self, tgt_BT, memory_kv, caches: list | None = None, start: int = 0) -> torch.Tensor:
        """Logits (B, T, V). With ``caches`` (one list per layer) only new tokens are passed."""
        x = self.embed(tgt_BT, start)
        for i, layer in enumerate(self.decoder):
            x = layer(x, memory_kv[i], None if caches is None else caches[i], causal=caches is None)
        return F.linear(self.ln_dec(x), self.emb.weight)


@torch.no_grad()
def translate(
    model: Seq2Seq, src_BS: torch.Tensor, n_tokens: int, bos: int = 1, cached: bool = True
) -> torch.Tensor:
    """Greedy decoding of exactly ``n_tokens`` target tokens (B, n_tokens) (no EOS: the weights
    are random, so the length is fixed to what the claim describes)."""
    if n_tokens + 1 > model.cfg.max_len:
        raise ValueError(f"n_tokens({n_tokens}) + 1 exceeds max_len({model.cfg.max_len})")
    memory_kv = model.encode(src_BS)
    tokens = torch.full((src_BS.shape[0], 1), bos, dtype=torch.long, device=src_BS.device)
    caches = [[] for _ in model.decoder] if cached else None
    for step in range(n_tokens):
        if cached:
            logits = model.decode(tokens[:, -1:], memory_kv, caches, start=step)
        else:
            logits = model.decode(tokens, memory_kv)
        tokens = torch.cat([tokens, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return tokens[:, 1:]


def seq2seq_decode_counts(cfg: Seq2SeqConfig, src_len: int, n_tokens: int) -> dict[str, float]:
    """Analytic parameters, FLOPs and weight bytes (per element = 1) of one translation.

    Encoder: ``2·N_enc`` FLOPs per source token; decoder: ``2·N_dec`` per target token plus the
    output projection ``2·C·V``; attention scores ignored (short sequences)."""
    c, f = cfg.d_model, cfg.d_ff
    enc_layer = 4 * c * c + 2 * c * f
    dec_layer = 8 * c * c + 2 * c * f
    n_enc, n_dec, head = cfg.n_encoder * enc_layer, cfg.n_decoder * dec_layer, c * cfg.vocab_size
    return {
        "params": n_enc + n_dec + head + cfg.max_len * c,
        "flops": 2.0 * n_enc * src_len + 2.0 * (n_dec + head) * n_tokens,
        "decoder_weights_per_step": float(n_dec + head),
        "encoder_weights": float(n_enc),
        "kernels_per_step": float(cfg.n_decoder * 16 + 4),  # ~16 ops per pre-norm layer
    }


# --- GPU estimate -------------------------------------------------------------------------------


def decode_step_estimate(
    weight_bytes: float,
    flops: float,
    gpu: GPUSpec,
    dtype: str = "fp16",
    kernels: float = 0.0,
    launch_s: float = LAUNCH_S,
) -> dict[str, float]:
    """ESTIMATE of one batch-1 decode step on ``gpu`` (seconds): the bandwidth bound
    ``bytes / HBM``, the compute bound ``FLOPs / peak``, the launch cost and their sum
    ``max(bounds) + launches``. Achieved bandwidth in practice is 60–90% of the datasheet's."""
    bw_s = weight_bytes / gpu.hbm_bandwidth_bytes_per_s
    compute_s = flops / gpu.peak_flops(dtype)
    launches = kernels * launch_s
    return {
        "bandwidth_bound_s": bw_s,
        "compute_bound_s": compute_s,
        "launch_s": launches,
        "estimate_s": max(bw_s, compute_s) + launches,
    }
