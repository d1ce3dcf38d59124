"""Quantisation formats against float references: packing, round-trip error bounds, modules,
QAT's straight-through gradient, sizes, and the GPU int8 path's refusal off CUDA."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from workloads.inference import quantize as qz
from workloads.inference.quantize import WeightFormat


@pytest.fixture(autouse=True)
def _one_thread():
    """Training small tensors on an oversubscribed 2-core machine is far faster on one thread."""
    from workloads.inference.zoo import torch_threads

    with torch_threads(1):
        yield


def _w(o: int = 16, i: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(o, i, generator=torch.Generator().manual_seed(seed))


def test_pack_unpack_round_trip():
    codes = torch.randint(0, 16, (5, 12), generator=torch.Generator().manual_seed(0))
    packed = qz.pack_nibbles(codes)
    assert packed.shape == (5, 6) and packed.dtype == torch.uint8
    assert torch.equal(qz.unpack_nibbles(packed), codes.to(torch.uint8))
    assert packed[0, 0] == codes[0, 0] | (codes[0, 1] << 4)  # low nibble first


def test_pack_rejects_odd_width_and_out_of_range():
    with pytest.raises(ValueError, match="even"):
        qz.pack_nibbles(torch.zeros(2, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 15\]"):
        qz.pack_nibbles(torch.full((2, 2), 16))


def test_int8_per_channel_error_within_half_step():
    w = _w()
    q, s = qz.quantize_int8_per_channel(w)
    err = (q.float() * s[:, None] - w).abs()
    assert q.dtype == torch.int8 and s.shape == (16,)
    assert torch.all(err <= s[:, None] / 2 + 1e-7)


@pytest.mark.parametrize("group", [16, 32, 0])
def test_int4_round_trip_error_bounded_by_half_step(group):
    w = _w()
    packed, scales = qz.quantize_int4(w, group)
    assert packed.shape == (16, 32)
    back = qz.dequantize_int4(packed, scales, w.shape, group)
    step = scales.float()[..., None].expand(qz._groups(w, group).shape).reshape(w.shape)
    assert torch.all((back - w).abs() <= step / 2 + step * 1e-2)  # fp16 scale rounding


def test_groupwise_int4_beats_per_tensor():
    w = _w()
    w[0, 0] = 40.0  # one outlier ruins a per-tensor scale
    err_group = (qz.fake_quantize(w, WeightFormat.INT4, 32) - w).pow(2).mean()
    err_tensor = (qz.fake_quantize(w, WeightFormat.INT4, 0) - w).pow(2).mean()
    assert err_group < err_tensor / 10


def test_fp4_values_are_on_the_e2m1_grid_times_power_of_two_scales():
    w = _w()
    packed, exp = qz.quantize_fp4(w, 32)
    back = qz.dequantize_fp4(packed, exp, w.shape, 32)
    mags = (back.reshape(16, 2, 32) / torch.exp2(exp.float())[..., None]).abs()
    assert torch.isin(mags, qz.FP4_E2M1_GRID).all()
    # a value on the grid times the scale survives exactly
    exact = torch.tensor([[6.0, -3.0, 0.5, 1.5] * 8])
    assert torch.equal(qz.fake_quantize(exact, WeightFormat.FP4, 32), exact)
    rel = (back - w).norm() / w.norm()
    assert 0.03 < rel < 0.2  # 4-bit floats: a few percent, not exact, not garbage


@pytest.mark.parametrize("fmt", list(WeightFormat))
def test_packed_linear_matches_dequantized_reference(fmt):
    lin = nn.Linear(64, 24)
    nn.init.normal_(lin.weight, generator=torch.Generator().manual_seed(1))
    packed = qz.PackedLinear.from_linear(lin, fmt, 32)
    x = torch.randn(5, 64, generator=torch.Generator().manual_seed(2))
    ref = x @ qz.fake_quantize(lin.weight.detach(), fmt, 32).T + lin.bias.detach()
    torch.testing.assert_close(packed(x), ref, atol=1e-4, rtol=1e-4)
    fresh = qz.PackedLinear(64, 24, True, fmt, 32)
    fresh.load_state_dict(packed.state_dict())
    torch.testing.assert_close(fresh(x), packed(x))


def test_weight_only_model_skips_head_and_shrinks_bytes():
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 64))
    model.lm_head = nn.Linear(64, 8)
    q4 = qz.quantize_weight_only(model, WeightFormat.INT4)
    assert isinstance(q4[0], qz.PackedLinear) and type(q4.lm_head) is nn.Linear
    assert type(model[0]) is nn.Linear  # the original is untouched
    assert qz.state_dict_bytes(q4) < qz.state_dict_bytes(model) / 4


def test_bits_per_weight_counts_scales():
    assert qz.bits_per_weight(WeightFormat.INT4, 32) == 4.5
    assert qz.bits_per_weight(WeightFormat.FP4, 32) == 4.25
    assert 32 / qz.bits_per_weight(WeightFormat.INT4, 32) < 8  # "1/8 of FP32" ignores scales


def test_dynamic_int8_close_to_fp32():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 16)).eval()
    q = qz.quantize_dynamic_int8(model, skip=())
    x = torch.randn(8, 64)
    ref = model(x)
    err = (q(x) - ref).abs().max() / ref.abs().max()
    assert 0 < err < 0.05


def test_qat_straight_through_gradient_and_convert():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 32))
    qat = qz.prepare_qat(model, WeightFormat.INT4, 32, skip=())
    x = torch.randn(4, 32)
    qat(x).sum().backward()
    # STE: d/dw of sum(x @ fq(w).T) is the plain linear gradient x.sum(0) per row
    torch.testing.assert_close(qat[0].weight.grad, x.sum(0).expand(32, 32))
    packed = qz.convert_qat(qat)
    assert isinstance(packed[0], qz.PackedLinear)
    torch.testing.assert_close(packed(x), qat(x), atol=1e-5, rtol=1e-5)


def test_int8_matmul_refuses_without_cuda():
    ok, why = qz.int_mm_available()
    if ok:
        pytest.skip("CUDA present")
    assert "CUDA" in why
    with pytest.raises(RuntimeError, match="CUDA"):
        qz.int8_matmul(torch.zeros(32, 32, dtype=torch.int8), torch.zeros(32, 32, dtype=torch.int8))


@pytest.mark.gpu
def test_int8_matmul_matches_integer_reference_on_cuda():
    a = torch.randint(-128, 127, (32, 64), dtype=torch.int8).cuda()
    b = torch.randint(-128, 127, (64, 32), dtype=torch.int8).cuda()
    expected = (a.cpu().long() @ b.cpu().long()).to(torch.int32)
    assert torch.equal(qz.int8_matmul(a, b).cpu(), expected)


@pytest.mark.parametrize(
    "name",
    ["quant-dynamic-int8", "quant-weight-only-int8", "quant-weight-only-int4", "quant-fp4-e2m1",
     "prune-l1-channels-cnn", "prune-magnitude-cnn", "prune-l1-ffn-lm"],
)  # fmt: skip
def test_registered_workloads_match_their_references(name):
    import workloads.inference.registry_quant  # noqa: F401 - registers
    from workloads.base import _REGISTRY  # this module's workloads, not every module's

    workload = _REGISTRY[name]
    case = workload.build("tiny", "cpu", "float32")
    torch.testing.assert_close(case.fn(), case.reference(), atol=case.atol, rtol=case.rtol)
    assert workload.claim_ids and case.flops > 0


def _fake_timer(fn):
    fn()  # runs the callable once; a constant time makes every ratio exactly 1
    return [1.0, 1.0, 1.0]


def test_quantization_rows_report_sizes_and_losses():
    from workloads.inference.comparisons import quantization_rows

    rows = {r["variant"]: r for r in quantization_rows("lm-tiny", _fake_timer, train_steps=5)}
    assert set(rows) == {"fp32", "dynamic-int8", "weight-only-int8", "weight-only-int4-g32",
                         "fp4-e2m1-b32"}  # fmt: skip
    assert all(r["speedup"] == 1.0 for r in rows.values())
    assert rows["fp32"]["bytes_ratio"] == 1.0 and rows["fp32"]["val_loss_delta_pct"] == 0.0
    assert rows["weight-only-int4-g32"]["bytes"] < rows["weight-only-int8"]["bytes"]
    assert all(abs(r["val_loss_delta_pct"]) < 5 for r in rows.values())


def test_ptq_vs_qat_rows_use_the_right_references():
    from workloads.inference.comparisons import int4_ptq_vs_qat_rows

    rows = {r["variant"]: r for r in int4_ptq_vs_qat_rows("lm-tiny", qat_steps=3, train_steps=5)}
    assert rows["qat-int4-g32"]["reference"] == "fp32-finetuned"
    assert rows["ptq-int4-g32"]["reference"] == "fp32"
    assert rows["fp32"]["val_loss_delta_pct"] == 0.0
    assert rows["ptq-int4-g32"]["bits_per_weight"] == 4.5


@pytest.mark.parametrize("fmt", list(WeightFormat))
def test_packed_conv_matches_dequantized_reference(fmt):
    from workloads.inference.cnn import DigitsCNN

    torch.manual_seed(0)
    model = DigitsCNN((8, 16, 32)).eval()  # C·9 = 9, 72, 144: int8 takes all; 16-groups fit 144
    q = qz.quantize_weight_only(model, fmt, group_size=16)
    convs = [n for n, m in q.named_modules() if isinstance(m, qz.PackedConv2d)]
    assert convs == (["features.0", "features.3", "features.7"] if fmt is WeightFormat.INT8
                     else ["features.7"])  # fmt: skip
    x = torch.rand(3, 1, 8, 8)
    ref = qz.fake_quantize_model(model, fmt, group_size=16)
    torch.testing.assert_close(q(x), ref(x), atol=1e-4, rtol=1e-4)
    fresh = qz.quantize_weight_only(DigitsCNN((8, 16, 32)).eval(), fmt, group_size=16)
    fresh.load_state_dict(q.state_dict())
    torch.testing.assert_close(fresh(x), q(x))
