"""``dsbench bench parallel``: tensor/data parallelism, memory tiers, offload and the data path.

Each section measures a technique against its unoptimised twin *in one run* and returns
records (saved as they are produced, so Ctrl-C keeps what was measured):

* ``tp`` — 2 gloo ranks on 127.0.0.1: the Megatron TP block equals the single-device block
  (forward, input and weight gradients), the seeds' ``ParallelLinear`` /
  ``tensor_parallel_forward`` as written, and fwd+bwd time of the TP block against the
  single-device block.
* ``ddp`` — 2 gloo ranks: DDP gradients equal full-batch ones; step time of compute only,
  compute then one all-reduce (no overlap), and DDP with small / default / one bucket; the
  int8 error-feedback hook: bytes per rank and loss against fp32 all-reduce.
* ``tiers`` — a Zipf trace through the device/host/disk store: hit rate per tier, bytes moved,
  replay time against all-on-device, host-only and disk-only; the seed's GPU dict growth.
* ``offload`` — layer-wise parameter swap (prefetch on/off) against resident; host Adam
  (ZeRO-Offload) against device Adam; host embedding against device embedding.
* ``datapath`` — ``np.memmap`` samples/s (cold and warm page cache) against in-RAM on a file
  larger than a configured memory budget; the split feature/post-processing pipeline,
  overlapped against serial.

Distributed ranks must call collectives the same number of times, so their timings use a
fixed repeat count in lock-step (a barrier before each sample) and are summarised with
:class:`dsbench.core.timing.Timing`; single-process timings use :func:`dsbench.core.timing.time_fn`.
Without a GPU the "device" is the CPU: speed ratios then say nothing about PCIe or HBM, and
the records carry ``device`` so nobody mistakes them for GPU numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import click

from dsbench.bench.parallel_common import BenchConfig
from dsbench.bench.parallel_dist import bench_ddp, bench_tp
from dsbench.bench.parallel_memory import (
    bench_datapath,
    bench_host_adam,
    bench_host_embedding,
    bench_mmap,
    bench_offload,
    bench_pipeline,
    bench_swap,
    bench_tiers,
)
from dsbench.core.results import Record
from workloads.threads import torch_threads

__all__ = [  # the sections, re-exported: checks and tests reach them through this module
    "BenchConfig", "bench_ddp", "bench_datapath", "bench_host_adam", "bench_host_embedding",
    "bench_mmap", "bench_offload", "bench_pipeline", "bench_swap", "bench_tiers", "bench_tp",
    "parallel", "torch_threads",
]  # fmt: skip

SECTIONS = ("tp", "ddp", "tiers", "offload", "datapath")


BENCHES: dict[str, Callable[[BenchConfig], Iterator[Record]]] = {
    "tp": bench_tp,
    "ddp": bench_ddp,
    "tiers": bench_tiers,
    "offload": bench_offload,
    "datapath": bench_datapath,
}


# --- the command -------------------------------------------------------------------------------------


@click.command("parallel")
@click.option("--quick/--full", "quick", default=True, help="quick: seconds on a 2-core CPU")
@click.option(
    "--only", multiple=True, type=click.Choice(SECTIONS), help="run only this section (repeatable)"
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/parallel"),
    show_default=True,
    help="folder the records are written to",
)
@click.option("--world-size", type=int, default=2, show_default=True, help="gloo ranks")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N]")
@click.option(
    "--threads", type=int, default=None, help="torch threads in this process (default: torch's)"
)
def parallel(
    quick: bool, only: tuple[str, ...], out: Path, world_size: int, device: str, threads: int | None
) -> None:
    """Measure TP/DP equivalence and timing, memory tiers, offload and the data path.

    Every record is written as soon as it is measured; Ctrl-C keeps what was stored.
    """
    from dsbench.core import results
    from dsbench.core.progress import track
    from dsbench.profiler.measure import check_device

    if world_size < 2:
        raise click.BadParameter(f"{world_size} < 2; parallel runs need 2 or more ranks",
                                 param_hint="--world-size")  # fmt: skip
    check_device(device)
    if device != "cpu" and any(s in ("tp", "ddp") for s in (only or SECTIONS)):
        raise click.UsageError(
            "tp/ddp run gloo ranks on the CPU here; on GPUs launch them with "
            "`torchrun --nproc-per-node N -m workloads.training.launch suite`"
        )
    if threads is not None and threads < 1:
        raise click.BadParameter(f"{threads} < 1", param_hint="--threads")
    cfg = BenchConfig(quick=quick, world_size=world_size, device=device, threads=threads)
    with torch_threads(threads):
        for section in track(list(only or SECTIONS), "parallel bench"):
            for record in BENCHES[section](cfg):
                path = results.save(record, out)
                click.echo(f"{_summary(record)}\n  -> {path}")


def _summary(record: Record, width: int = 100) -> str:
    """The record's name and every metric, wrapped to ``width`` columns."""
    from dsbench.core.units import si

    items = []
    for k, m in record.metrics.items():
        if m.value is None:
            continue
        if m.unit in ("1", "bool"):
            items.append(f"{k}={m.value:.3g}")
        elif m.unit in ("x", "%"):
            items.append(f"{k}={m.value:.3g}{m.unit}")
        else:
            items.append(f"{k}={si(m.value, m.unit)}")
    lines, line = [f"{record.name}:"], " "
    for item in items:
        if len(line) + len(item) + 2 > width:
            lines.append(line.rstrip(","))
            line = " "
        line += f" {item},"
    lines.append(line.rstrip(","))
    return "\n".join(lines)
