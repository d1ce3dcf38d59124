"""torch.profiler traces: record one (Chrome/Kineto JSON), and analyse one.

:func:`record_trace` runs a callable under ``torch.profiler`` with a wait / warm-up / active
schedule, shapes, memory and FLOP recording, and writes the trace with
``tensorboard_trace_handler`` (``<worker>.<time>.pt.trace.json``): the file Perfetto and
``chrome://tracing`` open, and the layout TensorBoard's profiler plugin and Holistic Trace
Analysis read. If the trace has no ``distributedInfo`` (single process) one is added with
rank 0, because HTA looks the rank up there (HTA issue #107).

:func:`analyze_trace` is the bottleneck report: the trace's span split into compute,
communication (NCCL/gloo kernels or ops), memory copies/sets and idle; idle split into
*host-wait* (the next kernel was not launched yet when the GPU went idle), *launch-bound*
(it was queued, and the gap is a launch gap of at most ``launch_gap_us``) and *other*; the
top operators by self time; and the share of communication overlapped by computation.
Pure Python over the JSON; torch is not imported.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsbench.core.errors import DsbenchError

if TYPE_CHECKING:
    import pandas as pd

GPU_CATS = ("kernel", "gpu_memcpy", "gpu_memset")
COMM_MARKERS = ("nccl", "c10d::", "gloo", "all_reduce", "allreduce", "all_gather")
LAUNCH_GAP_US = 30.0


@dataclass(frozen=True)
class TraceSchedule:
    """torch.profiler.schedule arguments: steps skipped, warmed up, then recorded."""

    wait: int = 1
    warmup: int = 1
    active: int = 3

    def __post_init__(self) -> None:
        if self.wait < 0 or self.warmup < 0 or self.active < 1:
            raise ValueError(
                f"need wait({self.wait}) >= 0, warmup({self.warmup}) >= 0, "
                f"active({self.active}) >= 1"
            )

    @property
    def steps(self) -> int:
        return self.wait + self.warmup + self.active


def record_trace(
    fn: Callable[[], Any],
    out_dir: str | Path,
    device: str = "cpu",
    schedule: TraceSchedule = TraceSchedule(),
    worker: str = "dsbench",
) -> Path:
    """Profile ``schedule.steps`` calls of ``fn``; return the written trace file."""
    import torch
    from torch.profiler import ProfilerActivity, profile, tensorboard_trace_handler

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.glob("*.pt.trace.json"))
    activities = [ProfilerActivity.CPU]
    if device.startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
    with profile(
        activities=activities,
        schedule=torch.profiler.schedule(
            wait=schedule.wait, warmup=schedule.warmup, active=schedule.active
        ),
        on_trace_ready=tensorboard_trace_handler(str(out_dir), worker_name=worker),
        record_shapes=True,
        profile_memory=True,
        with_flops=True,
    ) as prof:
        for _ in range(schedule.steps):
            fn()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            prof.step()
    written = sorted(set(out_dir.glob("*.pt.trace.json")) - before)
    if not written:
        raise DsbenchError(f"torch.profiler wrote no trace into {out_dir}")
    _add_distributed_info(written[-1])
    return written[-1]


def _add_distributed_info(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    if "distributedInfo" in data:
        return
    data["distributedInfo"] = {"backend": "none", "rank": 0, "world_size": 1}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)


def trace_files(path: str | Path) -> list[Path]:
    """Trace files at ``path`` (a file, or a folder searched for *.json and *.json.gz)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DsbenchError(f"{path}: no such trace file or folder")
    files = sorted(p for p in path.rglob("*") if p.name.endswith((".json", ".json.gz")))
    if not files:
        raise DsbenchError(f"{path}: no trace (*.json or *.json.gz) in this folder")
    return files


def load_trace(path: Path) -> dict[str, Any]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise DsbenchError(f"{path}: not a readable trace ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise DsbenchError(f"{path}: not a Chrome/Kineto trace (no traceEvents list)")
    return data


@dataclass(frozen=True)
class TraceReport:
    """summary: times in µs and shares in % (keys documented in :func:`analyze_events`).
    top_ops: DataFrame with columns name, calls, total_us, self_us, self_pct."""

    file: Path
    summary: dict[str, Any]
    top_ops: pd.DataFrame


def analyze_trace(
    path: str | Path, top: int = 10, launch_gap_us: float = LAUNCH_GAP_US
) -> list[TraceReport]:
    """One report per trace file under ``path``."""
    reports = []
    for file in trace_files(path):
        events = load_trace(file)["traceEvents"]
        summary, ops = analyze_events(events, launch_gap_us)
        reports.append(TraceReport(file, summary, _top_table(ops, top)))
    return reports


def _union(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def _length(intervals: list[tuple[float, float]]) -> float:
    return sum(b - a for a, b in intervals)


def _intersection(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        total += max(0.0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def _is_comm(name: str) -> bool:
    low = name.lower()
    return any(m in low for m in COMM_MARKERS)


def analyze_events(
    events: list[dict[str, Any]], launch_gap_us: float = LAUNCH_GAP_US
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Breakdown of a Kineto event list.

    Returns (summary, ops). summary keys: ``timeline`` ("gpu" when kernels exist, else
    "cpu"), ``steps``, ``span_us``, ``compute_us``, ``communication_us``, ``memory_us``,
    ``idle_us``, ``idle_host_wait_us``, ``idle_launch_bound_us``, ``idle_other_us``, the same
    as ``*_pct`` of the span, ``comm_overlap_pct`` (communication time overlapped by
    compute; None without communication) and ``n_device_events``.
    """
    complete = [e for e in events if e.get("ph") == "X" and "dur" in e and "ts" in e]
    steps = [e for e in complete if str(e.get("name", "")).startswith("ProfilerStep#")]
    device = [e for e in complete if e.get("cat") in GPU_CATS]
    timeline = "gpu" if device else "cpu"
    if not device:
        device = [e for e in complete if e.get("cat") == "cpu_op"]
    if not device:
        raise DsbenchError("the trace holds no kernels and no CPU operators to analyse")
    frame = steps or complete
    lo = min(e["ts"] for e in frame)
    hi = max(e["ts"] + e["dur"] for e in frame)
    kinds: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for e in device:
        kind = (
            "memory"
            if e.get("cat") in ("gpu_memcpy", "gpu_memset")
            else "communication"
            if _is_comm(str(e.get("name", "")))
            else "compute"
        )
        kinds[kind].append((max(e["ts"], lo), min(e["ts"] + e["dur"], hi)))
    unions = {k: _union(v) for k, v in kinds.items()}
    busy = _union(iv for u in unions.values() for iv in u)
    span = hi - lo
    idle = (
        _split_idle(device, busy, lo, hi, events, launch_gap_us)
        if timeline == "gpu"
        else {"host_wait": None, "launch_bound": None, "other": None}
    )
    summary: dict[str, Any] = {
        "timeline": timeline,
        "steps": len(steps),
        "span_us": span,
        "n_device_events": len(device),
    }
    for k in ("compute", "communication", "memory"):
        summary[f"{k}_us"] = _length(unions.get(k, []))
    summary["idle_us"] = span - _length(busy)
    for k, v in idle.items():
        summary[f"idle_{k}_us"] = v
    for k in [k for k in summary if k.endswith("_us") and k != "span_us"]:
        v = summary[k]
        summary[k.removesuffix("_us") + "_pct"] = None if v is None or not span else 100 * v / span
    comm = unions.get("communication", [])
    summary["comm_overlap_pct"] = (
        (100 * _intersection(comm, unions.get("compute", [])) / _length(comm)) if comm else None
    )
    ops = _self_times(
        device if timeline == "gpu" else [e for e in complete if e.get("cat") == "cpu_op"]
    )
    return summary, ops


def _split_idle(device, busy, lo, hi, events, launch_gap_us) -> dict[str, float]:
    """Classify each idle gap on the GPU timeline by when its next kernel was launched."""
    launch = {}
    for e in events:
        if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {}):
            launch[e["args"]["correlation"]] = e["ts"]
    first_start = {}
    for e in sorted(device, key=lambda e: e["ts"]):
        first_start.setdefault(e["ts"], e)
    starts = sorted(first_start)
    out = {"host_wait": 0.0, "launch_bound": 0.0, "other": 0.0}
    edges = [(lo, lo)] + busy + [(hi, hi)]
    for (_, gap_start), (gap_end, _) in zip(edges, edges[1:], strict=False):
        gap = gap_end - gap_start
        if gap <= 0:
            continue
        nxt = next((first_start[s] for s in starts if s >= gap_end), None)
        launched = launch.get(nxt.get("args", {}).get("correlation")) if nxt else None
        if nxt is None:
            out["other"] += gap  # after the last kernel: the step's host-side tail
        elif launched is not None and launched >= gap_start:
            out["host_wait"] += gap  # the GPU ran dry before the host launched more
        elif gap <= launch_gap_us:
            out["launch_bound"] += gap  # queued (or unknown) and only a launch gap apart
        else:
            out["other"] += gap  # queued yet long idle: waiting on an event, a sync...
    return out


def _self_times(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per event: name, duration and self time (duration minus nested children, per thread)."""
    by_thread: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for e in ops:
        by_thread[(e.get("pid"), e.get("tid"))].append(e)
    out = []
    for evs in by_thread.values():
        stack: list[dict[str, Any]] = []
        for e in sorted(evs, key=lambda e: (e["ts"], -e["dur"])):
            row = {
                "name": e.get("name", "?"),
                "total_us": float(e["dur"]),
                "self_us": float(e["dur"]),
                "end": e["ts"] + e["dur"],
            }
            while stack and stack[-1]["end"] <= e["ts"]:
                stack.pop()
            if stack:
                stack[-1]["self_us"] -= row["total_us"]
            stack.append(row)
            out.append(row)
    return out


def _top_table(rows: list[dict[str, Any]], top: int) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["name", "total_us", "self_us", "end"])
    if frame.empty:
        return pd.DataFrame(columns=["name", "calls", "total_us", "self_us", "self_pct"])
    grouped = (
        frame.groupby("name")
        .agg(calls=("name", "size"), total_us=("total_us", "sum"), self_us=("self_us", "sum"))
        .reset_index()
    )
    grouped["self_pct"] = 100 * grouped["self_us"] / grouped["self_us"].sum()
    return grouped.sort_values("self_us", ascending=False).head(top).reset_index(drop=True)
