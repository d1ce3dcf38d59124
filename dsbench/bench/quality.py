"""``dsbench bench quality``: the quality table of the small LM's variants, as records.

Trains the byte-level LM of :mod:`workloads.lm` once per variant — dense first, as the
baseline — from the same seed, on the same batches of the same shipped text (pydoc English,
fixed seeded split), for the same number of steps, so every variant sees equal steps *and*
equal tokens; then evaluates all of them on the same validation windows. Optionally each
variant's attention/FFN is also put in a 2-layer passkey probe model (:mod:`workloads.lm.probes`)
and scored on retrieving a key at distances up to the sequence length, which is what local
attention loses and per-byte loss hides.

One record per variant (kind ``measurement``, name ``lm-quality/<variant>``) is written as
soon as that variant is done, so Ctrl-C keeps every finished row. Metrics: ``val_loss``
(nats/byte), ``bits_per_byte``, ``perplexity`` (per byte, ``exp(val_loss)``),
``val_loss_ratio_to_dense``, ``likelihood_retained`` (``exp(dense − variant)``: the ratio of
per-byte likelihoods, the reading under which "keeps 98% accuracy" is checkable),
``tokens_per_s`` (training throughput on this machine), ``params``, ``active_params``,
``flops_per_token`` (training, analytic) and, with the probe, ``probe_accuracy`` (mean over
distances) and ``probe_accuracy_far`` (the longest distance).

``--quick`` trains the ``tiny`` preset for 300 steps of 8×64 bytes (seconds per variant);
``--full`` trains ``cpu-small`` (~6.4M parameters) for 600 steps of 16×128 bytes (minutes per
variant on 2 CPU cores). Torch runs on one thread unless ``--threads`` says otherwise: with
more threads than free cores, PyTorch's CPU threads wait on each other and a run can be many
times slower (a three-variant quick run took 20 minutes on two threads of a busy machine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import click

DEFAULT_VARIANTS = ("dense", "sliding-window", "moe")


@dataclass(frozen=True)
class QualityRun:
    """preset, steps, batch, seq_len, eval_windows: the LM runs; probe_steps: passkey probe
    training steps (0 = no probe); seed: init and batch order for every variant."""

    preset: str
    steps: int
    batch: int
    seq_len: int
    eval_windows: int
    probe_steps: int
    seed: int = 0


MODES = {
    "quick": QualityRun("tiny", 300, 8, 64, 32, probe_steps=200),
    "full": QualityRun("cpu-small", 600, 16, 128, 64, probe_steps=400),
}


def _variants(value: str) -> tuple[str, ...]:
    from workloads.lm import VARIANTS

    names = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown variant(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(VARIANTS)}",
            param_hint="--variants",
        )
    return ("dense", *(v for v in names if v != "dense"))  # the baseline first


def _probe(variant: str, steps: int, seed: int) -> dict[str, float]:
    """Passkey accuracy of the 2-layer probe model with ``variant``'s layers, seq 32."""
    from workloads.lm import make_variant
    from workloads.lm.probes import PROBE_CONFIG, passkey_probe

    cfg = make_variant(PROBE_CONFIG, variant, window=8)
    rows = passkey_probe(
        {variant: cfg}, seq_len=32, steps=steps, batch=64, distances=[8, 12, 20, 31], seed=seed
    )
    return {
        "probe_accuracy": sum(r["accuracy"] for r in rows) / len(rows),
        "probe_accuracy_far": rows[-1]["accuracy"],
    }


def run_variant(variant: str, run: QualityRun, split) -> dict:
    """Train and evaluate one variant; the row of :func:`workloads.lm.compare_variants`."""
    from workloads.lm import TrainConfig, compare_variants, make_variant, preset

    tc = TrainConfig(
        steps=run.steps,
        batch_size=run.batch,
        seq_len=run.seq_len,
        warmup_steps=min(20, run.steps),
        eval_windows=run.eval_windows,
        seed=run.seed,
    )
    cfg = make_variant(preset(run.preset), variant)
    return compare_variants({variant: cfg}, run.steps, base=cfg, train_config=tc, split=split)[0]


def quality_record(row: dict, dense: dict, run: QualityRun, mode: str, probe: dict):
    """The results-store record of one variant's row."""
    from dsbench.core import environment
    from dsbench.core.results import Kind, Metric, Record

    metrics = {
        "val_loss": Metric(row["val_loss"], "nats/byte"),
        "bits_per_byte": Metric(row["bits_per_byte"], "bit/byte"),
        "perplexity": Metric(math.exp(row["val_loss"]), "per byte"),
        "val_loss_ratio_to_dense": Metric(row["val_loss"] / dense["val_loss"], "1"),
        "likelihood_retained": Metric(math.exp(dense["val_loss"] - row["val_loss"]), "1"),
        "tokens_per_s": Metric(row["tokens_per_s"], "tokens/s"),
        "params": Metric(row["params"], "count"),
        "active_params": Metric(row["active_params"], "count"),
        "flops_per_token": Metric(row["flops_per_token"], "FLOP"),
        **{k: Metric(v, "1") for k, v in probe.items()},
    }
    params = {
        "variant": row["variant"],
        "preset": run.preset,
        "steps": run.steps,
        "tokens": row["tokens"],
        "batch": run.batch,
        "seq_len": run.seq_len,
        "seed": run.seed,
        "mode": mode,
        "probe_steps": run.probe_steps if probe else 0,
    }
    return Record(
        kind=Kind.MEASUREMENT,
        name=f"lm-quality/{row['variant']}",
        params=params,
        metrics=metrics,
        info={"train_s": row["train_s"], "data": "pydoc English, fixed seeded split"},
        tags=("quality", mode),
        environment=environment.capture(),
    )


def format_row(row: dict, dense: dict, probe: dict) -> str:
    probe_text = (
        f"  probe {probe['probe_accuracy']:.0%} (far {probe['probe_accuracy_far']:.0%})"
        if probe
        else ""
    )
    return (
        f"{row['variant']:18s} val {row['val_loss']:.4f} nats/byte  "
        f"{row['bits_per_byte']:.3f} bpb  x{row['val_loss'] / dense['val_loss']:.3f} dense  "
        f"{row['tokens_per_s']:9.0f} tok/s  {row['active_params'] / 1e6:.2f}M/"
        f"{row['params'] / 1e6:.2f}M params{probe_text}"
    )


@click.command()
@click.option("--quick/--full", default=True, show_default=True, help="tiny preset or cpu-small")
@click.option(
    "--variants",
    default=",".join(DEFAULT_VARIANTS),
    show_default=True,
    help="comma-separated LM variants (dense always runs first, as the baseline)",
)
@click.option("--steps", type=click.IntRange(min=1), help="training steps (default: by mode)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--probe/--no-probe", default=True, show_default=True, help="passkey probe")
@click.option(
    "--threads",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="torch CPU threads (0 = torch's default); small models train fastest on one",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/quality"),
    show_default=True,
    help="folder the records are written to",
)
def quality(
    quick: bool, variants: str, steps: int | None, seed: int, probe: bool, threads: int, out: Path
) -> None:
    """Train the small LM's variants at equal steps and tokens; store the quality table.

    Prints one row per variant as it finishes: validation loss (nats/byte), bits per byte,
    loss relative to dense, training tokens/s, active/total parameters and, with --probe, the
    passkey accuracy (mean over distances, and at the longest).
    """
    from dataclasses import replace

    from dsbench.core import results
    from dsbench.core.progress import track
    from workloads.lm.data import load_split
    from workloads.threads import torch_threads

    names = _variants(variants)
    mode = "quick" if quick else "full"
    run = replace(MODES[mode], seed=seed, **({"steps": steps} if steps else {}))
    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"{out} exists and is not a folder", param_hint="--out")
    with torch_threads(threads or None):
        split = load_split()
        dense = None
        click.echo(
            f"{mode}: preset {run.preset}, {run.steps} steps of {run.batch}x{run.seq_len} bytes"
        )
        for name in track(names, f"quality ({mode})"):
            row = run_variant(name, run, split)
            dense = dense or row
            scores = _probe(name, run.probe_steps, seed) if probe else {}
            path = results.save(quality_record(row, dense, run, mode, scores), out)
            click.echo(format_row(row, dense, scores))
            click.echo(f"{'':18s} -> {path}")
