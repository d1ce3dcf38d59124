"""``dsbench bench training``: recomputation, mixed precision and fusion/compilation, each
measured against its unoptimised twin in one run, saving and cost side by side.

The experiments are generators of :class:`~dsbench.core.results.Record` (one per configuration),
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

Times come from :func:`dsbench.core.timing.time_fn` and are reported as ratios within one run;
absolute times are stored with the device they were measured on. Ratios use each side's
*fastest* sample: on a shared machine other processes only ever add time, so the minimum is
the estimate least disturbed by them (the advice of Python's ``timeit``); every sample is
kept in the records.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from dsbench.bench.training_common import _record, single_threaded, timer_for
from dsbench.bench.training_recompute import (
    depth_slopes,
    recompute_depth,
    recompute_equality,
    recompute_formula,
    recompute_fraction,
    seed_recompute,
)
from dsbench.bench.training_speed import (
    fusion_compare,
    precision_gradients,
    precision_ops,
    precision_policy,
    precision_training,
    seed_jit,
)
from dsbench.core.results import Record
from workloads.threads import one_thread

__all__ = [  # the experiments, re-exported: checks and tests reach them through this module
    "_record", "depth_slopes", "fusion_compare", "one_thread", "precision_gradients",
    "precision_ops", "precision_policy", "precision_training", "recompute_depth",
    "recompute_equality", "recompute_formula", "recompute_fraction", "seed_jit",
    "seed_recompute", "single_threaded", "timer_for", "training",
]  # fmt: skip

TECHNIQUES = ("recompute", "precision", "compile")


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
    from dsbench.core import results
    from dsbench.core.progress import track
    from dsbench.profiler.measure import check_device

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
