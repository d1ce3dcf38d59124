"""``dsbench bench inference``: the quantisation and pruning comparisons, as records.

Each experiment runs one function of :mod:`workloads.inference.comparisons` (a technique against
its unoptimised twin, timed back to back in the same process) and every row it returns becomes
one ``measurement`` record named ``inference-<experiment>``, saved as soon as the experiment
finishes — Ctrl-C keeps what was stored. Non-numeric row fields become params, numeric ones
metrics, with units from the field name (``_s`` seconds, ``_pct`` percent, ``speedup``/``ratio``
x, ``bytes`` B, ``flops`` FLOP); raw timing samples stay with their ``time_s`` metric.

``--quick`` (default) uses the tiny LM, short training and short timing budgets; ``--full``
the ``cpu-small`` LM, a 12-layer BERT-base stack and longer budgets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

EXPERIMENTS = (
    "int8-cpu", "quantize-lm", "int4-qat", "int8-gemm",
    "magnitude-prune", "channel-prune", "slimming-prune", "ffn-prune",
)  # fmt: skip


def _unit(key: str) -> str:
    if key.endswith("_s") and not key.endswith("tokens_per_s"):
        return "s"
    rules = (("_pct", "%"), ("_pts", "%"), ("speedup", "x"), ("ratio", "x"), ("tokens_per_s", "1/s"),
             ("bytes", "B"), ("flops", "FLOP"), ("val_loss", "nats"), ("bits_per", "bit"))  # fmt: skip
    return next((unit for part, unit in rules if part in key), "1")


def row_record(experiment: str, row: dict, quick: bool, threads: int):
    """One row of a comparison as a measurement record (see the module docstring)."""
    from dsbench.core import environment
    from dsbench.core.results import Kind, Metric, Record

    params, metrics = {"experiment": experiment, "threads": threads}, {}
    for key, value in row.items():
        if "samples" in key:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            params[key] = value
        else:
            samples = (
                tuple(row.get(key.replace("time_s", "samples"), ())) if "time_s" in key else ()
            )
            metrics[key] = Metric(float(value), _unit(key), samples)
    return Record(
        kind=Kind.MEASUREMENT,
        name=f"inference-{experiment}",
        params=params,
        metrics=metrics,
        tags=("bench", "inference", "quick" if quick else "full"),
        environment=environment.capture(),
    )


def _experiments(quick: bool, timer) -> dict[str, Callable[[], list[dict]]]:
    from workloads.inference import comparisons as c
    from workloads.inference.prune import Criterion

    lm = "lm-tiny" if quick else "lm-small"
    ft = 2 if quick else 5
    return {
        "int8-cpu": lambda: c.int8_cpu_speed_rows(timer, (1, 8), 128, 1 if quick else 12),
        "quantize-lm": lambda: c.quantization_rows(lm, timer),
        "int4-qat": lambda: c.int4_ptq_vs_qat_rows(
            lm, 60 if quick else 100, 200 if quick else None
        ),
        "int8-gemm": lambda: c.linear_stack_int8_rows(
            timer, (32, 128) if quick else (32, 128, 512)
        ),
        "magnitude-prune": lambda: c.magnitude_prune_rows("cnn-digits", 0.3, 2, 1 if quick else 3),
        "channel-prune": lambda: c.cnn_channel_prune_rows(
            timer, (0.1, 0.2, 0.3, 0.5), finetune_epochs=ft
        ),
        "slimming-prune": lambda: c.cnn_channel_prune_rows(
            timer, (0.3, 0.5), Criterion.BN_GAMMA, ft, bn_l1=1e-3
        ),
        "ffn-prune": lambda: c.lm_ffn_prune_rows(timer, "lm-tiny", 0.3, 50 if quick else 200),
    }


@click.command("inference")
@click.option(
    "--quick/--full", "quick", default=True, help="tiny models and short budgets (default)"
)
@click.option(
    "--only", multiple=True, type=click.Choice(EXPERIMENTS), help="run only these (repeatable)"
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/inference"), show_default=True, help="folder for the records")  # fmt: skip
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="intra-op threads (1 is steadiest on a shared CPU)")  # fmt: skip
def inference(quick: bool, only: tuple[str, ...], out: Path, threads: int) -> None:
    """Quantisation (int8/int4/fp4, PTQ vs QAT) and pruning (magnitude, L1 channels) against
    their unoptimised twins; one record per compared variant."""
    from dsbench.core import results
    from dsbench.core.progress import track
    from dsbench.core.timing import TimerConfig, time_fn
    from workloads.inference.zoo import torch_threads

    cfg = (
        TimerConfig(warmup_s=0.01, budget_s=0.05, min_samples=3, max_time_s=5.0)
        if quick
        else TimerConfig(budget_s=0.3, min_samples=7, max_time_s=20.0)
    )
    experiments = _experiments(quick, lambda fn: time_fn(fn, config=cfg).samples_s)
    chosen = list(only) or list(EXPERIMENTS)
    saved = 0
    with torch_threads(threads):
        for name in track(chosen, "bench inference", total=len(chosen)):
            rows = experiments[name]()
            for row in rows:
                results.save(row_record(name, row, quick, threads), out)
                saved += 1
            click.echo(_summary(name, rows))
    click.echo(f"{saved} records in {out}")


def _summary(name: str, rows: list[dict]) -> str:
    keys = ("speedup", "speedup_vs_fp32", "bytes_ratio", "val_loss_delta_pct", "flop_reduction_pct",
            "accuracy_loss_pts", "sparsity", "param_reduction_nonzero_pct", "retained_pct")  # fmt: skip
    lines = [f"{name}:"]
    for r in rows:
        tag = " ".join(f"{k}={r[k]}" for k in ("batch", "round") if k in r)
        vals = " ".join(f"{k}={r[k]:.3g}" for k in keys if isinstance(r.get(k), int | float))
        lines.append(f"  {r['variant']:34s} {tag:10s} {vals}")
    return "\n".join(lines)
