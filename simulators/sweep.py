"""Parameter sweeps: a grid of scenario overrides, one tidy row per point.

A grid is ``{"section.field": ["v1", "v2", ...], ...}``; its points are the cartesian
product, in the order the fields were given (the last field varies fastest). Each point is
simulated by :func:`run_point` — a plain top-level function of picklable arguments, so a
process pool or a Dask cluster can run it anywhere the package is installed — and returns a
flat dict: the grid values, the step metrics, the long-run metrics when ``days`` is given,
and ``error`` (empty, or the reason the point is infeasible, e.g. a model that does not fit;
an infeasible point is a result of the sweep, not a failure of it).

Columns and units are listed in :data:`COLUMNS`.
"""

from __future__ import annotations

import itertools
import typing
from dataclasses import fields

from simulators.scenario import SECTIONS, Scenario, _convert, apply_overrides, load_scenario

# column -> unit, in table order (after the grid columns)
COLUMNS: dict[str, str] = {
    "iteration_s": "s",
    "tokens_per_s": "tokens/s",
    "tflops_per_gpu": "TFLOP/s",
    "mfu": "1",
    "memory_total_bytes": "B",
    "world_size": "GPUs",
    "global_batch": "sequences",
    "ettr": "1",
    "ettr_first_order": "1",
    "interruptions": "1",
    "checkpoints_written": "1",
    "checkpoint_interval_s": "s",
    "daly_interval_s": "s",
    "mean_downtime_s": "s",
    "cost_usd": "USD",
    "energy_kwh": "kWh",
    "usd_per_million_tokens": "USD",
}


def parse_grid(items: list[str] | tuple[str, ...], base: Scenario) -> dict[str, list[str]]:
    """``["parallel.tp=2,4,8", ...]`` -> ``{"parallel.tp": ["2", "4", "8"]}``.

    ValueError for a malformed item, an unknown section or field, a repeated field, or a
    value that cannot have the field's type; layout consistency is checked per point.
    """
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        section, dot, name = key.partition(".")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not dot or not name or not vals:
            raise ValueError(f"grid {item!r} is not of the form section.field=v1,v2,...")
        if section not in SECTIONS:
            raise ValueError(
                f"grid {item!r}: unknown section {section!r}; known: {', '.join(SECTIONS)}"
            )
        part = getattr(base, section)
        hints = typing.get_type_hints(type(part))
        known = {f.name for f in fields(part)} | ({"preset"} if section == "model" else set())
        if name not in known:
            raise ValueError(
                f"grid {item!r}: unknown field {key}; known: {', '.join(sorted(known))}"
            )
        if key in grid:
            raise ValueError(f"grid field {key} is given twice")
        if name in hints:
            for v in vals:
                _convert(v, hints[name], key)
        grid[key] = vals
    if not grid:
        raise ValueError("a sweep needs at least one --grid field=v1,v2,...")
    return grid


def points(grid: dict[str, list[str]]) -> list[tuple[str, ...]]:
    """Every combination as a tuple of ``section.field=value`` overrides."""
    keys = list(grid)
    return [
        tuple(f"{k}={v}" for k, v in zip(keys, combo, strict=True))
        for combo in itertools.product(*(grid[k] for k in keys))
    ]


def run_point(
    source: str,
    overrides: tuple[str, ...],
    fixed: tuple[str, ...] = (),
    days: float | None = None,
    seed: int = 0,
) -> dict:
    """Simulate one grid point of scenario ``source`` (name or TOML path); never raises
    for an infeasible point — the row's ``error`` says why."""
    from simulators.engine import run
    from simulators.horizon import run_horizon

    row: dict = {k: v for k, _, v in (o.partition("=") for o in overrides)}
    row |= {c: None for c in COLUMNS} | {"error": ""}
    try:
        scn = apply_overrides(load_scenario(source), [*fixed, *overrides])
        r = run(scn, seed=seed)
        row |= {
            "iteration_s": r.iteration_s,
            "tokens_per_s": r.tokens_per_s,
            "tflops_per_gpu": r.tflops_per_gpu,
            "mfu": r.mfu,
            "memory_total_bytes": r.memory.total_bytes,
            "world_size": scn.layout().size,
            "global_batch": scn.global_batch,
        }
        if days is not None:
            h = run_horizon(scn, days, seed=seed)
            row |= {
                "ettr": h.ettr,
                "ettr_first_order": h.ettr_first_order,
                "interruptions": sum(h.interruptions.values()),
                "checkpoints_written": h.checkpoints_written,
                "checkpoint_interval_s": h.interval_s,
                "daly_interval_s": h.daly_s,
                "mean_downtime_s": h.mean_downtime_s,
                "cost_usd": h.cost.cost_usd,
                "energy_kwh": h.cost.energy_kwh,
                "usd_per_million_tokens": h.cost.usd_per_million_tokens,
            }
    except ValueError as exc:
        row["error"] = str(exc).splitlines()[0]
    return row
