"""Registered workloads for recomputation, mixed precision and fusion/compilation.

Each case is a technique applied to a built LM (or LM block) and checked against its
unoptimised twin: recomputation must equal the plain step exactly (loss and every gradient);
autocast steps must agree with fp32 within low-precision tolerance; fused and compiled blocks
must equal the unfused/eager block within fp32 rounding. Sizes: ``tiny`` (tests), ``cpu``
(seconds on 2 cores), ``gpu`` (one data-centre GPU).
"""

from __future__ import annotations

import torch

from workloads.base import Case, Workload, register
from workloads.lm.config import LMConfig, preset
from workloads.lm.model import LM, flops_per_token

from . import compile as fusion
from .precision import Precision, precision_context
from .recompute import apply_recompute, sqrt_segments

LM_SIZES = {
    "tiny": {"preset": "tiny", "batch": 2, "seq_len": 32},
    "cpu": {"preset": "cpu-small", "batch": 4, "seq_len": 128},
    "gpu": {"preset": "gpt-125m", "batch": 8, "seq_len": 1024},
}
RECOMPUTE_CLAIMS = (
    "000-grad-ckpt-sqrt-n",
    "002-grad-ckpt-resnet-sqrt-n",
    "003-recompute-10pct-time-30pct-mem",
    "003-recompute-code",
    "004-grad-ckpt-recompute",
    "002-bert-large-batch-16-to-48",
)
PRECISION_CLAIMS = {
    "bf16": (
        "001-mixed-precision-30pct",
        "001-fp16-fwd-bf16-bwd",
        "002-precision-bf16-0.1pct-1.8x",
    ),
    "fp16": ("003-amp-fp16-2.3x-a100", "001-fp16-fwd-bf16-bwd", "002-precision-fp16-1pct-2.3x"),
}
FUSION_CLAIMS = ("002-op-fusion-23-to-7", "002-jit-15pct-inference")


def _lm(size: str, device: str) -> tuple[LMConfig, LM, torch.Tensor]:
    if size not in LM_SIZES:
        raise ValueError(f"unknown size {size!r}; use one of {sorted(LM_SIZES)}")
    p = LM_SIZES[size]
    cfg = preset(p["preset"])
    torch.manual_seed(0)
    model = LM(cfg).to(device)
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, cfg.vocab_size, (p["batch"], p["seq_len"]), generator=gen).to(device)
    return cfg, model, x


def _train_flops(cfg: LMConfig, x: torch.Tensor) -> float:
    return flops_per_token(cfg, x.shape[1], training=True) * x.numel()


def _step(model: LM, x: torch.Tensor, precision: Precision = Precision.FP32, device: str = "cpu"):
    def run():
        model.zero_grad(set_to_none=True)
        with precision_context(precision, device):
            _, loss = model(x, x)
        loss.backward()
        return (loss.detach().float(), *(p.grad.float() for p in model.parameters()))

    return run


def _build_recompute(size: str, device: str, dtype: str) -> Case:
    cfg, plain, x = _lm(size, device)
    _, model, _ = _lm(size, device)
    apply_recompute(model, sqrt_segments(cfg.n_layers))
    return Case(
        fn=_step(model, x),
        flops=_train_flops(cfg, x) * 4 / 3,  # one extra forward
        reference=_step(plain, x),
        params={**LM_SIZES[size], "segments": f"sqrt({cfg.n_layers})"},
        atol=1e-6,
        rtol=1e-5,
    )


def _precision_builder(precision: Precision):
    def build(size: str, device: str, dtype: str) -> Case:
        cfg, model, x = _lm(size, device)
        _, ref, _ = _lm(size, device)
        return Case(
            fn=_step(model, x, precision, device),
            flops=_train_flops(cfg, x),
            reference=_step(ref, x, Precision.FP32, device),
            params={**LM_SIZES[size], "precision": precision.value},
            atol=5e-2,
            rtol=5e-2,
        )

    return build


def _build_fused(size: str, device: str, dtype: str) -> Case:
    block, x = fusion.build_block(size, device=device)
    c, t = x.shape[-1], x.shape[1]
    flops = x.shape[0] * t * (2 * 12 * c * c + 2 * c * t)  # 4 linears (12 C²) + causal attention
    return Case(
        fn=torch.no_grad()(lambda: block(x)),
        flops=flops,
        bytes_moved=12 * c * c * 4,
        reference=torch.no_grad()(lambda: fusion.unfused_block_forward(block, x)),
        params=fusion.BLOCK_SIZES[size],
        atol=1e-4,
        rtol=1e-4,
    )


def _build_compiled(size: str, device: str, dtype: str) -> Case:
    ok, why = fusion.inductor_available()
    if not ok:
        raise ValueError(f"torch.compile cannot run here: {why}")
    block, x = fusion.build_block(size, device=device)
    compiled = fusion.compile_block(block, x)
    return Case(
        fn=torch.no_grad()(lambda: compiled.fn(x)),
        reference=torch.no_grad()(lambda: block(x)),
        params={
            **fusion.BLOCK_SIZES[size],
            "generated_kernels": compiled.generated_kernels,
            "compile_s": round(compiled.compile_s, 3),
        },  # fmt: skip
        atol=1e-4,
        rtol=1e-4,
    )


register(
    Workload(
        "training-recompute",
        RECOMPUTE_CLAIMS,
        LM_SIZES,
        _build_recompute,
        "LM train step with √L checkpointed segments vs the plain step (equal grads)",
    )
)
for _p in (Precision.BF16, Precision.FP16):
    register(
        Workload(
            f"training-amp-{_p.value}",
            PRECISION_CLAIMS[_p.value],
            LM_SIZES,
            _precision_builder(_p),
            f"LM train step under {_p.value} autocast (fp32 master weights) vs fp32",
        )
    )
register(
    Workload(
        "training-fused-block",
        FUSION_CLAIMS,
        fusion.BLOCK_SIZES,
        _build_fused,
        "LM block with fused kernels (LayerNorm, flash SDPA, GELU) vs primitive ops",
    )
)
register(
    Workload(
        "training-compiled-block",
        FUSION_CLAIMS,
        fusion.BLOCK_SIZES,
        _build_compiled,
        "torch.compile(LM block), built once, vs eager (compiles for tens of seconds)",
    )
)
