"""``ds-profiler ab``: build the two sides, run them interleaved, make the record."""

from __future__ import annotations

from dsbench.core import environment
from dsbench.core.errors import DsbenchError
from dsbench.core.results import Kind, Metric, Record
from dsbench.profiler.ab import ABResult, command_run, interleave, workload_block


def run_ab(
    a: str, b: str, shell: bool, size: str, device: str, dtype: str, rounds: int, block_s: float
) -> ABResult:
    """Time A and B interleaved; workloads are checked against their references first."""
    if shell:
        return interleave(command_run(a), command_run(b), rounds)
    from dsbench.profiler.measure import check_device
    from workloads import base

    fns = []
    for name in (a, b):
        try:
            workload = base.get(name)
        except base.UnknownWorkload as exc:
            raise DsbenchError(f"{exc} (use --shell for commands)") from exc
        if size not in workload.sizes:
            raise DsbenchError(f"workload {name!r} has no size {size!r}")
        check_device(device)
        fns.append(workload_block(workload.build(size, device, dtype).fn, device, block_s))
    for fn in fns:  # one untimed block each: warm both before round 1
        fn()
    return interleave(fns[0], fns[1], rounds)


def ab_record(
    a: str, b: str, shell: bool, size: str, device: str, dtype: str, result: ABResult
) -> Record:
    import statistics

    return Record(
        kind=Kind.MEASUREMENT,
        name="ab",
        params={
            "a": a,
            "b": b,
            "shell": shell,
            "size": size,
            "device": device,
            "dtype": dtype,
            "rounds": len(result.a),
        },
        metrics={
            "time_a": Metric(statistics.median(result.a), "s", result.a),
            "time_b": Metric(statistics.median(result.b), "s", result.b),
            "ratio_b_over_a": Metric(result.ratio, "1"),
            "ratio_ci_low": Metric(result.ci[0], "1"),
            "ratio_ci_high": Metric(result.ci[1], "1"),
            "mann_whitney_p": Metric(result.test.p, "1"),
        },
        info={
            "conclusion": result.conclusion(a, b),
            "test": result.test.method,
            "order": "A B, B A alternating",
            "confidence": result.confidence,
        },
        tags=("ds-profiler",),
        environment=environment.capture(),
    )
