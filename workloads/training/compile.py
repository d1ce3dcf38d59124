"""Operator fusion and graph compilation of one LM block: unfused ops, fused kernels, and
``torch.compile``, with op/kernel counts and equal outputs.

Shape legend: ``B`` batch, ``T`` tokens, ``C`` model width, ``H`` heads, ``D`` head dim.

Three versions of the same pre-norm block (:class:`workloads.lm.model.Block`, same weights):

* **unfused** (:func:`unfused_block_forward`): every step as a primitive ATen op — LayerNorm as
  mean / subtract / variance / rsqrt / scale / shift, attention as matmul / scale / mask /
  softmax / matmul, exact GELU as ``0.5·x·(1 + erf(x/√2))``. Each op writes its intermediate
  to memory and the next one reads it back.
* **fused kernels, eager** (the model as written): ``F.layer_norm``, fused
  ``scaled_dot_product_attention`` (flash kernel on CPU and GPU), ``F.gelu``: library kernels
  that fuse the chains above (what a hand-written "super-operator" is).
* **compiled** (:func:`compile_block`): ``torch.compile`` (TorchInductor, Ansel et al. 2024)
  traces the block once and generates fused kernels for the pointwise/reduction chains
  between the matmuls, which stay library calls. The compiled module is built *once*; seed 002
  §1's ``@deepseek.jit`` example instead constructs ``MultiHeadAttention`` and
  ``FeedForward`` inside the decorated function, so every call builds new modules with new
  random weights (:func:`seed_transformer_block`): outputs change from call to call and the
  construction cost is paid each time — no compiler can keep "accuracy unchanged" there.

Counts: :func:`count_ops` counts the ATen ops an eager call dispatches (views excluded: they
launch nothing). For the compiled block, :func:`compile_block` reads TorchInductor's count of
the kernels it generated; matmul-class ops (mm, bmm, attention) remain extern library calls,
so the compiled block launches about ``generated + extern`` kernels. Compiling needs a C++
compiler on CPU (Triton on GPU) and takes tens of seconds; :func:`inductor_available` says
whether it can run here.
"""

from __future__ import annotations

import math
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from workloads.lm.config import LMConfig
from workloads.lm.model import Block

BLOCK_SIZES = {
    "tiny": {"d_model": 32, "n_heads": 2, "batch": 2, "seq_len": 16},
    "cpu": {"d_model": 512, "n_heads": 8, "batch": 4, "seq_len": 128},  # seed 002: d 512, FFN ×4
    "gpu": {"d_model": 512, "n_heads": 8, "batch": 32, "seq_len": 512},
}
NON_KERNEL_OPS = ("_unsafe_view", "detach")  # metadata only: launch no kernel
EXTERN_OPS = ("mm", "addmm", "bmm", "matmul", "scaled_dot_product", "convolution")


def build_block(size: str, seed: int = 0, device: str = "cpu") -> tuple[Block, torch.Tensor]:
    """The LM block at ``size`` (FFN 4·C, no dropout, eval mode) and a seeded input (B, T, C)."""
    if size not in BLOCK_SIZES:
        raise ValueError(f"unknown size {size!r}; use one of {sorted(BLOCK_SIZES)}")
    p = BLOCK_SIZES[size]
    c = p["d_model"]
    cfg = LMConfig(block_size=p["seq_len"], n_layers=1, n_heads=p["n_heads"], d_model=c, d_ff=4 * c)
    torch.manual_seed(seed)
    block = Block(cfg, 0).to(device).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    x_BTC = torch.randn(p["batch"], p["seq_len"], c, generator=gen).to(device)
    return block, x_BTC


def _layer_norm(x: torch.Tensor, ln: nn.LayerNorm) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    centred = x - mean
    var = (centred * centred).mean(-1, keepdim=True)
    return centred * torch.rsqrt(var + ln.eps) * ln.weight + ln.bias


def unfused_block_forward(block: Block, x_BTC: torch.Tensor) -> torch.Tensor:
    """``block(x)`` with every fused kernel spelt out as primitive ops (same maths, same weights)."""
    b, t, c = x_BTC.shape
    h = block.attn.n_heads
    qkv = _layer_norm(x_BTC, block.ln_1) @ block.attn.qkv.weight.T
    q, k, v = qkv.view(b, t, 3, h, c // h).permute(2, 0, 3, 1, 4)
    scores_BHTT = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(c // h))
    causal_TT = torch.ones(t, t, dtype=torch.bool, device=x_BTC.device).tril()
    scores_BHTT = scores_BHTT.masked_fill(~causal_TT, float("-inf"))
    scores_BHTT = torch.exp(scores_BHTT - scores_BHTT.amax(-1, keepdim=True))
    probs_BHTT = scores_BHTT / scores_BHTT.sum(-1, keepdim=True)
    y_BTC = (probs_BHTT @ v).transpose(1, 2).reshape(b, t, c)
    x_BTC = x_BTC + y_BTC @ block.attn.proj.weight.T
    u = _layer_norm(x_BTC, block.ln_2) @ block.ffn.up.weight.T
    u = 0.5 * u * (1.0 + torch.erf(u / math.sqrt(2.0)))
    return x_BTC + u @ block.ffn.down.weight.T


class _OpCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not func.is_view and func.overloadpacket.__name__ not in NON_KERNEL_OPS:
            self.ops[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def count_ops(fn: Callable[[], object]) -> Counter[str]:
    """ATen ops (views excluded) that one call of ``fn`` dispatches, by op name."""
    with torch.no_grad(), _OpCounter() as counter:
        fn()
    return counter.ops


def extern_count(ops: Counter[str]) -> int:
    """How many of ``ops`` are matmul-class library calls a compiler leaves unfused."""
    return sum(n for name, n in ops.items() if name.lstrip("_").startswith(EXTERN_OPS))


def inductor_available() -> tuple[bool, str]:
    """Whether TorchInductor can compile here; the reason when it cannot."""
    if not hasattr(torch, "compile"):
        return False, f"torch {torch.__version__} has no torch.compile"
    if torch.cuda.is_available():
        return True, "CUDA (Triton)"
    compiler = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if compiler is None:
        return False, "no C++ compiler on PATH (TorchInductor's CPU backend needs one)"
    return True, f"CPU (C++ compiler {compiler})"


@dataclass
class Compiled:
    """A block compiled once; ``generated_kernels`` counted by TorchInductor while compiling."""

    fn: Callable[[torch.Tensor], torch.Tensor]
    generated_kernels: int
    compile_s: float


def compile_block(block: Block, x_BTC: torch.Tensor, mode: str | None = None) -> Compiled:
    """``torch.compile(block)`` built once and run once on ``x_BTC`` (which compiles it)."""
    import time

    from torch._inductor import metrics

    metrics.reset()
    compiled = torch.compile(block, mode=mode)
    start = time.perf_counter()
    with torch.no_grad():
        compiled(x_BTC)
    return Compiled(compiled, int(metrics.generated_kernel_count), time.perf_counter() - start)


# --- the seed's @deepseek.jit example --------------------------------------------------------


class MultiHeadAttention(nn.Module):
    """The module the seed names: self-attention over (B, T, C), 8 heads."""

    def __init__(self, d_model: int = 512, n_heads: int = 8) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(d_model, n_heads, batch_first=True)

    def forward(self, x_BTC: torch.Tensor) -> torch.Tensor:
        return self.mha(x_BTC, x_BTC, x_BTC, need_weights=False)[0]


class FeedForward(nn.Module):
    """The seed's ``FeedForward(dim_expand=4)``: C -> 4C -> C with GELU (C from the input)."""

    def __init__(self, dim_expand: int = 4, d_model: int = 512) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, dim_expand * d_model),
            nn.GELU(),
            nn.Linear(dim_expand * d_model, d_model),
        )

    def forward(self, x_BTC: torch.Tensor) -> torch.Tensor:
        return self.net(x_BTC)


def seed_transformer_block(x):
    """Seed 002 §1's decorated function, as written (without the nonexistent decorator)."""
    attn = MultiHeadAttention(d_model=512)
    ffn = FeedForward(dim_expand=4)
    return ffn(attn(x))


def seed_block_built_once() -> Callable[[torch.Tensor], torch.Tensor]:
    """The fix: build the modules once and reuse them on every call."""
    attn, ffn = MultiHeadAttention(d_model=512), FeedForward(dim_expand=4)
    return lambda x: ffn(attn(x))
