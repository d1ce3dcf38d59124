"""Fused attention kernels against the materialised (math) one, through SDPA's backends.

Shape legend: ``B`` batch, ``H`` heads, ``T`` tokens, ``D`` head dim.

Seed 003 §3.2 claims FlashAttention-2 makes attention 3x faster. PyTorch's
``scaled_dot_product_attention`` carries FlashAttention-2 (Dao 2023) as its ``FLASH`` backend
(on CUDA, and a CPU flash kernel), the memory-efficient kernel (Rabe & Staats 2021; xFormers)
as ``EFFICIENT``, cuDNN's as ``CUDNN``, and the materialised ``MATH`` backend, which writes
the B·H·T×T scores like the pre-FlashAttention implementation. The same call under different
backends gives the fair comparison, forward and forward + backward.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from ._checks import check_self_attention


class Backend(Enum):
    MATH = "math"
    FLASH = "flash"
    EFFICIENT = "efficient"
    CUDNN = "cudnn"


_TORCH_BACKEND = {
    Backend.MATH: SDPBackend.MATH,
    Backend.FLASH: SDPBackend.FLASH_ATTENTION,
    Backend.EFFICIENT: SDPBackend.EFFICIENT_ATTENTION,
    Backend.CUDNN: SDPBackend.CUDNN_ATTENTION,
}


def sdpa_with_backend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: Backend, *, causal: bool = True
) -> torch.Tensor:
    """Causal SDPA restricted to one backend: (B, H, T, D). Raises RuntimeError if it cannot run."""
    check_self_attention(q, k, v)
    with sdpa_kernel(_TORCH_BACKEND[Backend(backend)]):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def available_backends(
    device: str = "cpu", dtype: torch.dtype = torch.float32, head_dim: int = 64
) -> list[Backend]:
    """The backends that run a small causal call with this device, dtype and head dim."""
    q = torch.randn(1, 1, 16, head_dim, device=device, dtype=dtype)
    found = []
    for backend in Backend:
        try:
            sdpa_with_backend(q, q, q, backend)
        except RuntimeError:
            continue
        found.append(backend)
    return found


def forward_backward(
    attn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    grad_out: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run ``attn`` forward and backward: (out, dq, dk, dv). Inputs need ``requires_grad``."""
    out = attn(q, k, v)
    dq, dk, dv = torch.autograd.grad(out, (q, k, v), grad_out)
    return out.detach(), dq, dk, dv
