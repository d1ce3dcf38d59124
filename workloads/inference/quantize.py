"""Quantisation of a built model, as functions that swap its ``nn.Linear`` layers.

Shape legend: ``O`` output features, ``I`` input features, ``G`` groups (blocks) per row,
``S`` elements per group, ``B`` batch rows.

Formats (all symmetric, all applied to weights along the input dimension):

* **dynamic int8** — :func:`torch.ao.quantization.quantize_dynamic`: int8 weights with one
  scale per tensor, activations quantised per batch at run time, int8 GEMM in fbgemm/oneDNN.
  This is the CPU speed path the seed's "2–4× on CPU" refers to.
* **weight-only int8, per channel** — one scale per output row, ``w ≈ q · s_O``; the matmul
  runs in float on ``q`` converted on the fly and the scale is applied to the output (it
  commutes with the row), as gpt-fast's ``WeightOnlyInt8Linear`` does.
* **weight-only int4, group-wise** — rows cut into groups of ``S`` (32 by default, as GPTQ
  and gpt-fast use), one float16 scale per group, ``q ∈ [-8, 7]`` stored as ``q + 8`` two per
  byte (low nibble first). Storage is ``4 + 16/S`` bits per weight: 4.5 bits at ``S = 32``,
  i.e. 1/7.1 of FP32 — not the seed's "1/8", which ignores the scales.
* **fp4 e2m1, block-scaled (simulated)** — the OCP Microscaling (MX v1.0, 2023) MXFP4 format:
  elements are e2m1 (values ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}), 32-element blocks share an E8M0
  power-of-two scale ``2^(floor(log2 amax) − 2)`` (2 is e2m1's largest exponent); values past
  6 saturate. Codes (sign bit + 3-bit magnitude index) are packed two per byte; the matmul
  dequantises by table lookup, so this measures accuracy and bytes, not FP4 tensor-core speed.
  4.25 bits per weight = 1/7.5 of FP32.
* **convolutions** — :class:`PackedConv2d` stores a conv weight as its (O, C·kh·kw) matrix in
  any weight-only format; torch.ao's dynamic quantisation covers linears only.
* **int8 GEMM on GPU** — :func:`int8_matmul` calls ``torch._int_mm`` (int8 × int8 → int32)
  only on CUDA; elsewhere it raises and :func:`int_mm_available` says why.

Post-training rounding (PTQ, round-to-nearest) vs quantisation-aware fine-tuning (QAT):
:func:`prepare_qat` swaps linears for :class:`FakeQuantLinear`, whose forward uses the
quantised-then-dequantised weight with a straight-through estimator (Bengio et al. 2013;
Jacob et al. 2018): ``w + (fq(w) − w).detach()`` so the gradient of the rounding is taken as
the identity. :func:`convert_qat` then packs the fine-tuned weights.

The seed says INT4 "needs QAT"; group-wise round-to-nearest already loses little on LLMs
(GPTQ, Frantar et al. 2023; AWQ, Lin et al. 2024) — naive per-tensor rounding is what degrades.
:func:`fake_quantize` with ``group_size=0`` gives that per-tensor baseline.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Iterable
from enum import Enum

import torch
import torch.nn.functional as F
from torch import nn


class WeightFormat(Enum):
    INT8 = "int8"  # per output channel
    INT4 = "int4"  # group-wise
    FP4 = "fp4-e2m1"  # MXFP4 blocks, simulated


BITS = {WeightFormat.INT8: 8, WeightFormat.INT4: 4, WeightFormat.FP4: 4}
FP4_E2M1_GRID = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
FP4_EMAX = 2  # largest exponent of e2m1 (6 = 1.5 · 2^2), OCP MX v1.0 table 1
MX_BLOCK = 32
DEFAULT_GROUP = 32

# --- packing -------------------------------------------------------------------------------


def pack_nibbles(codes_OI: torch.Tensor) -> torch.Tensor:
    """uint8 codes in [0, 15], last dim even -> (O, I/2) uint8, element 2j in the low nibble."""
    if codes_OI.shape[-1] % 2:
        raise ValueError(f"need an even last dimension to pack two per byte, got {codes_OI.shape}")
    if codes_OI.numel() and (codes_OI.min() < 0 or codes_OI.max() > 15):
        raise ValueError("codes must lie in [0, 15]")
    c = codes_OI.to(torch.uint8)
    return c[..., 0::2] | (c[..., 1::2] << 4)


def unpack_nibbles(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pack_nibbles`: (O, I/2) uint8 -> (O, I) uint8 codes."""
    low, high = packed & 0x0F, packed >> 4
    return torch.stack((low, high), dim=-1).flatten(-2)


# --- formats: quantise and dequantise one weight matrix -----------------------------------


def _groups(w_OI: torch.Tensor, group_size: int) -> torch.Tensor:
    """(O, I) -> (O, G, S); ``group_size == 0`` means one group for the whole tensor."""
    o, i = w_OI.shape
    if group_size == 0:
        return w_OI.reshape(1, 1, o * i)
    if i % group_size:
        raise ValueError(f"in_features({i}) is not divisible by group_size({group_size})")
    return w_OI.reshape(o, i // group_size, group_size)


def quantize_int8_per_channel(w_OI: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8, one scale per row: returns q (O, I) int8 and scale (O,) float32."""
    scale_O = w_OI.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    q_OI = torch.clamp(torch.round(w_OI / scale_O[:, None]), -127, 127).to(torch.int8)
    return q_OI, scale_O.float()


def quantize_int4(w_OI: torch.Tensor, group_size: int = DEFAULT_GROUP):
    """Symmetric int4 (q ∈ [-8, 7], scale = amax/7 per group): returns packed (O, I/2) uint8
    and scales (O, G) float16 (G = 1 per tensor when ``group_size == 0``)."""
    w_OGS = _groups(w_OI.float(), group_size)
    scale_OG = (w_OGS.abs().amax(dim=-1) / 7.0).clamp(min=1e-8).half()
    q = torch.clamp(torch.round(w_OGS / scale_OG.float()[..., None]), -8, 7)
    codes_OI = (q + 8).to(torch.uint8).reshape(w_OI.shape)
    return pack_nibbles(codes_OI), scale_OG


def dequantize_int4(packed: torch.Tensor, scale_OG: torch.Tensor, shape, group_size: int):
    codes = unpack_nibbles(packed).reshape(shape).float() - 8.0
    return (_groups(codes, group_size) * scale_OG.float()[..., None]).reshape(shape)


def quantize_fp4(w_OI: torch.Tensor, block: int = MX_BLOCK):
    """MXFP4: returns packed codes (O, I/2) uint8 and per-block exponents (O, G) int8 with
    scale = 2^exponent. Code = sign << 3 | index into :data:`FP4_E2M1_GRID` (round to nearest)."""
    w_OGS = _groups(w_OI.float(), block)
    amax_OG = w_OGS.abs().amax(dim=-1).clamp(min=2.0**-126)
    exp_OG = (torch.floor(torch.log2(amax_OG)) - FP4_EMAX).clamp(-127, 127)
    x = (w_OGS / torch.exp2(exp_OG)[..., None]).clamp(-6.0, 6.0)
    index = (x.abs()[..., None] - FP4_E2M1_GRID).abs().argmin(dim=-1)
    codes = (index | ((x < 0).long() << 3)).to(torch.uint8).reshape(w_OI.shape)
    return pack_nibbles(codes), exp_OG.to(torch.int8)


def dequantize_fp4(packed: torch.Tensor, exp_OG: torch.Tensor, shape, block: int = MX_BLOCK):
    codes = unpack_nibbles(packed).reshape(shape).long()
    value = FP4_E2M1_GRID.to(packed.device)[codes & 7] * (1 - 2 * (codes >> 3)).float()
    return (_groups(value, block) * torch.exp2(exp_OG.float())[..., None]).reshape(shape)


def fake_quantize(w_OI: torch.Tensor, fmt: WeightFormat, group_size: int = DEFAULT_GROUP):
    """Quantise then dequantise ``w`` (float in, float out): the weight the model really sees."""
    if fmt is WeightFormat.INT8:
        q, s = quantize_int8_per_channel(w_OI)
        return q.float() * s[:, None]
    if fmt is WeightFormat.INT4:
        return dequantize_int4(*quantize_int4(w_OI, group_size), w_OI.shape, group_size)
    block = group_size or MX_BLOCK
    return dequantize_fp4(*quantize_fp4(w_OI, block), w_OI.shape, block)


def bits_per_weight(fmt: WeightFormat, group_size: int = DEFAULT_GROUP) -> float:
    """Stored bits per weight including scales: int8 8 (one 32-bit scale per row of thousands
    is negligible and not counted); int4 4 + a 16-bit scale per group; fp4 4 + an 8-bit
    exponent per block."""
    scale_bits = {WeightFormat.INT8: 0.0, WeightFormat.INT4: 16.0, WeightFormat.FP4: 8.0}[fmt]
    return BITS[fmt] + (scale_bits / group_size if group_size else 0.0)


# --- modules -------------------------------------------------------------------------------


class PackedLinear(nn.Module):
    """A linear layer whose weight is stored quantised (``fmt``) and dequantised in forward.

    Buffers: ``qweight`` (int8 (O, I) or packed uint8 (O, I/2)), ``scales`` (per row, per group
    or per-block exponents), ``bias`` (float or absent). Loads from a state dict.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool, fmt: WeightFormat,
                 group_size: int = DEFAULT_GROUP) -> None:  # fmt: skip
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.fmt, self.group_size = fmt, group_size
        if fmt is WeightFormat.INT8:
            self.register_buffer(
                "qweight", torch.zeros(out_features, in_features, dtype=torch.int8)
            )
            self.register_buffer("scales", torch.ones(out_features))
        else:
            n_groups = in_features // group_size
            scale_dtype = torch.float16 if fmt is WeightFormat.INT4 else torch.int8
            self.register_buffer(
                "qweight", torch.zeros(out_features, in_features // 2, dtype=torch.uint8)
            )
            self.register_buffer("scales", torch.zeros(out_features, n_groups, dtype=scale_dtype))
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)

    @classmethod
    def from_linear(cls, linear: nn.Linear, fmt: WeightFormat, group_size: int = DEFAULT_GROUP):
        out = cls(linear.in_features, linear.out_features, linear.bias is not None, fmt, group_size)
        return out._fill(linear.weight.detach().float(), linear.bias)

    @torch.no_grad()
    def _fill(self, w_OI: torch.Tensor, bias: torch.Tensor | None):
        if self.fmt is WeightFormat.INT8:
            q, s = quantize_int8_per_channel(w_OI)
        elif self.fmt is WeightFormat.INT4:
            q, s = quantize_int4(w_OI, self.group_size)
        else:
            q, s = quantize_fp4(w_OI, self.group_size)
        self.qweight.copy_(q)
        self.scales.copy_(s)
        if bias is not None:
            self.bias.copy_(bias.detach())
        return self

    def dequantized_weight(self) -> torch.Tensor:
        shape = (self.out_features, self.in_features)
        if self.fmt is WeightFormat.INT8:
            return self.qweight.float() * self.scales[:, None]
        if self.fmt is WeightFormat.INT4:
            return dequantize_int4(self.qweight, self.scales, shape, self.group_size)
        return dequantize_fp4(self.qweight, self.scales, shape, self.group_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fmt is WeightFormat.INT8:  # the row scale commutes with the matmul
            y = F.linear(x, self.qweight.to(x.dtype)) * self.scales.to(x.dtype)
        else:
            y = F.linear(x, self.dequantized_weight().to(x.dtype))
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, fmt={self.fmt.value}, group={self.group_size}"


class PackedConv2d(PackedLinear):
    """A conv whose weight, seen as an (O, C·kh·kw) matrix, is stored as :class:`PackedLinear`
    stores a linear's (per output channel / per group along C·kh·kw); forward dequantises and
    runs ``F.conv2d``. torch.ao's dynamic quantisation has no conv, so this is weight-only."""

    def __init__(self, conv: nn.Conv2d, fmt: WeightFormat, group_size: int = DEFAULT_GROUP) -> None:
        o, c, kh, kw = conv.weight.shape
        super().__init__(c * kh * kw, o, conv.bias is not None, fmt, group_size)
        self.weight_shape = (o, c, kh, kw)
        self.conv_args = (conv.stride, conv.padding, conv.dilation, conv.groups)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, fmt: WeightFormat, group_size: int = DEFAULT_GROUP):
        w = conv.weight.detach().float().reshape(conv.out_channels, -1)
        return cls(conv, fmt, group_size)._fill(w, conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.dequantized_weight().view(self.weight_shape).to(x.dtype)
        return F.conv2d(x, w, self.bias, *self.conv_args)


class FakeQuantLinear(nn.Linear):
    """QAT: the float weight is trained; forward uses ``fake_quantize(w)`` with a
    straight-through estimator, so the loss sees the rounding and the gradient passes it."""

    fmt: WeightFormat = WeightFormat.INT4
    group_size: int = DEFAULT_GROUP

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        w_q = w + (fake_quantize(w, self.fmt, self.group_size) - w).detach()
        return F.linear(x, w_q, self.bias)


# --- applying to a built model -------------------------------------------------------------


def quantizable_linears(model: nn.Module, skip: Iterable[str] = ("lm_head",),
                        group_size: int = 0) -> list[str]:  # fmt: skip
    """Names of the ``nn.Linear`` modules to quantise: not in ``skip`` (the LM's head shares
    its weight with the embedding, so it stays float) and, for grouped formats, whose
    ``in_features`` split into groups of ``group_size``."""
    skip = tuple(skip)
    return [
        name
        for name, m in model.named_modules()
        if type(m) in (nn.Linear, FakeQuantLinear)
        and not any(name == s or name.startswith(s + ".") for s in skip)
        and _groups_fit(m.in_features, group_size)
    ]


def quantizable_convs(model: nn.Module, group_size: int = 0) -> list[str]:
    """Names of plain ``nn.Conv2d`` modules whose ``C·kh·kw`` suits the format (see
    :func:`quantizable_linears`)."""
    return [
        name
        for name, m in model.named_modules()
        if type(m) is nn.Conv2d and _groups_fit(m.weight[0].numel(), group_size)
    ]


def _groups_fit(width: int, group_size: int) -> bool:
    """Grouped (packed) formats need an even width that splits into groups; 0 = ungrouped."""
    return group_size == 0 or (width % group_size == 0 and width % 2 == 0)


def _swap(model: nn.Module, names: Iterable[str], make) -> nn.Module:
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, make(getattr(parent, child)))
    return model


def quantize_weight_only(model: nn.Module, fmt: WeightFormat, group_size: int = DEFAULT_GROUP,
                         skip: Iterable[str] = ("lm_head",)) -> nn.Module:  # fmt: skip
    """A copy of ``model`` with its linears and convs replaced by :class:`PackedLinear` /
    :class:`PackedConv2d` of ``fmt`` (layers whose width does not split into groups stay float)."""
    group = 0 if fmt is WeightFormat.INT8 else group_size
    out = copy.deepcopy(model)
    _swap(out, quantizable_linears(model, skip, group),
          lambda lin: PackedLinear.from_linear(lin, fmt, group_size))  # fmt: skip
    return _swap(out, quantizable_convs(model, group),
                 lambda conv: PackedConv2d.from_conv(conv, fmt, group_size))  # fmt: skip


def quantize_dynamic_int8(model: nn.Module, skip: Iterable[str] = ("lm_head",)) -> nn.Module:
    """A copy of ``model`` with torch.ao dynamic int8 linears (the CPU int8 GEMM path)."""
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    spec = {name: default_dynamic_qconfig for name in quantizable_linears(model, skip)}
    with warnings.catch_warnings():  # torch.ao's deprecation notices; the API still works
        warnings.simplefilter("ignore")
        return quantize_dynamic(copy.deepcopy(model), spec, dtype=torch.qint8)


def prepare_qat(model: nn.Module, fmt: WeightFormat = WeightFormat.INT4,
                group_size: int = DEFAULT_GROUP, skip: Iterable[str] = ("lm_head",)) -> nn.Module:  # fmt: skip
    """A copy of ``model`` whose quantisable linears fake-quantise their weights (STE)."""

    def make(lin: nn.Linear) -> FakeQuantLinear:
        fq = FakeQuantLinear(lin.in_features, lin.out_features, lin.bias is not None)
        fq.load_state_dict(lin.state_dict())
        fq.fmt, fq.group_size = fmt, group_size
        return fq

    group = 0 if fmt is WeightFormat.INT8 else group_size
    return _swap(copy.deepcopy(model), quantizable_linears(model, skip, group), make)


def convert_qat(model: nn.Module) -> nn.Module:
    """Pack every :class:`FakeQuantLinear` into a :class:`PackedLinear` (same format)."""
    names = [n for n, m in model.named_modules() if isinstance(m, FakeQuantLinear)]
    return _swap(
        copy.deepcopy(model), names, lambda m: PackedLinear.from_linear(m, m.fmt, m.group_size)
    )


@torch.no_grad()
def fake_quantize_model(model: nn.Module, fmt: WeightFormat, group_size: int = DEFAULT_GROUP,
                        skip: Iterable[str] = ("lm_head",)) -> nn.Module:  # fmt: skip
    """A float copy whose quantisable weights are replaced by their round-trip values — any
    granularity, including per-tensor (``group_size=0``), for accuracy comparisons."""
    out = copy.deepcopy(model)
    group = 0 if fmt is WeightFormat.INT8 else group_size
    for name in quantizable_linears(model, skip, group) + quantizable_convs(model, group):
        w = out.get_submodule(name).weight
        w.copy_(fake_quantize(w.float().reshape(w.shape[0], -1), fmt, group_size).view_as(w))
    return out


# --- sizes and the GPU int8 GEMM -----------------------------------------------------------


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: what the model costs on disk (shared
    storages such as tied weights are written once; quantised packed params included)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(model.state_dict(), buffer)
    return buffer.tell()


def int_mm_available() -> tuple[bool, str]:
    """Whether :func:`int8_matmul` can run here, and why not."""
    if not torch.cuda.is_available():
        return False, "torch._int_mm int8 GEMM is only used on CUDA; CUDA is not available here"
    return True, f"CUDA device {torch.cuda.get_device_name()}"


def int8_matmul(a_BI: torch.Tensor, b_IO: torch.Tensor) -> torch.Tensor:
    """int8 (B, I) @ int8 (I, O) -> int32 (B, O) with ``torch._int_mm`` on CUDA (needs B > 16
    and I, O multiples of 8). Raises RuntimeError off CUDA — see :func:`int_mm_available`."""
    ok, why = int_mm_available()
    if not ok or not a_BI.is_cuda:
        raise RuntimeError(why if not ok else "int8_matmul needs CUDA tensors")
    return torch._int_mm(a_BI, b_IO)
