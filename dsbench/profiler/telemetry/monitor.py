"""The monitor: sample a backend, window, alert, log — optionally around a command.

:func:`run_monitor` is the library function behind ``ds-profiler --metric … --window …``.
It validates everything before it creates a file or starts a process, then loops: read the
backend, log each sample, push it into the windows, log closed windows and alert events,
until the duration ends, the command exits, or SIGINT/SIGTERM arrives. Then the command is
stopped (SIGTERM to its process group, SIGKILL after a grace period), the partial window is
flushed, a summary record is stored, and the exit code is returned: the command's own, or
130 (SIGINT) / 143 (SIGTERM).
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from dsbench.core.errors import DsbenchError
from dsbench.profiler.telemetry.alerts import DEFAULT_RULES, AlertEngine, AlertRule
from dsbench.profiler.telemetry.cpu import CpuBackend
from dsbench.profiler.telemetry.logs import RunLog, check_writable
from dsbench.profiler.telemetry.metrics import ALL, GPU_METRICS, HOST_METRICS, SPECS, Sample
from dsbench.profiler.telemetry.nvml import BackendError, NvmlBackend
from dsbench.profiler.telemetry.replay import ReplayBackend
from dsbench.profiler.telemetry.window import Windower, WindowStats

GRACE_S = 5.0  # how long the command gets to exit after SIGTERM before SIGKILL
CHILD_POLL_S = 0.05  # how often the child's exit is checked between samples


@dataclass(frozen=True)
class MonitorConfig:
    """What to monitor and how.

    metrics: metric names, or ("all",).
    window_s: window length; interval_s: sampling period (<= window_s).
    duration_s: stop after this long (None: until the command exits or a signal).
    backend: "auto", "nvml", "cpu" or "replay:FILE".
    command: argv to run and monitor (None: monitor only).
    """

    metrics: tuple[str, ...] = ("gpu_util",)
    window_s: float = 60.0
    interval_s: float = 1.0
    duration_s: float | None = None
    backend: str = "auto"
    log_dir: Path = Path("logs")
    command: tuple[str, ...] | None = None
    rules: tuple[AlertRule, ...] = DEFAULT_RULES
    results_dir: Path | None = Path("results/runs")

    def __post_init__(self) -> None:
        if not (self.window_s > 0 and math.isfinite(self.window_s)):
            raise DsbenchError(f"--window must be > 0 seconds, got {self.window_s:g}")
        if not self.interval_s > 0:
            raise DsbenchError(f"--interval must be > 0 seconds, got {self.interval_s:g}")
        if self.interval_s > self.window_s:
            raise DsbenchError(
                f"--interval {self.interval_s:g} s is longer than --window "
                f"{self.window_s:g} s; a window would hold no sample"
            )
        if self.duration_s is not None and not self.duration_s > 0:
            raise DsbenchError(f"--duration must be > 0 seconds, got {self.duration_s:g}")
        if self.command is not None and not self.command:
            raise DsbenchError("missing command after `--`")
        unknown = [m for m in self.metrics if m != ALL and m not in SPECS]
        if unknown:
            raise DsbenchError(f"unknown metric {unknown[0]!r}")


@dataclass
class MonitorResult:
    exit_code: int
    log_folder: Path
    record_path: Path | None
    n_samples: int
    events: list[dict[str, Any]] = field(default_factory=list)
    stopped_by: str | None = None  # "SIGINT" / "SIGTERM" / None


def make_backend(spec: str, metrics: tuple[str, ...], nvml: ModuleType | None = None):
    """Build and start the backend named by ``spec``; BackendError if it cannot start."""
    everything = metrics == (ALL,)
    if spec.startswith("replay:"):
        backend = ReplayBackend(spec.removeprefix("replay:"), None if everything else metrics)
        backend.start()
        return backend
    if spec not in ("auto", "nvml", "cpu"):
        raise DsbenchError(f"--backend {spec!r}: use auto, nvml, cpu or replay:FILE")
    if spec in ("auto", "nvml"):
        gpu_metrics = GPU_METRICS if everything else tuple(m for m in metrics if m in GPU_METRICS)
        backend = NvmlBackend(gpu_metrics or GPU_METRICS, nvml=nvml)
        try:
            backend.start()
            return backend
        except BackendError as exc:
            if spec == "nvml":
                raise
            fallback_reason = str(exc)
    cpu_metrics = HOST_METRICS if everything else metrics
    if any(m in GPU_METRICS for m in cpu_metrics):
        # The GPU metrics asked for stay (as null with the reason); add what the host has.
        cpu_metrics = tuple(
            dict.fromkeys(
                (
                    *cpu_metrics,
                    "cpu_util",
                    "host_mem_pct",
                    "proc_rss_bytes",
                    "proc_cpu_s",
                    "proc_cpu_util",
                )
            )
        )
    backend = CpuBackend(cpu_metrics)
    if spec == "auto":
        backend.notice += f" ({fallback_reason})"
    backend.start()
    return backend


class _Stop:
    """Set by SIGINT/SIGTERM; the loop waits on it so a signal ends a sleep at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None

    def __call__(self, signum: int, _frame: Any) -> None:
        self.signum = signum
        self.event.set()


def run_monitor(
    config: MonitorConfig,
    on_samples: Callable[[list[Sample]], None] = lambda s: None,
    on_windows: Callable[[list[WindowStats], list[dict]], None] = lambda w, e: None,
    notice: Callable[[str], None] = print,
    nvml: ModuleType | None = None,
) -> MonitorResult:
    """Monitor per ``config``; see the module docstring. Callbacks drive the terminal view."""
    if config.command and shutil.which(config.command[0]) is None:
        raise DsbenchError(f"command not found: {config.command[0]!r}")
    if config.command and config.backend.startswith("replay:"):
        raise DsbenchError("the replay backend cannot monitor a command; drop `-- CMD`")
    check_writable(config.log_dir)
    backend = make_backend(config.backend, config.metrics, nvml)
    if backend.notice:
        notice(backend.notice)
    log = RunLog(config.log_dir)
    windower, alerts = Windower(config.window_s), AlertEngine(config.rules)
    state = _LoopState(log, windower, alerts, on_samples, on_windows)
    stop = _Stop()
    old = _install(stop)
    child = None
    try:
        if config.command:
            child = subprocess.Popen(list(config.command), start_new_session=True)
        if isinstance(backend, ReplayBackend):
            for batch in backend.batches():
                state.handle(batch)
        else:
            _live_loop(config, backend, state, stop, child)
    finally:
        _restore(old)
        child_code = _stop_child(child) if child else None
        state.handle_windows(windower.flush())
        backend.close()
        log.close()
    exit_code = _exit_code(stop.signum, child_code)
    stopped_by = signal.Signals(stop.signum).name if stop.signum else None
    record_path = _save_summary(config, backend.name, state, exit_code, stopped_by)
    return MonitorResult(
        exit_code, log.folder, record_path, state.n_samples, state.events, stopped_by
    )


@dataclass
class _LoopState:
    log: RunLog
    windower: Windower
    alerts: AlertEngine
    on_samples: Callable
    on_windows: Callable
    n_samples: int = 0
    events: list = field(default_factory=list)
    windows: list = field(default_factory=list)
    reasons: dict = field(default_factory=dict)

    def handle(self, samples: list[Sample]) -> None:
        for sample in samples:
            self.log.write("samples", sample.to_dict())
            self.n_samples += 1
            self.reasons.update({f"{sample.device}.{k}": r for k, r in sample.reasons.items()})
            self.handle_windows(self.windower.push(sample))
        self.on_samples(samples)

    def handle_windows(self, windows: list[WindowStats]) -> None:
        if not windows:
            return
        events = self.alerts.update(windows)
        for w in windows:
            self.log.write("windows", w.to_dict())
        for e in events:
            self.log.write("alerts", e)
        self.windows += windows
        self.events += events
        self.on_windows(windows, events)


def _live_loop(config, backend, state: _LoopState, stop: _Stop, child) -> None:
    start = time.monotonic()
    next_t = start
    root = child.pid if child else None
    while not stop.event.is_set():
        state.handle(backend.read(root))
        if config.duration_s is not None and time.monotonic() - start >= config.duration_s:
            return
        next_t += config.interval_s
        while (left := next_t - time.monotonic()) > 0:
            if child is not None and child.poll() is not None:
                return
            if stop.event.wait(min(left, CHILD_POLL_S)):
                return
        if child is not None and child.poll() is not None:
            return


def _install(stop: _Stop) -> dict:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore(old: dict) -> None:
    for sig, handler in old.items():
        signal.signal(sig, handler)


def _stop_child(child: subprocess.Popen) -> int:
    """Return the child's exit code, stopping its process group first if it still runs."""
    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        except ProcessLookupError:
            child.wait()
    return child.returncode


def _exit_code(signum: int | None, child_code: int | None) -> int:
    if signum is not None:
        return 128 + signum  # 130 for SIGINT, 143 for SIGTERM
    if child_code is None:
        return 0
    return child_code if child_code >= 0 else 128 - child_code  # killed by a signal


def _save_summary(
    config: MonitorConfig, backend: str, state: _LoopState, exit_code: int, stopped_by: str | None
) -> Path | None:
    """One measurement record: per device and metric, the mean of window means."""
    from dsbench.core import environment, results
    from dsbench.core.results import Kind, Metric, Record

    series: dict[str, list[float]] = {}
    units: dict[str, str] = {}
    for w in state.windows:
        if w.stats["mean"] is not None:
            series.setdefault(f"{w.device}.{w.metric}", []).append(w.stats["mean"])
            units[f"{w.device}.{w.metric}"] = w.unit
    metrics = {k: Metric(sum(v) / len(v), units[k], tuple(v)) for k, v in series.items()}
    record = Record(
        kind=Kind.MEASUREMENT,
        name="monitor",
        params={
            "backend": backend,
            "metrics": list(config.metrics),
            "window_s": config.window_s,
            "interval_s": config.interval_s,
            "command": list(config.command or []),
        },
        metrics=metrics,
        info={
            "log_folder": str(state.log.folder),
            "n_samples": state.n_samples,
            "n_windows": len({(w.start, w.end) for w in state.windows}),
            "alerts": state.events,
            "null_reasons": state.reasons,
            "exit_code": exit_code,
            "stopped_by": stopped_by,
            "note": "metric values are means of window means; samples are the window means",
        },
        tags=("ds-profiler",),
        environment=environment.capture(),
    )
    if config.results_dir is None:
        return None
    return results.save(record, config.results_dir)
