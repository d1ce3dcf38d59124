"""The quantisation and pruning comparisons, each against its unoptimised twin in one run.

Every function returns a list of plain dicts (rows) with documented keys, ready to become
records; timing is done by a ``timer`` passed in — ``timer(fn) -> samples`` (seconds per call,
several samples) — so this module stays free of the measuring harness. Speed ratios are
``baseline median / variant median`` measured back to back in the same process.

Row keys shared by all: ``variant``, ``model``. Quality keys: ``val_loss`` (nats per byte for
the LM, per image for the CNN), ``accuracy`` (CNN), ``val_loss_delta_pct`` (relative to the
stated reference row). Size keys: ``bytes`` (serialized state dict), ``params`` (stored),
``flops`` (per forward of the timed batch, counted).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from . import prune as pr
from . import quantize as qz
from . import zoo
from .quantize import WeightFormat

Timer = Callable[[Callable[[], Any]], Sequence[float]]


def _median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def time_pair(timer: Timer, base: Callable, variant: Callable, rounds: int = 2):
    """One discarded round (first calls pay for allocation and thread start-up), then A and B
    interleaved ``rounds`` times so load on a shared machine hits both alike; all samples."""
    timer(base)
    timer(variant)
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        a += list(timer(base))
        b += list(timer(variant))
    return a, b


# --- quantisation --------------------------------------------------------------------------


def quantized_variants(
    model: nn.Module, group_size: int = qz.DEFAULT_GROUP
) -> dict[str, nn.Module]:
    """fp32 and every quantised twin of ``model`` (skipping the tied LM head)."""
    return {
        "fp32": model,
        "dynamic-int8": qz.quantize_dynamic_int8(model),
        "weight-only-int8": qz.quantize_weight_only(model, WeightFormat.INT8),
        f"weight-only-int4-g{group_size}": qz.quantize_weight_only(
            model, WeightFormat.INT4, group_size
        ),
        f"fp4-e2m1-b{qz.MX_BLOCK}": qz.quantize_weight_only(model, WeightFormat.FP4, qz.MX_BLOCK),
    }


def quantization_rows(name: str, timer: Timer, batch: int = 8, train_steps: int | None = None,
                      variants: Sequence[str] | None = None) -> list[dict]:  # fmt: skip
    """Built-in model ``name`` (trained) vs its quantised twins: bytes, speed, val loss.
    Keys: bytes, bytes_ratio (fp32 / variant), time_s, samples, speedup (fp32 / variant),
    val_loss, val_loss_delta_pct (vs fp32), accuracy (CNN)."""
    model, spec = zoo.build(name, train_steps)  # trains on first use: outside no_grad
    with torch.no_grad():
        return _quantization_rows(name, model, spec, timer, batch, variants)


def _quantization_rows(name, model, spec, timer, batch, variants) -> list[dict]:
    x = zoo.example_input(spec, batch)
    models = quantized_variants(model)
    chosen = variants or list(models)
    ref_quality = zoo.evaluate(model, spec)
    ref_bytes = qz.state_dict_bytes(model)
    rows = []
    for variant in chosen:
        m = models[variant]
        if variant == "fp32":
            base_s = var_s = list(timer(lambda: model(x)))
        else:
            base_s, var_s = time_pair(timer, lambda: model(x), lambda m=m: m(x))
        quality = zoo.evaluate(m, spec)
        size = qz.state_dict_bytes(m)
        rows.append({
            "model": name, "variant": variant, "batch": batch, "bytes": size,
            "bytes_ratio": ref_bytes / size, "time_s": _median(var_s), "samples": var_s,
            "speedup": _median(base_s) / _median(var_s), **quality,
            "val_loss_delta_pct": 100 * (quality["val_loss"] / ref_quality["val_loss"] - 1),
        })  # fmt: skip
    return rows


def bert_shaped_lm(n_layers: int = 2, seq_len: int = 128) -> nn.Module:
    """An untrained LM with BERT-base widths (d 768, 12 heads, FFN 3072) — speed does not depend
    on the weights' values, so it needs no training."""
    from workloads.lm import LM, LMConfig

    torch.manual_seed(0)
    cfg = LMConfig(block_size=seq_len, n_layers=n_layers, n_heads=12, d_model=768, d_ff=3072)
    return LM(cfg).eval()


@torch.no_grad()
def int8_cpu_speed_rows(timer: Timer, batches: Sequence[int] = (1, 8), seq_len: int = 128,
                        n_layers: int = 2) -> list[dict]:  # fmt: skip
    """fp32 vs dynamic int8 (and weight-only int8) forward of a BERT-base-shaped stack at
    each batch, sequence ``seq_len``. Keys: batch, seq_len, n_layers, variant, time_s,
    samples, speedup (fp32 / variant), max_abs_logit_error."""
    model = bert_shaped_lm(n_layers, seq_len)
    twins = {
        "dynamic-int8": qz.quantize_dynamic_int8(model),
        "weight-only-int8": qz.quantize_weight_only(model, WeightFormat.INT8),
    }
    rows = []
    gen = torch.Generator().manual_seed(0)
    for batch in batches:
        x = torch.randint(0, 256, (batch, seq_len), generator=gen)
        ref = model(x)[0]
        for variant, m in twins.items():
            base_s, var_s = time_pair(timer, lambda x=x: model(x), lambda m=m, x=x: m(x))
            rows.append({
                "model": "bert-base-shaped-lm", "variant": variant, "batch": batch,
                "seq_len": seq_len, "n_layers": n_layers, "time_s": _median(var_s),
                "fp32_time_s": _median(base_s), "samples": var_s, "fp32_samples": base_s,
                "speedup": _median(base_s) / _median(var_s),
                "max_abs_logit_error": float((m(x)[0] - ref).abs().max()),
            })  # fmt: skip
    return rows


def int4_ptq_vs_qat_rows(name: str = "lm-tiny", qat_steps: int = 100, train_steps: int | None = None,
                         group_size: int = qz.DEFAULT_GROUP) -> list[dict]:  # fmt: skip
    """Int4 by post-training rounding (per tensor, group-wise) and fp4, vs quantisation-aware
    fine-tuning for ``qat_steps`` (STE), on a trained LM. The fair reference for QAT is the
    fp32 model fine-tuned the same steps (``fp32-finetuned``); PTQ rows compare with ``fp32``.
    Keys: variant, val_loss, reference, val_loss_delta_pct (vs that reference), bits_per_weight."""
    model, spec = zoo.build(name, train_steps)
    fp32 = zoo.evaluate(model, spec)["val_loss"]
    tuned = zoo.finetune(zoo.build(name, train_steps)[0], spec, qat_steps)
    tuned_loss = zoo.evaluate(tuned, spec)["val_loss"]
    qat = qz.prepare_qat(model, WeightFormat.INT4, group_size)
    qat = qz.convert_qat(zoo.finetune(qat, spec, qat_steps))
    int4 = WeightFormat.INT4
    cases = [
        ("fp32", model, "fp32", 32.0),
        ("fp32-finetuned", tuned, "fp32", 32.0),
        ("ptq-int4-per-tensor", qz.fake_quantize_model(model, int4, 0), "fp32", 4.0),
        (f"ptq-int4-g{group_size}", qz.fake_quantize_model(model, int4, group_size), "fp32",
         qz.bits_per_weight(int4, group_size)),
        (f"ptq-fp4-e2m1-b{qz.MX_BLOCK}", qz.fake_quantize_model(model, WeightFormat.FP4, qz.MX_BLOCK),
         "fp32", qz.bits_per_weight(WeightFormat.FP4, qz.MX_BLOCK)),
        (f"ptq-int4-g{group_size}-after-finetune", qz.fake_quantize_model(tuned, int4, group_size),
         "fp32-finetuned", qz.bits_per_weight(int4, group_size)),
        (f"qat-int4-g{group_size}", qat, "fp32-finetuned", qz.bits_per_weight(int4, group_size)),
    ]  # fmt: skip
    refs = {"fp32": fp32, "fp32-finetuned": tuned_loss}
    rows = []
    for variant, m, ref, bits in cases:
        loss = zoo.evaluate(m, spec)["val_loss"]
        rows.append({
            "model": name, "variant": variant, "val_loss": loss, "reference": ref,
            "val_loss_delta_pct": 100 * (loss / refs[ref] - 1), "bits_per_weight": bits,
            "qat_steps": qat_steps, "group_size": group_size,
        })  # fmt: skip
    return rows


# --- pruning -------------------------------------------------------------------------------


def magnitude_prune_rows(name: str = "cnn-digits", amount: float = 0.3, rounds: int = 2,
                         finetune_steps: int = 2, train_steps: int | None = None) -> list[dict]:  # fmt: skip
    """Progressive global magnitude pruning, ``amount`` of the survivors per round, each round
    followed by a masked fine-tune. Keys: round, expected_sparsity ((1−a)^r formula),
    sparsity (measured), stored_params, nonzero_params, param_reduction_stored_pct (dense
    storage: 0), param_reduction_nonzero_pct, dense_bytes, csr_bytes_prunable, val_loss,
    accuracy, retained_pct (accuracy or val-loss ratio vs round 0)."""
    model, spec = zoo.build(name, train_steps)
    base = pr.sparsity_report(model)
    q0 = zoo.evaluate(model, spec)
    rows, masks = [], None
    for r in range(rounds + 1):
        if r:
            masks = pr.global_magnitude_prune(model, amount, masks)
            zoo.finetune(
                model, spec, finetune_steps, after_step=lambda m, k=masks: pr.apply_masks(m, k)
            )
        rep, quality = pr.sparsity_report(model), zoo.evaluate(model, spec)
        key = "accuracy" if "accuracy" in quality else "val_loss"
        retained = quality[key] / q0[key] if key == "accuracy" else q0[key] / quality[key]
        rows.append({
            "model": name, "variant": f"magnitude-round-{r}", "round": r, "amount": amount,
            "expected_sparsity": pr.progressive_sparsity(amount, r), **rep, **quality,
            "param_reduction_stored_pct": 100 * (1 - rep["stored_params"] / base["stored_params"]),
            "param_reduction_nonzero_pct": 100 * (1 - rep["nonzero_params"] / base["nonzero_params"]),
            "retained_pct": 100 * retained, "finetune_steps": finetune_steps,
        })  # fmt: skip
    return rows


def cnn_channel_prune_rows(timer: Timer, fractions: Sequence[float] = (0.3,),
                           criterion: pr.Criterion = pr.Criterion.FILTER_L1,
                           finetune_epochs: int = 2, train_epochs: int | None = None,
                           bn_l1: float = 0.0, batch: int = 256) -> list[dict]:  # fmt: skip
    """L1 channel pruning of the digits CNN, rebuilt smaller, fine-tuned. ``bn_l1`` > 0 trains
    the base with the Network Slimming penalty first (criterion BN_GAMMA). Keys: fraction,
    channels_removed_pct, widths, params, flops (per image, counted), flop_reduction_pct,
    speedup (dense / pruned, batch ``batch``), accuracy_before_ft, accuracy, accuracy_loss_pts
    (base − pruned-and-fine-tuned, percentage points), val_loss."""
    from .cnn import CNNTrainConfig, DigitsCNN, train_cnn

    if bn_l1:
        spec = zoo.spec_for("cnn-digits", train_epochs)
        torch.manual_seed(spec["seed"])
        tc = CNNTrainConfig(epochs=spec["train_steps"], lr=spec["lr"], bn_l1=bn_l1)
        model = train_cnn(DigitsCNN(tuple(spec["widths"])), zoo.digits(), tc)
    else:
        model, spec = zoo.build("cnn-digits", train_epochs)
    x = zoo.example_input(spec, batch)
    base_q, base_flops = zoo.evaluate(model, spec), pr.count_flops(model, x[:1])
    rows = []
    for fraction in fractions:
        small, _ = pr.prune_cnn_channels(model, fraction, criterion)
        before = zoo.evaluate(small, spec)
        zoo.finetune(small, spec, finetune_epochs, lr=1e-3)
        quality, flops = zoo.evaluate(small, spec), pr.count_flops(small, x[:1])
        with torch.no_grad():
            base_s, var_s = time_pair(timer, lambda: model(x), lambda s=small: s(x))
        removed = 1 - sum(small.widths) / sum(model.widths)
        rows.append({
            "model": "cnn-digits", "variant": f"l1-channels-{fraction:g}", "fraction": fraction,
            "criterion": criterion.value, "bn_l1": bn_l1, "widths": list(small.widths),
            "channels_removed_pct": 100 * removed, "params": pr.count_params(small),
            "base_params": pr.count_params(model), "flops": flops, "base_flops": base_flops,
            "flop_reduction_pct": 100 * (1 - flops / base_flops),
            "time_s": _median(var_s), "samples": var_s, "base_time_s": _median(base_s),
            "speedup": _median(base_s) / _median(var_s), "batch": batch,
            "base_accuracy": base_q["accuracy"], "accuracy_before_ft": before["accuracy"],
            "accuracy": quality["accuracy"], "val_loss": quality["val_loss"],
            "accuracy_loss_pts": 100 * (base_q["accuracy"] - quality["accuracy"]),
            "finetune_epochs": finetune_epochs,
        })  # fmt: skip
    return rows


def lm_ffn_prune_rows(timer: Timer, name: str = "lm-tiny", fraction: float = 0.3,
                      finetune_steps: int = 50, train_steps: int | None = None, batch: int = 8) -> list[dict]:  # fmt: skip
    """L1 pruning of the LM's FFN hidden units, rebuilt smaller, fine-tuned; the dense twin is
    fine-tuned the same steps. Keys: params, flops (per forward of the batch), flop_reduction_pct,
    speedup, val_loss, val_loss_delta_pct (vs the fine-tuned dense twin)."""
    model, spec = zoo.build(name, train_steps)
    x = zoo.example_input(spec, batch)
    small, _ = pr.prune_ffn_channels(model, fraction)
    zoo.finetune(model, spec, finetune_steps)
    zoo.finetune(small, spec, finetune_steps)
    dense_loss, loss = zoo.evaluate(model, spec)["val_loss"], zoo.evaluate(small, spec)["val_loss"]
    flops, base_flops = pr.count_flops(small, x), pr.count_flops(model, x)
    with torch.no_grad():
        base_s, var_s = time_pair(timer, lambda: model(x), lambda: small(x))
    return [{
        "model": name, "variant": f"ffn-l1-{fraction:g}", "fraction": fraction,
        "params": pr.count_params(small), "base_params": pr.count_params(model),
        "flops": flops, "base_flops": base_flops, "flop_reduction_pct": 100 * (1 - flops / base_flops),
        "time_s": _median(var_s), "samples": var_s, "speedup": _median(base_s) / _median(var_s),
        "val_loss": loss, "dense_val_loss": dense_loss,
        "val_loss_delta_pct": 100 * (loss / dense_loss - 1), "finetune_steps": finetune_steps,
    }]  # fmt: skip


# --- int8 GEMM throughput (003) -------------------------------------------------------------


@torch.no_grad()
def linear_stack_int8_rows(timer: Timer, batches: Sequence[int] = (32, 128, 512),
                           d_model: int = 768, d_ff: int = 3072) -> list[dict]:  # fmt: skip
    """Throughput of a BERT FFN (d → 4d → d) at serving batch sizes: on CPU fp32 vs torch.ao
    dynamic int8; on CUDA fp32 (TF32 off), fp16 and ``torch._int_mm`` int8 (the input quantised
    once outside the timed call, the hidden activation requantised per tensor inside it). Keys: device, batch, variant, time_s,
    samples, speedup_vs_fp32, tokens_per_s, flops, achieved_flops_per_s."""
    ok, _ = qz.int_mm_available()
    device = "cuda" if ok else "cpu"
    torch.manual_seed(0)
    ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model)).eval()
    rows = []
    for batch in batches:
        x = torch.randn(batch, d_model)
        if device == "cpu":
            int8 = qz.quantize_dynamic_int8(ffn, skip=())
            fns = {"fp32": lambda x=x: ffn(x), "int8": lambda x=x, q=int8: q(x)}
        else:
            fns = _cuda_gemm_fns(ffn, x)
        base_fn = fns.pop("fp32")
        base: list[float] = []
        for variant, fn in fns.items():
            base, samples = time_pair(timer, base_fn, fn)
            rows.append(_throughput_row(device, batch, variant, samples, base, d_model, d_ff))
        rows.insert(-len(fns), _throughput_row(device, batch, "fp32", base, base, d_model, d_ff))
    return rows


def _throughput_row(device, batch, variant, samples, base, d_model, d_ff) -> dict:
    return {
        "device": device, "batch": batch, "variant": variant, "d_model": d_model, "d_ff": d_ff,
        "time_s": _median(samples), "samples": samples,
        "speedup_vs_fp32": _median(base) / _median(samples), "tokens_per_s": batch / _median(samples),
        "flops": 4.0 * batch * d_model * d_ff,  # two GEMMs, 2 per multiply-add (int8: OPs)
        "achieved_flops_per_s": 4.0 * batch * d_model * d_ff / _median(samples),
    }  # fmt: skip


def _cuda_gemm_fns(ffn: nn.Sequential, x: torch.Tensor) -> dict[str, Callable]:
    torch.backends.cuda.matmul.allow_tf32 = False
    w1, w2 = ffn[0].weight.detach().cuda(), ffn[2].weight.detach().cuda()
    xc = x.cuda()
    h1, h2 = w1.half(), w2.half()
    q1, s1 = qz.quantize_int8_per_channel(w1)
    q2, s2 = qz.quantize_int8_per_channel(w2)
    b1, b2 = q1.t().contiguous(), q2.t().contiguous()  # (I, O) int8 operands
    sx = xc.abs().max() / 127
    xq = torch.clamp(torch.round(xc / sx), -127, 127).to(torch.int8)

    def int8_ffn():
        h = (qz.int8_matmul(xq, b1).float() * (sx * s1)).relu()
        sh = h.abs().max() / 127
        hq = torch.clamp(torch.round(h / sh), -127, 127).to(torch.int8)
        return qz.int8_matmul(hq, b2).float() * (sh * s2)

    return {
        "fp32": lambda: (xc @ w1.t()).relu() @ w2.t(),
        "fp16": lambda: (xc.half() @ h1.t()).relu() @ h2.t(),
        "int8": int8_ffn,
    }
