"""Registered quantisation and pruning workloads.

Quantised cases time one BERT-style FFN (``d → 4d → d``, GELU) with its linears swapped; the
reference is the obviously-correct float computation with the same rounded weights
(``fake_quantize``), except dynamic int8, whose activations are also rounded at run time, so
its reference is the fp32 FFN with a tolerance of the rounding error. Pruned cases time the
rebuilt smaller model; the reference is the unpruned model with the removed channels' activations
zeroed (channel pruning) or the weights masked by an independently sorted threshold
(magnitude pruning). FLOPs are analytic (2 per multiply-add); bytes are the weights read.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..base import Case, Workload, register
from . import prune as pr
from . import quantize as qz
from .cnn import DigitsCNN, conv_flops
from .quantize import WeightFormat

_FFN_SIZES = {
    "tiny": {"d_model": 64, "batch": 4},
    "cpu": {"d_model": 768, "batch": 128},
    "gpu": {"d_model": 4096, "batch": 1024},
}
_CNN_SIZES = {
    "tiny": {"widths": (8, 16, 32), "batch": 8, "fraction": 0.3},
    "cpu": {"widths": (16, 32, 64), "batch": 256, "fraction": 0.3},
    "gpu": {"widths": (64, 128, 256), "batch": 4096, "fraction": 0.3},
}


def _ffn(d: int) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d)).eval()


def _quant_builder(method: str):
    def build(size: str, device: str, dtype: str) -> Case:
        p = _FFN_SIZES[size]
        d, b = p["d_model"], p["batch"]
        ffn = _ffn(d)
        x = torch.randn(b, d, generator=torch.Generator().manual_seed(1))
        n_weights = 8 * d * d
        if method == "dynamic-int8":
            fast, reference, bits, tol = qz.quantize_dynamic_int8(ffn, skip=()), ffn, 8.0, 5e-2
        else:
            fmt = {"weight-only-int8": WeightFormat.INT8, "weight-only-int4": WeightFormat.INT4,
                   "fp4-e2m1": WeightFormat.FP4}[method]  # fmt: skip
            fast = qz.quantize_weight_only(ffn, fmt, skip=())
            reference = qz.fake_quantize_model(ffn, fmt, skip=())
            bits, tol = qz.bits_per_weight(fmt), 1e-4
        return Case(
            fn=torch.no_grad()(lambda: fast(x)),
            flops=2.0 * b * n_weights,
            bytes_moved=n_weights * bits / 8,
            reference=torch.no_grad()(lambda: reference(x)),
            params={**p, "method": method, "bits_per_weight": bits},
            atol=tol,
            rtol=tol,
        )

    return build


def _channel_builder(size: str, device: str, dtype: str) -> Case:
    p = _CNN_SIZES[size]
    torch.manual_seed(0)
    model = DigitsCNN(p["widths"]).eval()
    for m in model.modules():  # non-trivial BN statistics, so the rebuilt BN matters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    small, keep = pr.prune_cnn_channels(model, p["fraction"])
    x = torch.rand(p["batch"], 1, 8, 8, generator=torch.Generator().manual_seed(1))

    @torch.no_grad()
    def reference():
        with pr.channel_masks_forward(model, keep):
            return model(x)

    return Case(
        fn=torch.no_grad()(lambda: small(x)),
        flops=float(conv_flops(small.widths) * p["batch"]),
        bytes_moved=4.0 * pr.count_params(small),
        reference=reference,
        params={**p, "widths": list(p["widths"]), "pruned_widths": list(small.widths)},
    )


def _magnitude_builder(size: str, device: str, dtype: str) -> Case:
    p = _CNN_SIZES[size]
    torch.manual_seed(0)
    model = DigitsCNN(p["widths"]).eval()
    dense = copy.deepcopy(model)
    pr.global_magnitude_prune(model, p["fraction"])
    x = torch.rand(p["batch"], 1, 8, 8, generator=torch.Generator().manual_seed(1))
    weights = list(pr.prunable_weights(dense).values())
    ordered = torch.cat([w.detach().abs().flatten() for w in weights]).sort().values
    threshold = ordered[int(round(p["fraction"] * ordered.numel())) - 1]
    with torch.no_grad():
        for w in weights:
            w.mul_(w.abs() > threshold)
    return Case(
        fn=torch.no_grad()(lambda: model(x)),
        flops=float(conv_flops(p["widths"]) * p["batch"]),  # dense kernels: zeros still computed
        bytes_moved=4.0 * pr.count_params(model),
        reference=torch.no_grad()(lambda: dense(x)),
        params={**p, "widths": list(p["widths"]), **pr.sparsity_report(model)},
    )


def _ffn_prune_builder(size: str, device: str, dtype: str) -> Case:
    from workloads.lm import LM, preset

    name = {"tiny": "tiny", "cpu": "cpu-small", "gpu": "gpt-125m"}[size]
    cfg = preset(name)
    torch.manual_seed(0)
    model = LM(cfg).eval()
    small, keep = pr.prune_ffn_channels(model, 0.3)
    x = torch.randint(
        0, 256, (2, min(64, cfg.block_size)), generator=torch.Generator().manual_seed(1)
    )

    @torch.no_grad()
    def reference():  # zero the removed hidden units before `down`
        mlps = [m for m in model.modules() if hasattr(m, "up") and hasattr(m, "down")]
        hooks = []
        for mlp, idx in zip(mlps, keep, strict=True):
            mask = torch.zeros(mlp.down.in_features)
            mask[idx] = 1.0
            hooks.append(mlp.down.register_forward_pre_hook(lambda _m, a, k=mask: (a[0] * k,)))
        try:
            return model(x)[0]
        finally:
            for h in hooks:
                h.remove()

    return Case(
        fn=torch.no_grad()(lambda: small(x)[0]),
        flops=float(2 * pr.count_params(small) * x.numel()),
        bytes_moved=4.0 * pr.count_params(small),
        reference=reference,
        params={"preset": name, "fraction": 0.3, "params": pr.count_params(small)},
        atol=1e-4,
        rtol=1e-4,
    )


_QUANT = {
    "dynamic-int8": ("001-int8-cpu-2-4x", "003-qat-int8-4x-throughput"),
    "weight-only-int8": ("001-int8-cpu-2-4x",),
    "weight-only-int4": ("001-int4-needs-qat",),
    "fp4-e2m1": ("001-int4-needs-qat",),
}
for _method, _claims in _QUANT.items():
    register(
        Workload(
            name=f"quant-{_method}",
            claim_ids=_claims,
            sizes=_FFN_SIZES,
            build=_quant_builder(_method),
            description=f"BERT-style FFN with {_method} linears vs float (d 64 / 768 / 4096)",
        )
    )

register(
    Workload(
        name="prune-l1-channels-cnn",
        claim_ids=("001-structured-prune-30pct-flops", "003-l1-channel-prune-30pct-1pct"),
        sizes=_CNN_SIZES,
        build=_channel_builder,
        description="digits CNN with 30% of channels removed by filter L1, rebuilt smaller",
    )
)
register(
    Workload(
        name="prune-magnitude-cnn",
        claim_ids=("002-resnet50-prune-42pct-98pct",),
        sizes=_CNN_SIZES,
        build=_magnitude_builder,
        description="digits CNN with 30% of weights zeroed by global magnitude (dense kernels)",
    )
)
register(
    Workload(
        name="prune-l1-ffn-lm",
        claim_ids=("001-structured-prune-30pct-flops",),
        sizes={
            "tiny": {"preset": "tiny"},
            "cpu": {"preset": "cpu-small"},
            "gpu": {"preset": "gpt-125m"},
        },
        build=_ffn_prune_builder,
        description="byte-level LM with 30% of FFN hidden units removed by L1, rebuilt smaller",
    )
)
