"""Mixed precision: per-op-class numerics, autocast training with fp32 master weights, the
seed's per-op precision policy, and the seed's "fp16 forward, bf16 backward" as a negative
example.

Shape legend: ``M``/``K``/``N`` matmul dims, ``B`` batch, ``C`` channels, ``S`` spatial side,
``R`` rows, ``W`` row width, ``T`` tokens.

Formats (IEEE 754; NVIDIA Ampere whitepaper for TF32; Kalamkar et al. 2019 for BF16): stored
mantissa bits and unit roundoff ``u = 2^-(p)``: fp32 23 bits (u = 6e-8), TF32 10 (4.9e-4),
fp16 10 (4.9e-4, max 65504), bf16 7 (3.9e-3, fp32's range). A matmul whose inputs are rounded
to ``u`` and accumulated in fp32 has a relative (Frobenius) error of about ``√2·u`` — bf16
about 0.5%, fp16/TF32 about 0.07% — so the seed 002 table's "BF16 < 0.1% loss" cannot hold
per operation while "TF32 < 0.3%" is loose. TF32 exists only on NVIDIA tensor cores; on a
CPU :func:`round_to_tf32` emulates its input rounding (round-to-nearest-even to 10 bits,
then fp32 arithmetic), which gives its error but not its speed.

Training (Micikevicius et al. 2018, "Mixed Precision Training"): weights, optimiser state
and the update stay fp32 ("master weights"); ``torch.autocast`` runs matmul-like ops in the
low-precision format; fp16 needs dynamic loss scaling (``torch.amp.GradScaler``) because small
gradients underflow below 6e-8, bf16 does not. :func:`train_losses` runs N steps in each
format on the LM from the same seed and data, so loss curves can be compared with fp64.

What the seeds got wrong:

* 001 §2.1 "FP16 forward to speed up compute, BF16 backward to avoid underflow": the
  backward's dtype follows the forward in autocast; forcing bf16 into the backward
  (:func:`fp16_forward_bf16_backward`, built here with a custom autograd function) rounds
  gradients to 7 bits — less accurate than fp16 with loss scaling, which already prevents the
  underflow — and buys no speed: fp16 and bf16 share one tensor-core peak (312 TFLOP/s on
  A100). The fp16 forward keeps fp16's overflow risk above 65504.
* 002 §2.2 ``precision_policy={'matmul': 'bf16', 'conv': 'tf32', 'activation': 'fp16'}``:
  built as :class:`PrecisionPolicy` applied by :func:`policy_mode` (a ``TorchFunctionMode``
  that casts each op's floating inputs to its class's dtype), it adds a cast at every op
  boundary where the class changes and can overflow when bf16 values above 65504 enter an
  fp16 activation (:func:`policy_overflow`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from workloads.lm.config import LMConfig
from workloads.lm.data import random_windows
from workloads.lm.model import LM


class Precision(StrEnum):
    FP64 = "fp64"
    FP32 = "fp32"
    TF32 = "tf32"
    BF16 = "bf16"
    FP16 = "fp16"
    INT8 = "int8"


class OpClass(StrEnum):
    MATMUL = "matmul"
    CONV = "conv"
    ACTIVATION = "activation"
    NORM = "norm"


TORCH_DTYPE = {
    Precision.FP64: torch.float64,
    Precision.FP32: torch.float32,
    Precision.TF32: torch.float32,
    Precision.BF16: torch.bfloat16,
    Precision.FP16: torch.float16,
}
UNIT_ROUNDOFF = {  # 2^-(stored mantissa bits + 1)
    Precision.FP64: 2.0**-53,
    Precision.FP32: 2.0**-24,
    Precision.TF32: 2.0**-11,
    Precision.BF16: 2.0**-8,
    Precision.FP16: 2.0**-11,
    Precision.INT8: 2.0**-8,  # half a step of a 127-level symmetric grid, relative to the max
}


def round_to_tf32(x: torch.Tensor) -> torch.Tensor:
    """fp32 ``x`` rounded to TF32 (10 stored mantissa bits, round-to-nearest-even)."""
    bits = x.float().contiguous().view(torch.int32)
    lsb = (bits >> 13) & 1
    rounded = (bits + 0x0FFF + lsb) & ~0x1FFF
    return rounded.view(torch.float32)


# --- one op class in one format ----------------------------------------------------------------

OP_SIZES: Mapping[str, Mapping[OpClass, tuple[int, ...]]] = {
    "tiny": {
        OpClass.MATMUL: (64, 64, 64),
        OpClass.CONV: (1, 8, 8),
        OpClass.ACTIVATION: (64, 256),
        OpClass.NORM: (64, 256),
    },
    "cpu": {
        OpClass.MATMUL: (512, 512, 512),
        OpClass.CONV: (2, 64, 28),
        OpClass.ACTIVATION: (1024, 4096),
        OpClass.NORM: (1024, 4096),
    },
    "gpu": {  # 4096³ matmul; ResNet-50 conv2_x shapes at batch 32; 64M-element activations
        OpClass.MATMUL: (4096, 4096, 4096),
        OpClass.CONV: (32, 64, 56),
        OpClass.ACTIVATION: (16384, 4096),
        OpClass.NORM: (16384, 4096),
    },
}


def op_inputs(op: OpClass, size: str, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Seeded fp32 inputs of op class ``op`` at ``size`` (see :data:`OP_SIZES`)."""
    gen = torch.Generator().manual_seed(seed)
    dims = OP_SIZES[size][OpClass(op)]
    if op is OpClass.MATMUL:
        m, k, n = dims
        return torch.randn(m, k, generator=gen), torch.randn(k, n, generator=gen)
    if op is OpClass.CONV:
        b, c, s = dims  # a 3×3, C -> C convolution (ResNet basic block shape)
        return torch.randn(b, c, s, s, generator=gen), torch.randn(c, c, 3, 3, generator=gen) / 24
    return (torch.randn(*dims, generator=gen),)


def _quantize_int8(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 along ``dim`` (per row or column): values and fp32 scales."""
    scale = x.abs().amax(dim=dim, keepdim=True).clamp_min(1e-12) / 127.0
    return torch.round(x / scale).clamp(-127, 127).to(torch.int8), scale


def int8_matmul(a_MK: torch.Tensor, b_KN: torch.Tensor) -> torch.Tensor:
    """Per-row × per-column symmetric int8 matmul with int32 accumulation (``torch._int_mm``)."""
    qa, sa = _quantize_int8(a_MK, dim=1)
    qb, sb = _quantize_int8(b_KN, dim=0)
    return torch._int_mm(qa, qb).float() * sa * sb


def op_fn(op: OpClass, precision: Precision, inputs: tuple[torch.Tensor, ...]) -> Callable:
    """A zero-argument callable computing ``op`` in ``precision`` on ``inputs`` (inputs are cast
    once, outside the callable, so a timer sees the op alone)."""
    precision, op = Precision(precision), OpClass(op)
    if precision is Precision.INT8:
        if op is not OpClass.MATMUL:
            raise ValueError(f"int8 is implemented for matmul only, not {op.value}")
        a, b = inputs
        qa, sa = _quantize_int8(a, 1)
        qb, sb = _quantize_int8(b, 0)
        return lambda: torch._int_mm(qa, qb).float() * sa * sb
    dtype = TORCH_DTYPE[precision]
    tf32_op = op in (OpClass.MATMUL, OpClass.CONV)  # TF32 changes only tensor-core ops
    if precision is Precision.TF32 and tf32_op and inputs[0].device.type == "cpu":
        cast = tuple(round_to_tf32(t) for t in inputs)  # emulated: TF32 rounding, fp32 maths
    else:
        cast = tuple(t.to(dtype) for t in inputs)
    if op is OpClass.MATMUL:
        fn = lambda: cast[0] @ cast[1]  # noqa: E731
    elif op is OpClass.CONV:
        fn = lambda: F.conv2d(cast[0], cast[1], padding=1)  # noqa: E731
    elif op is OpClass.ACTIVATION:
        return lambda: F.gelu(cast[0])
    else:
        return lambda: F.layer_norm(cast[0], cast[0].shape[-1:])
    if inputs[0].device.type != "cuda" or precision not in (Precision.FP32, Precision.TF32):
        return fn
    # on CUDA, fp32 means TF32 off (cuDNN convolutions default to TF32) and tf32 means on

    def with_flags():
        with precision_context(precision):
            return fn()

    return with_flags


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    """``rel_fro``: ‖out − ref‖/‖ref‖ (Frobenius); ``max_abs``; ``nonfinite`` count."""
    diff = out.double() - ref.double()
    finite = torch.isfinite(diff)
    return {
        "rel_fro": float(diff[finite].norm() / ref.double().norm()),
        "max_abs": float(diff[finite].abs().max()) if finite.any() else float("inf"),
        "nonfinite": float((~finite).sum()),
    }


def op_error(op: OpClass, precision: Precision, size: str = "tiny", seed: int = 0):
    """Error of ``op`` in ``precision`` against the same op in fp64 on the same inputs."""
    inputs = op_inputs(op, size, seed)
    ref = op_fn(op, Precision.FP64, inputs)()
    return relative_error(op_fn(op, precision, inputs)(), ref)


# --- training with autocast and fp32 master weights ------------------------------------------


@contextlib.contextmanager
def precision_context(precision: Precision, device: str = "cpu") -> Iterator[None]:
    """Autocast for bf16/fp16; TF32 matmuls and convs on CUDA for tf32; nothing for fp32/64."""
    precision = Precision(precision)
    if precision in (Precision.BF16, Precision.FP16):
        with torch.autocast(device_type=device.split(":")[0], dtype=TORCH_DTYPE[precision]):
            yield
        return
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = precision is Precision.TF32
    torch.backends.cudnn.allow_tf32 = precision is Precision.TF32
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


@dataclass
class Trainer:
    """One LM, its AdamW, a loss scaler (fp16 only) and a step in one format.

    The model and optimiser stay fp32 (fp64 for the reference), so every format updates fp32
    master weights; ``step(x, y)`` returns the unscaled loss.
    """

    model: LM
    precision: Precision
    device: str = "cpu"
    lr: float = 1e-3

    def __post_init__(self) -> None:
        self.precision = Precision(self.precision)
        if self.precision is Precision.INT8:
            raise ValueError("int8 training is not supported; int8 is an inference format")
        if self.precision is Precision.FP64:
            self.model = self.model.double()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=0.0)
        enabled = self.precision is Precision.FP16
        self.scaler = torch.amp.GradScaler(self.device.split(":")[0], enabled=enabled)

    def step(self, x_BT: torch.Tensor, y_BT: torch.Tensor) -> float:
        self.opt.zero_grad(set_to_none=True)
        with precision_context(self.precision, self.device):
            _, loss = self.model(x_BT, y_BT)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        return float(loss.detach())


def train_losses(
    cfg: LMConfig,
    precision: Precision,
    tokens: torch.Tensor,
    steps: int,
    batch: int,
    seq_len: int,
    seed: int = 0,
    device: str = "cpu",
) -> list[float]:
    """Losses of ``steps`` AdamW steps from the same init and batches in every format."""
    torch.manual_seed(seed)
    trainer = Trainer(LM(cfg).to(device), precision, device)
    gen = torch.Generator().manual_seed(seed + 1)
    losses = []
    for _ in range(steps):
        x, y = random_windows(tokens, batch, seq_len, gen)
        losses.append(trainer.step(x.to(device), y.to(device)))
    return losses


# --- the seed's per-op policy ----------------------------------------------------------------


@dataclass(frozen=True)
class PrecisionPolicy:
    """Format per op class (seed 002 §2.2's ``precision_policy``); unlisted classes stay fp32."""

    matmul: Precision = Precision.FP32
    conv: Precision = Precision.FP32
    activation: Precision = Precision.FP32
    norm: Precision = Precision.FP32

    def __post_init__(self) -> None:
        for f in fields(self):
            value = Precision(getattr(self, f.name))
            if value is Precision.INT8:
                raise ValueError(f"policy {f.name}=int8 is not supported (inference only)")
            object.__setattr__(self, f.name, value)

    @classmethod
    def parse(cls, mapping: Mapping[str, str]) -> PrecisionPolicy:
        """From the seed's dict form; an unknown key or format is a ValueError naming it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(f"unknown op class(es) {unknown}; known: {sorted(known)}")
        return cls(**{k: Precision(v) for k, v in mapping.items()})


SEED_POLICY = {"matmul": "bf16", "conv": "tf32", "activation": "fp16"}

_OP_CLASS_OF: dict[Callable, OpClass] = {
    F.linear: OpClass.MATMUL,
    torch.matmul: OpClass.MATMUL,
    torch.Tensor.__matmul__: OpClass.MATMUL,
    torch.bmm: OpClass.MATMUL,
    F.scaled_dot_product_attention: OpClass.MATMUL,
    F.conv1d: OpClass.CONV,
    F.conv2d: OpClass.CONV,
    F.gelu: OpClass.ACTIVATION,
    F.silu: OpClass.ACTIVATION,
    F.relu: OpClass.ACTIVATION,
    F.layer_norm: OpClass.NORM,
}


class policy_mode(TorchFunctionMode):  # noqa: N801 - used like a function: `with policy_mode(p):`
    """Cast every floating tensor argument of a classified op to its class's dtype.

    ``casts`` counts the tensors whose dtype changed (the cast overhead the policy adds).
    TF32 on a CPU computes in fp32 (there is no TF32 unit); on CUDA it enables TF32.
    """

    def __init__(self, policy: PrecisionPolicy) -> None:
        super().__init__()
        self.policy = policy
        self.casts = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        op = _OP_CLASS_OF.get(func)
        if op is None:
            return func(*args, **kwargs)
        dtype = TORCH_DTYPE[getattr(self.policy, op.value)]
        args = tuple(self._cast(a, dtype) for a in args)
        kwargs = {k: self._cast(v, dtype) for k, v in kwargs.items()}
        return func(*args, **kwargs)

    def _cast(self, value, dtype: torch.dtype):
        if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != dtype:
            self.casts += 1
            return value.to(dtype)
        return value


def policy_overflow(magnitude: float = 1e5) -> dict[str, float]:
    """A bf16 matmul producing values of ``magnitude`` feeding an fp16 activation, under the
    seed's policy: count of non-finite outputs (fp16's largest finite value is 65504)."""
    policy = PrecisionPolicy.parse(SEED_POLICY)
    x = torch.full((4, 8), magnitude / 8)
    w = torch.eye(8) * 1.0
    with policy_mode(policy) as mode:
        y = F.gelu(F.linear(x, w) * 8)
    return {"nonfinite": float((~torch.isfinite(y)).sum()), "elements": float(y.numel()),
            "casts": float(mode.casts)}  # fmt: skip


# --- the seed's "fp16 forward, bf16 backward" --------------------------------------------------


class _Fp16FwdBf16Bwd(torch.autograd.Function):
    """``y = x Wᵀ`` computed in fp16; its gradients computed in bf16 (seed 001 §2.1)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        y = F.linear(x.half(), weight.half(), None if bias is None else bias.half())
        return y.to(x.dtype)

    @staticmethod
    def backward(ctx, grad_y):
        x, weight = ctx.saved_tensors
        g = grad_y.bfloat16()
        grad_x = (g @ weight.bfloat16()).to(x.dtype)
        grad_w = (g.flatten(0, -2).T @ x.bfloat16().flatten(0, -2)).to(weight.dtype)
        grad_b = g.flatten(0, -2).sum(0).to(weight.dtype) if ctx.has_bias else None
        return grad_x, grad_w, grad_b


class fp16_forward_bf16_backward(TorchFunctionMode):  # noqa: N801 - used like a function
    """Every ``F.linear`` runs its forward in fp16 and its backward in bf16."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.linear:
            x, weight = args[0], args[1]
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            return _Fp16FwdBf16Bwd.apply(x, weight, bias)
        return func(*args, **kwargs)


def gradient_errors(
    cfg: LMConfig, tokens: torch.Tensor, batch: int, seq_len: int, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Relative error of the parameter gradient (all parameters concatenated) against fp64 for
    fp32, bf16 autocast, fp16 autocast with loss scaling (scale 2^16, divided out), and the
    seed's fp16-forward/bf16-backward; plus the fraction of gradient elements that are zero
    in fp16 without scaling but not in fp64 (underflow)."""
    torch.manual_seed(seed)
    base = LM(cfg)
    x, y = random_windows(tokens, batch, seq_len, torch.Generator().manual_seed(seed + 1))

    def grads(model: LM, ctx, scale: float = 1.0) -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        with ctx:
            _, loss = model(x, y)
        (loss * scale).backward()
        return torch.cat([p.grad.double().flatten() / scale for p in model.parameters()])

    ref = grads(_copy(base).double(), contextlib.nullcontext())
    out = {
        "fp32": grads(_copy(base), contextlib.nullcontext()),
        "bf16": grads(_copy(base), precision_context(Precision.BF16)),
        "fp16-scaled": grads(_copy(base), precision_context(Precision.FP16), scale=2.0**16),
        "fp16-unscaled": grads(_copy(base), precision_context(Precision.FP16)),
        "fp16-fwd-bf16-bwd": grads(_copy(base), fp16_forward_bf16_backward()),
    }
    result = {name: relative_error(g, ref) for name, g in out.items()}
    nonzero = ref != 0
    for name, g in out.items():
        result[name]["zero_fraction"] = float(((g == 0) & nonzero).sum() / nonzero.sum())
    return result


def _copy(model: LM) -> LM:
    clone = LM(model.cfg)
    clone.load_state_dict(model.state_dict())
    return clone
