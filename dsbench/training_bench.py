"""``dsbench bench training``: recomputation, mixed precision and fusion/compilation, each
measured against its unoptimised twin in one run, saving and cost side by side.

The experiments are generators of :class:`~dsbench.results.Record` (one per configuration),
so the command stores each record the moment it exists (Ctrl-C keeps what was measured) and
the claim checks (:mod:`dsbench.claims.checks.training`) reuse exactly the same code.

* **recompute** — a bare stack of LM blocks at several depths, with no checkpointing, with
  ``√L``-block segments and with every block checkpointed: peak activation bytes (tensor
  storages followed by :class:`workloads.training.live_memory.LiveBytes`, parameter
  gradients excluded) and step time; the log-log slope of memory against depth; the bytes a
  layer keeps against Korthikanti et al.'s count; the LM with a growing number of
  checkpointed layers (memory saving against time overhead); equality of loss and gradients;
  seed 003's ``forward_with_recompute`` run as written.
* **precision** — per op class (matmul, conv, activation, norm) and format: time relative to
  fp32 on this device and relative error against fp64; LM training losses in fp64, fp32,
  bf16 and fp16 (fp32 master weights, loss scaling for fp16) from the same seed and batches;
  gradient error of seed 001's "fp16 forward, bf16 backward"; seed 002's per-op policy.
* **compile** — one LM block as primitive ops, with fused library kernels, and (``--full``,
  where TorchInductor can run) ``torch.compile``: ATen op counts, generated kernels, peak
  tensor memory, time, and the seed's ``@deepseek.jit`` example.

Times come from :func:`dsbench.timing.time_fn` and are reported as ratios within one run;
absolute times are stored with the device they were measured on. Ratios use each side's
*fastest* sample: on a shared machine other processes only ever add time, so the minimum is
the estimate least disturbed by them (the advice of Python's ``timeit``); every sample is
kept in the records.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from dsbench import environment
from dsbench.results import Kind, Metric, Record
from dsbench.timing import TimerConfig, time_fn
from workloads.threads import one_thread

TECHNIQUES = ("recompute", "precision", "compile")
M = Kind.MEASUREMENT

# --- sizes -------------------------------------------------------------------------------------

STACK = {  # block stack for depth sweeps
    "quick": {"d_model": 16, "n_heads": 2, "batch": 1, "seq_len": 16, "depths": (1, 4, 16)},
    "full": {"d_model": 64, "n_heads": 4, "batch": 2, "seq_len": 64, "depths": (4, 16, 64, 144)},
}
LM_FRACTION = {  # LM for the partial-checkpointing curve
    "quick": {"n_layers": 8, "d_model": 32, "n_heads": 2, "batch": 2, "seq_len": 32},
    "full": {"n_layers": 8, "d_model": 256, "n_heads": 8, "batch": 8, "seq_len": 256},
}
TRAIN = {  # LM training-loss agreement
    "quick": {"preset": "tiny", "steps": 4, "batch": 2, "seq_len": 32},
    "full": {"preset": "cpu-small", "steps": 20, "batch": 4, "seq_len": 64},
}


def single_threaded(fn: Callable) -> Callable:
    """Decorator: call ``fn`` inside :func:`one_thread` (generators are drained inside it)."""

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        with one_thread():
            out = fn(*args, **kwargs)
            return list(out) if inspect.isgenerator(out) else out

    return inner


def timer_for(quick: bool) -> TimerConfig:
    return TimerConfig.quick() if quick else TimerConfig(budget_s=1.0)


def _record(name: str, params: dict, metrics: dict[str, Any], **info: Any) -> Record:
    """A measurement record; metric values are ``(value, unit)`` pairs or :class:`Metric`."""
    ms = {k: v if isinstance(v, Metric) else Metric(*v) for k, v in metrics.items()}
    return Record(
        M, name, params, ms, info, ("bench", "training"), environment=environment.capture()
    )


# --- recompute ---------------------------------------------------------------------------------


def _stack_cfg(p: dict):
    from workloads.lm.config import LMConfig

    c = p["d_model"]
    return LMConfig(
        block_size=p["seq_len"], n_layers=1, n_heads=p["n_heads"], d_model=c, d_ff=4 * c
    )


def _plan(name: str, n_layers: int):
    from workloads.training import recompute as rc

    return {
        "none": (),
        "sqrt": rc.sqrt_segments(n_layers),
        "every-1": rc.segments_every(n_layers, 1),
    }[name]


def recompute_depth(
    quick: bool, device: str = "cpu", timer: TimerConfig | None = None
) -> Iterator[Record]:
    """Per depth and plan (none, sqrt, every-1): activation peak and step time of a block stack."""
    import torch

    from workloads.training import recompute as rc

    p = STACK["quick" if quick else "full"]
    cfg = _stack_cfg(p)
    for n in p["depths"]:
        torch.manual_seed(0)
        stack = rc.BlockStack(cfg, n).to(device)
        x = torch.randn(p["batch"], p["seq_len"], p["d_model"], device=device)

        def loss(s=stack, x=x):
            return s(x).square().mean()

        def step(s=stack, loss=loss):
            s.zero_grad(set_to_none=True)
            loss().backward()

        for plan in ("none", "sqrt", "every-1"):
            rc.remove_recompute(stack)
            segments = _plan(plan, n)
            if segments:
                rc.apply_recompute(stack, segments)
            mem = rc.step_memory(stack, loss)
            t = time_fn(step, device, timer or timer_for(quick))
            params = {**{k: v for k, v in p.items() if k != "depths"}, "n_layers": n, "plan": plan,
                      "segment_blocks": len(segments[0]) if segments else 0, "device": device}  # fmt: skip
            yield _record(
                "training-recompute-depth",
                params,
                {
                    **{k: (v, "FLOP" if k == "flops" else "B") for k, v in mem.items()},
                    "step_time": t.metric(),
                },
            )


def depth_slopes(records: list[Record]) -> dict[str, float]:
    """Log-log slope of peak activation bytes against depth, per plan."""
    from workloads.training.recompute import loglog_slope

    out = {}
    for plan in ("none", "sqrt", "every-1"):
        rows = sorted(
            (r.params["n_layers"], r.metrics["peak_activation_bytes"].value)
            for r in records
            if r.params["plan"] == plan
        )
        out[plan] = loglog_slope([n for n, _ in rows], [b for _, b in rows])
    return out


def recompute_formula(quick: bool, device: str = "cpu") -> Record:
    """Bytes kept per layer (difference of two depths) against the generalised Korthikanti count."""
    import torch

    from workloads.training import recompute as rc

    p = STACK["quick" if quick else "full"]
    cfg = _stack_cfg(p)
    kept = []
    for n in (1, 3):
        torch.manual_seed(0)
        stack = rc.BlockStack(cfg, n).to(device)
        x = torch.randn(p["batch"], p["seq_len"], p["d_model"], device=device)
        kept.append(
            rc.step_memory(stack, lambda s=stack, x=x: s(x).square().mean())["after_forward_bytes"]
        )
    measured = (kept[1] - kept[0]) / 2
    s, b, h, a = p["seq_len"], p["batch"], p["d_model"], p["n_heads"]
    ours = rc.activation_bytes_per_layer(
        s, b, h, a, 4 * h, 4, dropout=False, flash=True, norm_stats=True
    )
    paper = rc.activation_bytes_per_layer(s, b, h, a)  # fp16, dropout, materialised scores
    return _record(
        "training-recompute-formula",
        {k: v for k, v in p.items() if k != "depths"} | {"device": device},
        {"measured_bytes_per_layer": (measured, "B"), "formula_bytes_per_layer": (ours, "B"),
         "paper_formula_bytes_per_layer": (paper, "B"), "measured_over_formula": (measured / ours, "x")},
        formula="Korthikanti 2022 generalised: fp32, no dropout, flash attention, LayerNorm stats",
    )  # fmt: skip


def _fraction_lm(p: dict, device: str):
    import torch

    from workloads.lm.config import LMConfig
    from workloads.lm.model import LM

    cfg = LMConfig(block_size=p["seq_len"], n_layers=p["n_layers"], n_heads=p["n_heads"],
                   d_model=p["d_model"], d_ff=4 * p["d_model"])  # fmt: skip
    torch.manual_seed(0)
    model = LM(cfg).to(device)
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (p["batch"], p["seq_len"]), generator=gen).to(device)
    return model, x


def recompute_fraction(
    quick: bool, device: str = "cpu", timer: TimerConfig | None = None
) -> Iterator[Record]:
    """LM step with the first ``k`` of ``L`` layers checkpointed, k = 0..L: memory saving and
    time overhead relative to k = 0 (measured in the same run)."""
    from workloads.training import recompute as rc

    p = LM_FRACTION["quick" if quick else "full"]
    model, x = _fraction_lm(p, device)

    def loss():
        return model(x, x)[1]

    def step():
        model.zero_grad(set_to_none=True)
        loss().backward()

    step()  # first touch of the activation memory is slow; keep it out of the baseline
    base = None
    for k in range(p["n_layers"] + 1):
        rc.apply_recompute(model, rc.first_layers(p["n_layers"], k))
        measured = rc.step_memory(model, loss)
        mem, flops = measured["peak_activation_bytes"], measured["flops"]
        t = time_fn(step, device, timer or timer_for(quick))
        base = base or (mem, t.min_s, flops)
        yield _record(
            "training-recompute-fraction",
            {**p, "checkpointed_layers": k, "device": device},
            {"peak_activation_bytes": (mem, "B"), "step_time": t.metric(), "flops": (flops, "FLOP"),
             "memory_saving": (100 * (1 - mem / base[0]), "%"),
             "time_overhead": (100 * (t.min_s / base[1] - 1), "%"),
             "flop_overhead": (100 * (flops / base[2] - 1), "%")},
        )  # fmt: skip
    rc.remove_recompute(model)


def recompute_equality(device: str = "cpu") -> Record:
    """Loss and gradients of the tiny LM with √L segments against the plain model."""
    import torch

    from workloads.lm import LM, preset
    from workloads.training import recompute as rc

    torch.manual_seed(0)
    model = LM(preset("tiny")).to(device)
    x = torch.randint(0, 256, (2, 32), generator=torch.Generator().manual_seed(1)).to(device)

    def loss_grads():
        model.zero_grad(set_to_none=True)
        _, loss = model(x, x)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    loss0, g0 = loss_grads()
    rc.apply_recompute(model, rc.sqrt_segments(model.cfg.n_layers))
    loss1, g1 = loss_grads()
    diff = max(float((a - b).abs().max()) for a, b in zip(g0, g1, strict=True))
    return _record(
        "training-recompute-equality",
        {"preset": "tiny", "plan": "sqrt", "device": device},
        {"loss_abs_diff": (float((loss0 - loss1).abs()), "1"), "grad_max_abs_diff": (diff, "1")},
    )


def seed_recompute() -> Record:
    """Seed 003's ``forward_with_recompute`` run as written, and the fixed version's error."""
    import warnings

    import torch

    from workloads.training import recompute as rc

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = rc.run_seed_recompute()
    torch.manual_seed(0)
    host = rc.TwoLayers(16)
    x = torch.randn(4, 16, requires_grad=True)
    (g0,) = torch.autograd.grad(host(x).sum(), x)
    y1 = rc.fixed_forward_with_recompute(host, x)
    (g1,) = torch.autograd.grad(y1.sum(), x)
    return _record(
        "training-recompute-seed-code",
        {"seed": "003 §2.1 forward_with_recompute"},
        {"fixed_output_abs_diff": (float((host(x) - y1).detach().abs().max()), "1"),
         "fixed_grad_abs_diff": (float((g0 - g1).abs().max()), "1")},
        **outcome, warnings=sorted({str(w.message)[:200] for w in caught}),
    )  # fmt: skip


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


# --- the command -------------------------------------------------------------------------------


def jobs(
    techniques: tuple[str, ...], quick: bool, device: str
) -> list[tuple[str, Callable[[], Any]]]:
    """(label, thunk) per experiment; a thunk returns a Record or an iterator of Records."""
    table = {
        "recompute": [
            ("recompute: depth sweep", lambda: recompute_depth(quick, device)),
            ("recompute: per-layer bytes vs formula", lambda: recompute_formula(quick, device)),
            ("recompute: checkpointed fraction", lambda: recompute_fraction(quick, device)),
            ("recompute: equality", lambda: recompute_equality(device)),
            ("recompute: seed code", seed_recompute),
        ],
        "precision": [
            ("precision: op classes", lambda: precision_ops(quick, device)),
            ("precision: training losses", lambda: precision_training(quick, device)),
            ("precision: gradients", lambda: precision_gradients(quick)),
            ("precision: seed policy", lambda: precision_policy(quick)),
        ],
        "compile": [
            ("compile: fusion", lambda: fusion_compare(quick, device)),
            ("compile: seed jit", lambda: seed_jit(quick)),
        ],
    }
    return [job for t in techniques for job in table[t]]


@click.command("training")
@click.option("--technique", "techniques", multiple=True, type=click.Choice(TECHNIQUES),
              help="which comparison to run (repeatable; default: all)")  # fmt: skip
@click.option("--quick/--full", default=True, show_default=True,
              help="quick: tiny sizes, seconds; full: larger sizes and torch.compile")  # fmt: skip
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N]")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/training"), show_default=True,
              help="folder the records are written to")  # fmt: skip
def training(techniques: tuple[str, ...], quick: bool, device: str, out: Path) -> None:
    """Measure recomputation, mixed precision and fusion/compilation against their plain twins.

    Each record is stored as soon as it is measured; one summary line per record is printed.
    """
    from dsbench import results
    from dsbench.measure import check_device
    from dsbench.progress import track

    check_device(device)
    selected = techniques or TECHNIQUES
    todo = jobs(tuple(dict.fromkeys(selected)), quick, device)
    count = 0
    with one_thread():
        for label, thunk in track(todo, "training", total=len(todo)):
            produced = thunk()
            for record in [produced] if isinstance(produced, Record) else produced:
                results.save(record, out)  # stored as soon as measured: Ctrl-C keeps it
                count += 1
                click.echo(f"{label}: {summary(record)}")
    click.echo(f"{count} records in {out}")


def summary(record: Record) -> str:
    """One line: the record's distinguishing params and its metrics."""
    keys = ("n_layers", "plan", "checkpointed_layers", "op", "precision", "variant")
    params = " ".join(f"{k}={record.params[k]}" for k in keys if k in record.params)
    metrics = ", ".join(
        f"{k}={_fmt(m.value)}{'' if m.unit in ('1', 'count') else ' ' + m.unit}"
        for k, m in record.metrics.items()
    )
    extra = (
        f" [{record.info['outcome']}: {record.info['error']}]" if "outcome" in record.info else ""
    )
    return f"{params} {metrics}{extra}".strip()


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}"
