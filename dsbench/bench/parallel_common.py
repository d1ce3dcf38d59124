"""What every section of ``dsbench bench parallel`` shares: its configuration, record builder and
the two ways it times — interleaved A/B in one process (:func:`ab_compare`) and lock-step
repeats across distributed ranks (:func:`lockstep`, a barrier before each sample so that every
rank calls its collectives the same number of times).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dsbench.core import environment
from dsbench.core.results import Kind, Metric, Record


@dataclass(frozen=True)
class BenchConfig:
    """quick: sizes for seconds on a 2-core CPU; world_size: gloo ranks; device: cpu/cuda."""

    quick: bool = True
    world_size: int = 2
    device: str = "cpu"
    budget_s: float = 0.3  # timer budget per single-process measurement
    repeats: int = 7  # lock-step samples per distributed measurement
    threads: int | None = None  # torch intra-op threads in this process (None: leave as is)
    timing: bool = True  # False: equivalence only in the distributed sections (checks)

    def __post_init__(self) -> None:
        if self.world_size < 2:
            raise ValueError(f"world_size({self.world_size}) must be >= 2 for parallel runs")
        if self.repeats < 1 or self.budget_s <= 0:
            raise ValueError(f"need repeats({self.repeats}) >= 1 and budget_s({self.budget_s}) > 0")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads({self.threads}) must be >= 1")

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def timer(self):
        from dsbench.core.timing import TimerConfig

        return TimerConfig(warmup_s=0.02, budget_s=self.budget_s, min_samples=5, max_time_s=20.0)


def _record(cfg: BenchConfig, name: str, params: dict, metrics: dict, **info: Any) -> Record:
    import torch

    return Record(
        kind=Kind.MEASUREMENT,
        name=name,
        params={
            "device": cfg.device,
            "mode": cfg.mode,
            "threads": torch.get_num_threads(),
            **params,
        },  # fmt: skip
        metrics={k: v if isinstance(v, Metric) else Metric(*v) for k, v in metrics.items()},
        info=info,
        tags=("parallel", cfg.mode),
        environment=environment.capture(),
    )


def _timed(fn: Callable[[], Any], cfg: BenchConfig):
    from dsbench.core.timing import time_fn

    return time_fn(fn, device=cfg.device, config=cfg.timer())


def ab_compare(fn_a: Callable[[], Any], fn_b: Callable[[], Any], cfg: BenchConfig, prefix: str):
    """Interleaved A/B (:mod:`dsbench.profiler.ab`): metrics ``{prefix}_time_a/_b``, ratio b/a, CI, p."""
    from dsbench.profiler.ab import interleave, workload_block

    block_s = cfg.budget_s / 4
    r = interleave(
        workload_block(fn_a, cfg.device, block_s),
        workload_block(fn_b, cfg.device, block_s),
        rounds=7 if cfg.quick else 15,
    )
    med = sorted(r.a)[len(r.a) // 2], sorted(r.b)[len(r.b) // 2]
    return {
        f"{prefix}_time_a": Metric(med[0], "s", r.a),
        f"{prefix}_time_b": Metric(med[1], "s", r.b),
        f"{prefix}_ratio": Metric(r.ratio, "x"),
        f"{prefix}_ratio_ci_low": Metric(r.ci[0], "x"),
        f"{prefix}_ratio_ci_high": Metric(r.ci[1], "x"),
        f"{prefix}_p_value": Metric(r.test.p, "1"),
    }


def lockstep(fn: Callable[[], Any], repeats: int, device: str = "cpu", warmup: int = 2):
    """Time ``fn`` ``repeats`` times on every rank together; a :class:`Timing` of the samples."""
    import torch
    import torch.distributed as dist

    from dsbench.core.timing import Timing

    cuda = device.startswith("cuda")
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        dist.barrier()
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - t0)
    return Timing(tuple(samples), 1, "perf_counter_ns", device)
