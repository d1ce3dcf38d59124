"""Measure a registered workload: check it against its reference, time it, make a record.

This is the path every workload measurement takes (``dsbench run``, ``ds-profiler run``,
claim checks): build the case at a size, compare its output with the slow reference —
a fast path that is wrong is not timed — then time it with :mod:`dsbench.core.timing` and report
achieved FLOP/s and bytes/s from the workload's analytic counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dsbench.core import environment
from dsbench.core.errors import DsbenchError
from dsbench.core.results import Kind, Metric, Record
from dsbench.core.timing import TimerConfig, time_fn

DTYPES = ("float32", "float64", "bfloat16", "float16")


def max_abs_error(actual: Any, expected: Any) -> float:
    """Largest absolute difference between two outputs (tensors, or tuples/dicts of them)."""
    import torch

    if isinstance(actual, torch.Tensor):
        if actual.shape != expected.shape:
            raise DsbenchError(
                f"output shape {tuple(actual.shape)} != reference shape {tuple(expected.shape)}"
            )
        if actual.numel() == 0:
            return 0.0
        return (actual.double() - expected.double()).abs().max().item()
    if isinstance(actual, Mapping):
        return max((max_abs_error(actual[k], expected[k]) for k in actual), default=0.0)
    if isinstance(actual, tuple | list):
        return max(
            (max_abs_error(a, e) for a, e in zip(actual, expected, strict=True)), default=0.0
        )
    return abs(float(actual) - float(expected))


def _allclose(actual: Any, expected: Any, atol: float, rtol: float) -> bool:
    import torch

    if isinstance(actual, torch.Tensor):
        return torch.allclose(actual.double(), expected.double(), atol=atol, rtol=rtol)
    if isinstance(actual, Mapping):
        return all(_allclose(actual[k], expected[k], atol, rtol) for k in actual)
    if isinstance(actual, tuple | list):
        return all(_allclose(a, e, atol, rtol) for a, e in zip(actual, expected, strict=True))
    return abs(float(actual) - float(expected)) <= atol + rtol * abs(float(expected))


def check_device(device: str) -> None:
    """Raise a user error when ``device`` cannot be used on this machine."""
    import torch

    if device == "cpu":
        return
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DsbenchError(
                f"--device {device}: CUDA is not available here (torch {torch.__version__}, "
                f"CUDA build: {torch.version.cuda or 'none'}); use --device cpu"
            )
        return
    raise DsbenchError(f"--device {device!r} is not supported; use cpu or cuda[:N]")


def measure_workload(
    name: str,
    size: str = "tiny",
    device: str = "cpu",
    dtype: str = "float32",
    config: TimerConfig | None = None,
    check: bool = True,
    tags: tuple[str, ...] = (),
) -> Record:
    """Check and time workload ``name``; return a measurement record (not yet saved)."""
    from workloads import base

    try:
        workload = base.get(name)
    except base.UnknownWorkload as exc:
        raise DsbenchError(str(exc)) from exc
    if size not in workload.sizes:
        raise DsbenchError(
            f"workload {name!r} has no size {size!r}; sizes: {', '.join(workload.sizes)}"
        )
    if dtype not in DTYPES:
        raise DsbenchError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    check_device(device)
    case = workload.build(size, device, dtype)
    metrics: dict[str, Metric] = {}
    if check and case.reference is not None:
        out, ref = case.fn(), case.reference()
        err = max_abs_error(out, ref)
        metrics["max_abs_error"] = Metric(err, "1")
        if not _allclose(out, ref, case.atol, case.rtol):
            raise DsbenchError(
                f"{name} ({size}, {device}, {dtype}) disagrees with its reference: max abs "
                f"error {err:.3g} exceeds atol {case.atol:g} + rtol {case.rtol:g}; not timed"
            )
    timing = time_fn(case.fn, device=device, config=config)
    metrics["time"] = timing.metric()
    if case.flops:
        metrics["achieved_flops_per_s"] = Metric(case.flops / timing.median_s, "FLOP/s")
    if case.bytes_moved:
        metrics["achieved_bytes_per_s"] = Metric(case.bytes_moved / timing.median_s, "B/s")
    return Record(
        kind=Kind.MEASUREMENT,
        name=name,
        params={"size": size, "device": device, "dtype": dtype, **dict(case.params)},
        metrics=metrics,
        info={
            "timer": timing.summary(),
            "warnings": list(timing.warnings),
            "claim_ids": list(workload.claim_ids),
            "flops_per_call": case.flops,
            "bytes_per_call": case.bytes_moved,
        },
        tags=tags,
        environment=environment.capture(),
    )
