"""The fixed regression suite and its committed baselines.

A suite is a fixed list of :class:`Item`\\ s of three kinds:

- ``workload`` — a registered workload at its ``cpu`` size, checked against its reference
  and timed by :func:`dsbench.profiler.measure.measure_workload` (raw samples kept). Timings are
  machine-specific, so their baselines live under ``results/baselines/<fingerprint>/``
  (:func:`dsbench.core.environment.fingerprint`: CPU/GPU model, driver, torch).
- ``scenario`` — a named simulator scenario (``simulators/scenarios``) run by
  :func:`simulators.engine.run`; its predictions (iteration time and breakdown, tokens/s,
  MFU, memory per GPU) are deterministic and machine-independent.
- ``check`` — an analytic or simulator claim check from :mod:`dsbench.claims.checks`, run
  in a scratch folder; its verdict and measured value are deterministic.

Deterministic baselines live under ``results/baselines/deterministic/`` and are shared by
every machine: the test suite (``tests/test_baselines.py``) runs the deterministic part of
the quick suite against them, so a change that moves a prediction fails until someone
accepts it with ``dsbench regress --update``.

The lists are fixed on purpose (asv's lesson: a benchmark suite that changes with the code
cannot detect the code's regressions). New scenarios or checks join the suite by being added
here, together with their baseline.

Comparison is :func:`dsbench.regress.compare.compare` — timed metrics need a significant change
beyond the factor, a benchmark whose own spread exceeds 10% is reported ``unstable`` and not
gated, deterministic outputs need to agree within a relative tolerance.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from dsbench.core import environment
from dsbench.core.errors import DsbenchError
from dsbench.core.results import Kind, Metric, Record, read_record
from dsbench.regress.compare import Comparison, Settings, compare

Suite = Literal["quick", "full"]
Part = Literal["all", "timed", "deterministic"]
BASELINES_DIR = Path("results") / "baselines"
DETERMINISTIC = "deterministic"


class ItemKind(StrEnum):
    WORKLOAD = "workload"
    SCENARIO = "scenario"
    CHECK = "check"


@dataclass(frozen=True)
class Item:
    """One suite entry: what to run (``target``: workload, scenario or check name)."""

    kind: ItemKind
    target: str

    @property
    def timed(self) -> bool:
        return self.kind == ItemKind.WORKLOAD

    @property
    def label(self) -> str:
        return f"{self.kind.value}:{self.target}"


def _items(kind: ItemKind, *targets: str) -> tuple[Item, ...]:
    return tuple(Item(kind, t) for t in targets)


_CHECKS = "dsbench.claims.checks."
QUICK: tuple[Item, ...] = (
    *_items(ItemKind.WORKLOAD, "gemm", "attention-dense-sdpa", "attention-sliding-window"),
    *_items(
        ItemKind.SCENARIO,
        "default",
        "dp-1.7b-allreduce",
        "gpt3-175b-korthikanti",
        "gpt3-int8-gradients",
        "p4d-gpt3-3d",
    ),
    *_items(
        ItemKind.CHECK,
        *(
            _CHECKS + "analytic." + f
            for f in (
                "load_balancing_cost",
                "three_d_layout",
                "gpt3_training_memory",
                "gradient_compression",
                "window_compute_saving",
                "tensor_vs_cuda_cores",
                "summary_cost",
                "moe_expert_sizes",
                "moe_gate_cost",
                "fp4_size",
            )
        ),
        *(
            _CHECKS + "simulator." + f
            for f in (
                "hierarchical_all_reduce",
                "int8_gradient_all_reduce",
                "tp_pp_hundred_billion",
                "gossip_latency",
                "gossip_vs_rpc",
            )
        ),
        *(
            _CHECKS + "failures." + f
            for f in (
                "dynamic_load_balancing",
                "hierarchical_aggregation",
                "recovery_minutes",
                "ettr_1000_nodes",
                "autoscaling_utilisation",
            )
        ),
    ),
)
FULL: tuple[Item, ...] = QUICK + (
    *_items(ItemKind.WORKLOAD, "kg-all-tails", "dynamic-depth-ffn", "lm-forward-dense"),
    *_items(ItemKind.SCENARIO, "megatron-1t"),
    *_items(
        ItemKind.CHECK,
        _CHECKS + "analytic.attention_quadratic",
        _CHECKS + "simulator.overlap_backward_all_reduce",
        _CHECKS + "simulator.parallelism_by_model_size",
    ),
)
SUITES: dict[str, tuple[Item, ...]] = {"quick": QUICK, "full": FULL}


def suite_items(suite: Suite, part: Part = "all") -> list[Item]:
    """The items of ``suite`` restricted to its timed or deterministic ``part``."""
    if suite not in SUITES:
        raise DsbenchError(f"unknown suite {suite!r}; use one of {', '.join(SUITES)}")
    items = SUITES[suite]
    if part == "timed":
        return [i for i in items if i.timed]
    if part == "deterministic":
        return [i for i in items if not i.timed]
    return list(items)


# --- running one item ---------------------------------------------------------------------


def run_item(item: Item, suite: Suite = "quick") -> list[Record]:
    """Run one suite item; return its records (a check may judge several claims)."""
    if item.kind == ItemKind.WORKLOAD:
        return [_measure(item.target, suite)]
    if item.kind == ItemKind.SCENARIO:
        return [scenario_record(item.target)]
    return check_records(item.target)


def _measure(workload: str, suite: Suite) -> Record:
    from dsbench.core.timing import TimerConfig
    from dsbench.profiler.measure import measure_workload

    # Enough samples for a rank test (n >= 10 resolves p < 0.01) in a few seconds each.
    budget = 0.3 if suite == "quick" else 1.0
    config = TimerConfig(warmup_s=0.05, budget_s=budget, min_samples=10, max_time_s=20.0)
    return measure_workload(workload, "cpu", "cpu", "float32", config, tags=("regress", suite))


def scenario_record(name: str) -> Record:
    """A deterministic simulation record of the named scenario (seed 0)."""
    from simulators.engine import run
    from simulators.scenario import load_scenario

    try:
        result = run(load_scenario(name), seed=0)
    except (ValueError, KeyError, OSError) as exc:
        raise DsbenchError(f"regression scenario {name!r}: {exc}") from exc
    d = result.to_dict()
    metrics = {
        "iteration_time": Metric(d["iteration_s"], "s"),
        "tokens_per_s": Metric(d["tokens_per_s"], "tokens/s"),
        "tflops_per_gpu": Metric(d["tflops_per_gpu"], "TFLOP/s"),
        "mfu": Metric(d["mfu"], "1"),
        **{k.removesuffix("_s"): Metric(v, "s") for k, v in d["breakdown_s"].items()},
        **{
            f"memory_{k.removesuffix('_bytes')}": Metric(v, "B")
            for k, v in d["memory_bytes"].items()
        },
    }
    return Record(
        kind=Kind.SIMULATION,
        name=name,
        params={"scenario": name, "seed": 0},
        metrics=metrics,
        info={"scenario": d["scenario"], "world_size": d["world_size"]},
        tags=("regress",),
        environment=environment.capture(),
    )


def check_records(check_name: str) -> list[Record]:
    """Run one registered claim check in a scratch folder; one analytic record per claim."""
    from dsbench.claims.registry import CheckContext, all_checks, normalise

    check = all_checks().get(check_name)
    if check is None:
        raise DsbenchError(f"regression suite names an unknown check {check_name!r}")
    with tempfile.TemporaryDirectory(prefix="dsbench-regress-") as scratch:
        outcomes = normalise(check, check.fn(CheckContext("quick", Path(scratch), check.claim_ids)))
    return [
        Record(
            kind=Kind.ANALYTIC,
            name=o.claim_id,
            params={"check": check_name, "mode": "quick"},
            metrics={} if o.measured is None else {"measured": Metric(o.measured, o.unit or "1")},
            info={"verdict": o.verdict.value, "explanation": o.explanation},
            tags=("regress",),
            environment=environment.capture(),
        )
        for o in outcomes
    ]


# --- baselines ----------------------------------------------------------------------------


def baseline_folder(record: Record, root: Path = BASELINES_DIR) -> Path:
    """``root/deterministic`` for simulations and analytic records, else ``root/<fingerprint>``."""
    if record.kind == Kind.MEASUREMENT:
        return root / environment.fingerprint(dict(record.environment))
    return root / DETERMINISTIC


def baseline_name(record: Record) -> str:
    """A stable file name per (kind, name, params), so ``--update`` replaces the old one."""
    params = json.dumps(dict(record.params), sort_keys=True)
    digest = hashlib.sha256(params.encode()).hexdigest()[:8]
    return f"{record.kind.value}_{record.name.replace('/', '-')}_{digest}.json"


def write_baseline(record: Record, root: Path = BASELINES_DIR) -> Path:
    """Write (or deliberately replace) the baseline of ``record``; atomic."""
    folder = baseline_folder(record, root)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / baseline_name(record)
    if record.kind != Kind.MEASUREMENT:
        record = strip_volatile(record)
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record.to_dict(), indent=1, allow_nan=False), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_baseline(record: Record, root: Path = BASELINES_DIR) -> Record | None:
    """The committed baseline matching ``record``, or None."""
    path = baseline_folder(record, root) / baseline_name(record)
    return read_record(path) if path.exists() else None


# --- the suite ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemResult:
    """One item's new records, the baselines found for them, and the comparison."""

    item: Item
    records: tuple[Record, ...]
    baselines: tuple[Record, ...]
    comparison: Comparison | None  # None when no baseline exists (or --update)

    @property
    def missing_baseline(self) -> bool:
        return len(self.baselines) < len(self.records)


def run_suite(
    suite: Suite = "quick",
    part: Part = "all",
    root: Path = BASELINES_DIR,
    update: bool = False,
    settings: Settings = Settings(),
    track: Callable[[Iterable[Item], str, int], Iterable[Item]] | None = None,
    save: Callable[[Record], object] | None = None,
) -> Iterator[ItemResult]:
    """Run the suite item by item, yielding each result as soon as it exists.

    ``save`` is called on every new record as it is produced (so an interrupted run keeps
    what was measured); with ``update`` the records become the baselines instead of being
    compared.
    """
    items = suite_items(suite, part)
    iterable = track(items, f"regress {suite}", len(items)) if track else items
    for item in iterable:
        records = run_item(item, suite)
        for rec in records:
            if save:
                save(rec)
            if update:
                write_baseline(rec, root)
        if update:
            yield ItemResult(item, tuple(records), (), None)
            continue
        baselines = tuple(b for b in (read_baseline(r, root) for r in records) if b is not None)
        comparison = compare(baselines, records, settings) if baselines else None
        yield ItemResult(item, tuple(records), baselines, comparison)


def exit_code(results: Iterable[ItemResult]) -> int:
    """1 if anything regressed or moved; else 2 if some item had no baseline; else 0."""
    results = list(results)
    if any(r.comparison and r.comparison.exit_code() == 1 for r in results):
        return 1
    if any(r.missing_baseline or r.comparison is None for r in results):
        return 2
    return 0


def strip_volatile(record: Record) -> Record:
    """A machine-independent record without time or machine (so golden files are byte-stable:
    re-recording an unmoved prediction changes nothing in git)."""
    return dataclasses.replace(record, timestamp="1970-01-01T00:00:00+00:00", environment={})
