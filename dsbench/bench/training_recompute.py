"""The recomputation experiments of ``dsbench bench training``.

A bare stack of LM blocks at several depths with no checkpointing, ``√L``-block segments and
every block checkpointed (peak activation bytes followed by
:class:`workloads.training.live_memory.LiveBytes`, and step time); the log-log slope of memory
against depth; a layer's kept bytes against Korthikanti et al. (2022)'s count; the LM with a
growing number of checkpointed layers; equality of loss and gradients; seed 003's
``forward_with_recompute`` run as written.
"""

from __future__ import annotations

from collections.abc import Iterator

from dsbench.bench.training_common import (
    LM_FRACTION,
    STACK,
    _record,
    timer_for,
)
from dsbench.core.results import Record
from dsbench.core.timing import TimerConfig, time_fn

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
