"""CPU backend (psutil): host CPU and memory, and the monitored command's process tree.

Used when there is no NVIDIA GPU. It says so once (:attr:`CpuBackend.notice`) and reports
GPU metrics as ``None`` with that reason. Process-tree CPU time is accumulated over every
process seen, so the CPU time of a child that already exited is not lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from dsbench.profiler.telemetry.metrics import GPU_METRICS, HOST_METRICS, Sample
from dsbench.profiler.telemetry.process import process_tree

NOT_A_GPU = "cpu backend: not measuring a GPU"


class CpuBackend:
    """Samples the host. ``metrics``: names to read; GPU names read as None with a reason."""

    name = "cpu"

    def __init__(self, metrics: Iterable[str] | None = None) -> None:
        self.metrics = tuple(metrics or HOST_METRICS)
        gpu_asked = [m for m in self.metrics if m in GPU_METRICS]
        self.notice = (
            "ds-profiler: no NVIDIA GPU is being measured; the CPU backend records host CPU, "
            "memory and process-tree figures"
            + (f" ({', '.join(gpu_asked)} will be null)" if gpu_asked else "")
        )
        self._cpu_s: dict[tuple[int, float], float] = {}  # (pid, create_time) -> cpu s
        self._prev: tuple[float, float] | None = None  # (monotonic, tree cpu s)

    def start(self) -> None:
        import psutil

        psutil.cpu_percent(interval=None)  # prime: the first call has no reference
        psutil.cpu_percent(interval=None, percpu=True)

    def close(self) -> None:
        return None

    def read(self, root_pid: int | None = None) -> list[Sample]:
        import psutil

        values: dict[str, float | None] = {}
        reasons: dict[str, str] = {}
        want = set(self.metrics)
        if "cpu_util" in want:
            values["cpu_util"] = float(psutil.cpu_percent(interval=None))
        if "cpu_util_per_core" in want:
            for i, pct in enumerate(psutil.cpu_percent(interval=None, percpu=True)):
                values[f"cpu{i}_util"] = float(pct)
        if want & {"host_mem_pct", "host_mem_used_bytes"}:
            vm = psutil.virtual_memory()
            values["host_mem_pct"] = float(vm.percent)
            values["host_mem_used_bytes"] = float(vm.total - vm.available)
        if want & {"proc_rss_bytes", "proc_cpu_s", "proc_cpu_util"}:
            self._read_tree(root_pid, values, reasons)
        for m in self.metrics:
            if m in GPU_METRICS:
                values[m], reasons[m] = None, NOT_A_GPU
        values = {k: v for k, v in values.items() if k in want or k.startswith("cpu")}
        return [Sample(time.time(), "host", values, reasons)]

    def _read_tree(self, root_pid: int | None, values: dict, reasons: dict) -> None:
        names = ("proc_rss_bytes", "proc_cpu_s", "proc_cpu_util")
        if root_pid is None:
            for name in names:
                values[name], reasons[name] = None, "no monitored command (use `-- CMD`)"
            return
        rss = 0.0
        for proc in process_tree(root_pid):
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    rss += proc.memory_info().rss
                    key = (proc.pid, proc.create_time())
                self._cpu_s[key] = times.user + times.system
            except Exception:  # noqa: BLE001 - the process ended between listing and reading
                continue
        total = sum(self._cpu_s.values())
        now = time.monotonic()
        values["proc_rss_bytes"] = rss
        values["proc_cpu_s"] = total
        if self._prev is None:
            values["proc_cpu_util"] = None
            reasons["proc_cpu_util"] = "first sample; CPU use is a difference of two samples"
        else:
            dt = now - self._prev[0]
            values["proc_cpu_util"] = 100.0 * (total - self._prev[1]) / dt if dt > 0 else None
        self._prev = (now, total)
