"""``dsbench sweep``: run a grid of scenario variants locally or on a Dask cluster.

``dsbench sweep SCENARIO --grid section.field=v1,v2,... [--grid ...] --out DIR`` simulates
every combination (:mod:`simulators.sweep`) and writes one tidy table, ``DIR/sweep.csv``
(one row per point: the grid values, then the metrics of :data:`simulators.sweep.COLUMNS`,
then ``error``), plus one ``simulation`` record per point in ``DIR/records``. Points run in
a local process pool (``--workers N``, default: the CPU count; 1 runs in this process), or
with ``--scheduler tcp://HOST:PORT`` on a Dask distributed cluster — the scheduler users of
HPC and cloud clusters already run (``dask.distributed``; the optional extra
``dsbench[cluster]``). The table is rewritten atomically after every finished point, so
Ctrl-C keeps what was done; a progress bar shows the grid.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from dsbench.core.errors import DsbenchError

CLUSTER_HINT = "pip install 'dsbench[cluster]'"


def write_table_atomic(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` (same keys, in order) as CSV via a temporary file and a rename."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)


def point_record(row: dict, scenario: str, overrides: tuple[str, ...], fixed, days, seed):
    """A ``simulation`` record of one grid point (metrics: the numeric columns)."""
    from dsbench.core import environment
    from dsbench.core.results import Kind, Metric, Record
    from simulators.sweep import COLUMNS

    return Record(
        kind=Kind.SIMULATION,
        name=f"sweep-{Path(scenario).stem}",
        params={
            "source": scenario,
            "overrides": list(overrides),
            "fixed": list(fixed),
            "days": days,
            "seed": seed,
        },
        metrics={k: Metric(row[k], u) for k, u in COLUMNS.items() if row[k] is not None},
        info={"error": row["error"]},
        tags=("sweep",),
        environment=environment.capture(),
    )


def _local(jobs: list[tuple], workers: int) -> Iterator[tuple[int, dict]]:
    from simulators.sweep import run_point

    if workers == 1:
        for i, args in enumerate(jobs):
            yield i, run_point(*args)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        futures = {pool.submit(run_point, *args): i for i, args in enumerate(jobs)}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def dask_client(scheduler: str) -> Any:
    """A connected ``dask.distributed.Client``; a missing extra or an unreachable
    scheduler is a user error (one line, exit 2), raised before any point runs."""
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise DsbenchError(f"--scheduler needs Dask distributed: {CLUSTER_HINT}") from exc
    try:
        return Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise DsbenchError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from exc


def _dask(jobs: list[tuple], client: Any) -> Iterator[tuple[int, dict]]:
    from dask.distributed import as_completed

    from simulators.sweep import run_point

    try:
        futures = [client.submit(run_point, *args, pure=False) for args in jobs]
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            yield index[fut.key], fut.result()
    finally:
        client.close()


def run_sweep(
    scenario: str,
    grid_items: tuple[str, ...],
    fixed: tuple[str, ...],
    days: float | None,
    seed: int,
    scheduler: str | None,
    workers: int,
    out: Path,
) -> tuple[Path, list[dict]]:
    """Run the grid; write the table and records as points finish; return both."""
    from dsbench.core import results
    from dsbench.core.progress import track
    from simulators.scenario import apply_overrides, load_scenario
    from simulators.sweep import parse_grid, points

    try:
        base = apply_overrides(load_scenario(scenario), list(fixed))
        grid = parse_grid(grid_items, base)
    except (ValueError, OSError) as exc:
        raise DsbenchError(f"sweep {scenario!r}: {exc}") from exc
    combos = points(grid)
    jobs = [(scenario, combo, fixed, days, seed) for combo in combos]
    table = out / "sweep.csv"
    done: dict[int, dict] = {}
    source = _dask(jobs, dask_client(scheduler)) if scheduler else _local(jobs, workers)
    for i, row in track(source, f"sweep {len(combos)} points", total=len(combos)):
        done[i] = row
        results.save(point_record(row, scenario, combos[i], fixed, days, seed), out / "records")
        write_table_atomic(table, [done[k] for k in sorted(done)])
    return table, [done[k] for k in sorted(done)]


def format_rows(rows: list[dict], grid_keys: list[str], days: float | None) -> str:
    """A short text table: grid values, step time, MFU (and ETTR, $/Mtoken), error."""
    cols = [*grid_keys, "iteration_s", "mfu"] + (
        ["ettr", "usd_per_million_tokens"] if days is not None else []
    )

    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else ("-" if v is None else str(v))

    widths = {c: max(len(c), *(len(cell(r[c])) for r in rows)) for c in cols}
    lines = ["  ".join(f"{c:>{widths[c]}}" for c in cols) + "  error"]
    for r in rows:
        lines.append("  ".join(f"{cell(r[c]):>{widths[c]}}" for c in cols) + f"  {r['error']}")
    return "\n".join(lines)


@click.command()
@click.argument("scenario")
@click.option(
    "--grid",
    "grid_items",
    multiple=True,
    required=True,
    metavar="SECTION.FIELD=V1,V2,...",
    help="a field and the values to sweep (repeatable; all combinations run)",
)
@click.option(
    "--set",
    "fixed",
    multiple=True,
    metavar="SECTION.FIELD=VALUE",
    help="override a field for every point (repeatable)",
)
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    help="also simulate this many days with failures and cost at every point",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--scheduler",
    metavar="tcp://HOST:PORT",
    help=f"run on this Dask distributed scheduler ({CLUSTER_HINT})",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="local worker processes (default: CPU count; 1 = in this process)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/sweeps"),
    show_default=True,
)
def sweep(
    scenario: str,
    grid_items: tuple[str, ...],
    fixed: tuple[str, ...],
    days: float | None,
    seed: int,
    scheduler: str | None,
    workers: int | None,
    out: Path,
) -> None:
    """Simulate every combination of --grid values of SCENARIO (a name or a TOML file).

    Example: dsbench sweep default --grid parallel.pp=4,8,16 --grid parallel.micro_batches=8,32
    """
    start = time.perf_counter()
    table, rows = run_sweep(
        scenario, grid_items, fixed, days, seed, scheduler, workers or os.cpu_count() or 1, out
    )
    keys = [g.partition("=")[0].strip() for g in grid_items]
    click.echo(format_rows(rows, keys, days))
    failed = sum(1 for r in rows if r["error"])
    where = (
        f"Dask scheduler {scheduler}" if scheduler else f"{workers or os.cpu_count()} local workers"
    )
    click.echo(
        f"{len(rows)} points ({failed} infeasible) in {time.perf_counter() - start:.1f} s on "
        f"{where}\ntable: {table}\nrecords: {out / 'records'}"
    )
