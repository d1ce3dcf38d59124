"""The precision and fusion experiments of ``dsbench bench training``.

Precision: per op class and format, time relative to fp32 on this device and error against
fp64; LM training losses in fp64/fp32/bf16/fp16 from the same seed and batches; the gradient
error of seed 001's "fp16 forward, bf16 backward"; seed 002's per-op policy. Fusion: one LM
block as primitive ops, with fused library kernels and (``--full``) ``torch.compile`` — op
counts, kernels, peak tensor memory, time — and the seed's ``@deepseek.jit`` example.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from dsbench.bench.training_common import (
    TRAIN,
    _record,
    timer_for,
)
from dsbench.core.results import Record
from dsbench.core.timing import TimerConfig, time_fn

# --- precision ---------------------------------------------------------------------------------


def precision_ops(
    quick: bool, device: str = "cpu", timer: TimerConfig | None = None
) -> Iterator[Record]:
    """Per op class and format: relative error against fp64 and time relative to fp32."""
    from workloads.training import precision as pr

    size = "tiny" if quick else ("gpu" if device.startswith("cuda") else "cpu")
    formats = (pr.Precision.TF32, pr.Precision.BF16, pr.Precision.FP16)
    for op in pr.OpClass:
        inputs = tuple(t.to(device) for t in pr.op_inputs(op, size))
        ref = pr.op_fn(op, pr.Precision.FP64, inputs)()
        t32 = time_fn(pr.op_fn(op, pr.Precision.FP32, inputs), device, timer or timer_for(quick))
        extra = (pr.Precision.INT8,) if op is pr.OpClass.MATMUL else ()
        for fmt in (pr.Precision.FP32, *formats, *extra):
            fn = pr.op_fn(op, fmt, inputs)
            err = pr.relative_error(fn(), ref)
            t = t32 if fmt is pr.Precision.FP32 else time_fn(fn, device, timer or timer_for(quick))
            tensor_core_op = op in (pr.OpClass.MATMUL, pr.OpClass.CONV)
            emulated = fmt is pr.Precision.TF32 and device == "cpu" and tensor_core_op
            yield _record(
                "training-precision-op",
                {"op": op.value, "precision": fmt.value, "size": size, "device": device,
                 "shape": list(pr.OP_SIZES[size][op]), "tf32_emulated": emulated},
                {"rel_error": (100 * err["rel_fro"], "%"), "nonfinite": (err["nonfinite"], "count"),
                 "time": t.metric(), "speedup_vs_fp32": (t32.min_s / t.min_s, "x")},
            )  # fmt: skip


def precision_training(quick: bool, device: str = "cpu") -> Iterator[Record]:
    """LM losses over N steps per format from one init and batch order, against fp64."""
    import time

    from workloads.lm import load_split, preset
    from workloads.training import precision as pr

    p = TRAIN["quick" if quick else "full"]
    tokens = load_split(max_bytes=200_000).train
    ref = None
    formats = [pr.Precision.FP64, pr.Precision.FP32, pr.Precision.BF16, pr.Precision.FP16]
    if device.startswith("cuda"):
        formats.insert(2, pr.Precision.TF32)  # fp32 storage, TF32 tensor-core matmuls
    for fmt in formats:
        start = time.perf_counter()
        losses = pr.train_losses(
            preset(p["preset"]), fmt, tokens, p["steps"], p["batch"], p["seq_len"], device=device
        )
        per_step = (time.perf_counter() - start) / p["steps"]
        ref = losses if ref is None else ref
        gap = max(abs(a - b) / abs(b) for a, b in zip(losses, ref, strict=True))
        yield _record(
            "training-precision-train",
            {**p, "precision": fmt.value, "device": device},
            {"final_loss": (losses[-1], "nats"), "max_rel_loss_gap_vs_fp64": (100 * gap, "%"),
             "final_rel_loss_gap_vs_fp64": (100 * abs(losses[-1] - ref[-1]) / ref[-1], "%"),
             "step_time": (per_step, "s")},
            losses=losses,
        )  # fmt: skip


def precision_gradients(quick: bool) -> Record:
    """Gradient error against fp64 of fp32, bf16, fp16 (scaled/unscaled) and fp16-fwd/bf16-bwd."""
    from workloads.lm import load_split, preset
    from workloads.training import precision as pr

    p = TRAIN["quick" if quick else "full"]
    tokens = load_split(max_bytes=200_000).train
    errs = pr.gradient_errors(preset(p["preset"]), tokens, p["batch"], p["seq_len"])
    metrics = {}
    for name, e in errs.items():
        metrics[f"{name}_grad_rel_error"] = (100 * e["rel_fro"], "%")
        metrics[f"{name}_underflow_fraction"] = (100 * e["zero_fraction"], "%")
    return _record(
        "training-precision-gradients", {k: p[k] for k in ("preset", "batch", "seq_len")}, metrics
    )


def precision_policy(quick: bool, timer: TimerConfig | None = None) -> Record:
    """Seed 002's per-op policy against uniform bf16 autocast and fp32: casts, time, loss error,
    and the bf16 → fp16 overflow."""

    import torch

    from workloads.lm import LM, preset
    from workloads.training import precision as pr

    p = TRAIN["quick" if quick else "full"]
    torch.manual_seed(0)
    model = LM(preset(p["preset"]))
    x = torch.randint(
        0, 256, (p["batch"], p["seq_len"]), generator=torch.Generator().manual_seed(1)
    )
    ref_model = LM(preset(p["preset"]))
    ref_model.load_state_dict(model.state_dict())
    with torch.no_grad():
        ref = float(ref_model.double()(x, x)[1])
    policy = pr.PrecisionPolicy.parse(pr.SEED_POLICY)
    modes: dict[str, Callable[[], Any]] = {
        "fp32": contextlib.nullcontext,
        "bf16-autocast": lambda: pr.precision_context(pr.Precision.BF16),
        "seed-policy": lambda: pr.policy_mode(policy),
    }
    metrics: dict[str, Any] = {}
    for name, make in modes.items():

        def step(make=make):
            model.zero_grad(set_to_none=True)
            with make():
                _, loss = model(x, x)
            loss.backward()
            return loss

        with torch.no_grad(), make() as ctx:
            loss = float(model(x, x)[1])
        metrics[f"{name}_loss_rel_error"] = (100 * abs(loss - ref) / ref, "%")
        metrics[f"{name}_casts_per_forward"] = (float(getattr(ctx, "casts", 0)), "count")
        metrics[f"{name}_step_time"] = time_fn(step, "cpu", timer or timer_for(quick)).metric()
    over = pr.policy_overflow()
    metrics["overflow_nonfinite"] = (over["nonfinite"], "count")
    metrics["overflow_elements"] = (over["elements"], "count")
    return _record("training-precision-policy", {**p, "policy": pr.SEED_POLICY}, metrics)


# --- fusion and compilation --------------------------------------------------------------------


def fusion_compare(quick: bool, device: str = "cpu", compile_: bool | None = None,
                   timer: TimerConfig | None = None) -> Iterator[Record]:  # fmt: skip
    """Primitive ops vs fused kernels (eager) and, unless quick or unavailable, torch.compile."""
    import torch

    from workloads.training import compile as fu
    from workloads.training.live_memory import LiveBytes

    size = "tiny" if quick else "cpu"
    block, x = fu.build_block(size, device=device)
    variants: dict[str, Callable[[], Any]] = {
        "unfused": lambda: fu.unfused_block_forward(block, x),
        "fused-eager": lambda: block(x),
    }
    with torch.no_grad():
        ref = block(x)
    timer = timer or timer_for(quick)
    t_unfused = None
    for name, fn in variants.items():
        ops = fu.count_ops(fn)
        with torch.no_grad(), LiveBytes() as mem:
            out = fn()
        t = time_fn(torch.no_grad()(fn), device, timer)
        t_unfused = t_unfused or t.min_s
        yield _record(
            "training-fusion",
            {**fu.BLOCK_SIZES[size], "variant": name, "device": device},
            {"aten_ops": (float(sum(ops.values())), "count"), "op_types": (float(len(ops)), "count"),
             "extern_ops": (float(fu.extern_count(ops)), "count"), "peak_bytes": (float(mem.peak_bytes), "B"),
             "time": t.metric(), "speedup_vs_unfused": (t_unfused / t.min_s, "x"),
             "max_abs_diff": (float((out - ref).abs().max()), "1")},
            ops=dict(ops),
        )  # fmt: skip
    run_compile = (not quick) if compile_ is None else compile_
    ok, why = fu.inductor_available()
    if run_compile and ok:
        compiled = fu.compile_block(block, x)
        with torch.no_grad(), LiveBytes() as mem:  # buffers the compiled code allocates
            out = compiled.fn(x)
        t_eager = time_fn(torch.no_grad()(lambda: block(x)), device, timer)
        t = time_fn(torch.no_grad()(lambda: compiled.fn(x)), device, timer)
        extern = fu.extern_count(fu.count_ops(lambda: block(x)))
        yield _record(
            "training-fusion",
            {**fu.BLOCK_SIZES[size], "variant": "compiled", "device": device},
            {"generated_kernels": (float(compiled.generated_kernels), "count"),
             "extern_ops": (float(extern), "count"),
             "kernels": (float(compiled.generated_kernels + extern), "count"),
             "compile_time": (compiled.compile_s, "s"), "time": t.metric(),
             "peak_bytes": (float(mem.peak_bytes), "B"),
             "speedup_vs_eager": (t_eager.min_s / t.min_s, "x"),
             "speedup_vs_unfused": (t_unfused / t.min_s, "x"),
             "max_abs_diff": (float((out - ref).abs().max()), "1")},
            backend=why,
        )  # fmt: skip
    elif run_compile:
        yield _record("training-fusion", {"variant": "compiled", "device": device}, {}, skipped=why)


def seed_jit(quick: bool, timer: TimerConfig | None = None) -> Record:
    """Seed 002's ``@deepseek.jit`` example: two calls on one input, and its cost per call
    against the same modules built once."""
    import torch

    from workloads.training import compile as fu

    x = torch.randn(1, 8 if quick else 64, 512, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.manual_seed(0)
        a = fu.seed_transformer_block(x)
        b = fu.seed_transformer_block(x)
        once = fu.seed_block_built_once()
        t_seed = time_fn(lambda: fu.seed_transformer_block(x), "cpu", timer or timer_for(quick))
        t_once = time_fn(lambda: once(x), "cpu", timer or timer_for(quick))
    return _record(
        "training-fusion-seed-jit",
        {"seq_len": x.shape[1], "d_model": 512},
        {"call_to_call_max_abs_diff": (float((a - b).abs().max()), "1"),
         "rebuild_slowdown": (t_seed.min_s / t_once.min_s, "x")},
    )  # fmt: skip
