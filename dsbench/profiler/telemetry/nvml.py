"""NVML backend: per-GPU telemetry through ``nvidia-ml-py`` (module ``pynvml``).

Every metric is read with the NVML call named in :mod:`dsbench.profiler.telemetry.metrics`. A call
the device cannot answer (``NVMLError_NotSupported``, no permission, an old driver without
the function) gives ``None`` and the reason, never 0, and is not asked again. A lost GPU
(``NVMLError_GpuIsLost``) makes every metric of that GPU ``None`` with that reason. GPM
metrics (Hopper or newer) are computed between this sample and the previous one, so their
averaging period is the sampling interval, not the driver's.

The module object is injected (``nvml=``) so that tests can use a stand-in that behaves as
the real library does; production code passes nothing and gets ``pynvml``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from dsbench.core.errors import DsbenchError
from dsbench.profiler.telemetry.metrics import GPU_METRICS, Sample
from dsbench.profiler.telemetry.process import process_tree_pids

# GPM metric ids (nvml.h, nvmlGpmMetricId_t).
GPM_IDS = {"sm_active": 2, "sm_occupancy": 3, "tensor_active": 5, "dram_bw_util": 10}
THROTTLE_NAMES = {
    0x1: "GpuIdle", 0x2: "ApplicationsClocksSetting", 0x4: "SwPowerCap", 0x8: "HwSlowdown",
    0x10: "SyncBoost", 0x20: "SwThermalSlowdown", 0x40: "HwThermalSlowdown",
    0x80: "HwPowerBrakeSlowdown", 0x100: "DisplayClockSetting",
}  # fmt: skip


class BackendError(DsbenchError):
    """A telemetry backend cannot start (no library, no device, unreadable replay file)."""


def throttle_names(mask: int) -> list[str]:
    """Names of the bits set in an NVML clocks-event-reasons mask."""
    return [name for bit, name in THROTTLE_NAMES.items() if mask & bit]


class _Unavailable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NvmlBackend:
    """Samples every visible GPU. ``metrics`` limits what is read (``None`` = all)."""

    name = "nvml"
    notice: str | None = None

    def __init__(self, metrics: Iterable[str] | None = None, nvml: ModuleType | None = None):
        self.metrics = tuple(m for m in (metrics or GPU_METRICS) if m in GPU_METRICS)
        self._nvml = nvml
        self._handles: list[Any] = []
        self._dead: dict[tuple[int, str], str] = {}  # (gpu, metric) -> reason, never re-asked
        self._lost: dict[int, str] = {}
        self._energy_mj: dict[int, int] = {}
        self._gpm_prev: dict[int, Any] = {}
        self._proc_seen_us: dict[int, int] = {}

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        """Initialise NVML and find the GPUs; BackendError with NVML's reason otherwise."""
        if self._nvml is None:
            try:
                import pynvml
            except ImportError as exc:
                raise BackendError("nvml backend: nvidia-ml-py is not installed") from exc
            self._nvml = pynvml
        nv = self._nvml
        try:
            nv.nvmlInit()
            count = nv.nvmlDeviceGetCount()
            self._handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except nv.NVMLError as exc:
            raise BackendError(f"nvml backend cannot start: {exc}") from exc
        if not self._handles:
            raise BackendError("nvml backend cannot start: NVML sees no GPU")

    def close(self) -> None:
        nv = self._nvml
        if nv is None or not self._handles:
            return
        for sample in self._gpm_prev.values():
            with contextlib.suppress(nv.NVMLError):
                nv.nvmlGpmSampleFree(sample)
        with contextlib.suppress(nv.NVMLError):
            nv.nvmlShutdown()
        self._handles = []

    # -- reading ------------------------------------------------------------------------
    def read(self, root_pid: int | None = None) -> list[Sample]:
        now = time.time()
        pids = process_tree_pids(root_pid) if root_pid else set()
        return [self._read_gpu(i, h, now, pids) for i, h in enumerate(self._handles)]

    def _read_gpu(self, index: int, handle: Any, now: float, pids: set[int]) -> Sample:
        values: dict[str, float | None] = {}
        reasons: dict[str, str] = {}
        readers = self._readers(index, handle, pids)
        for metric in self.metrics:
            if index in self._lost:
                values[metric], reasons[metric] = None, self._lost[index]
                continue
            if (index, metric) in self._dead:
                values[metric], reasons[metric] = None, self._dead[(index, metric)]
                continue
            try:
                values[metric] = readers[metric]()
            except _Unavailable as exc:
                values[metric], reasons[metric] = None, exc.reason
            except self._nvml.NVMLError as exc:
                values[metric], reasons[metric] = None, self._classify(index, metric, exc)
        return Sample(now, f"gpu{index}", values, reasons)

    def _classify(self, index: int, metric: str, exc: Exception) -> str:
        nv = self._nvml
        code = getattr(exc, "value", None)
        if code == nv.NVML_ERROR_GPU_IS_LOST:
            self._lost[index] = f"GPU is lost ({exc}); no further readings"
            return self._lost[index]
        if code == nv.NVML_ERROR_NOT_SUPPORTED:
            reason = f"not supported on this GPU ({exc})"
        elif code == getattr(nv, "NVML_ERROR_NO_PERMISSION", -1):
            reason = f"no permission ({exc})"
        elif code == getattr(nv, "NVML_ERROR_FUNCTION_NOT_FOUND", -1):
            reason = f"driver too old for this call ({exc})"
        else:
            return f"NVML error: {exc}"  # transient: ask again next time
        self._dead[(index, metric)] = reason
        return reason

    def _readers(self, index: int, h: Any, pids: set[int]) -> dict[str, Callable[[], Any]]:
        nv = self._nvml
        mem = _cached(lambda: nv.nvmlDeviceGetMemoryInfo(h))
        util = _cached(lambda: nv.nvmlDeviceGetUtilizationRates(h))
        gpm = _cached(lambda: self._gpm(index, h))
        return {
            "gpu_util": lambda: float(util().gpu),
            "mem_busy": lambda: float(util().memory),
            "mem_used_bytes": lambda: float(mem().used),
            "mem_total_bytes": lambda: float(mem().total),
            "mem_used_pct": lambda: 100.0 * mem().used / mem().total,
            "power_w": lambda: nv.nvmlDeviceGetPowerUsage(h) / 1000.0,
            "energy_j": lambda: self._energy(index, h),
            "temp_c": lambda: float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)),
            "sm_clock_mhz": lambda: float(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)),
            "throttle_reasons": lambda: float(self._throttle(h)),
            "pcie_rx_bytes_per_s": lambda: (
                1024.0 * nv.nvmlDeviceGetPcieThroughput(h, nv.NVML_PCIE_UTIL_RX_BYTES)
            ),
            "pcie_tx_bytes_per_s": lambda: (
                1024.0 * nv.nvmlDeviceGetPcieThroughput(h, nv.NVML_PCIE_UTIL_TX_BYTES)
            ),
            **{m: (lambda m=m: gpm()[m]) for m in GPM_IDS},
            "proc_gpu_mem_bytes": lambda: self._proc_memory(h, pids),
            "proc_sm_util": lambda: self._proc_util(index, h, pids),
        }

    def _throttle(self, h: Any) -> int:
        nv = self._nvml
        fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None)
        if fn is None:  # older bindings only have the deprecated name
            fn = nv.nvmlDeviceGetCurrentClocksThrottleReasons
        return int(fn(h))

    def _energy(self, index: int, h: Any) -> float:
        now_mj = int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h))
        prev = self._energy_mj.get(index)
        self._energy_mj[index] = now_mj
        if prev is None:
            raise _Unavailable("first reading of the energy counter; deltas start next sample")
        return (now_mj - prev) / 1000.0

    def _gpm(self, index: int, h: Any) -> dict[str, float | None]:
        """GPM metrics between the previous GPM sample of this GPU and a new one."""
        nv = self._nvml
        if not hasattr(nv, "nvmlGpmQueryDeviceSupport"):
            raise _Unavailable("this nvidia-ml-py has no GPM functions")
        if not nv.nvmlGpmQueryDeviceSupport(h).isSupportedDevice:
            self._dead.update({(index, m): "GPM needs a Hopper or newer GPU" for m in GPM_IDS})
            raise _Unavailable("GPM needs a Hopper or newer GPU")
        sample = nv.nvmlGpmSampleGet(h, nv.nvmlGpmSampleAlloc())
        prev = self._gpm_prev.get(index)
        self._gpm_prev[index] = sample
        if prev is None:
            raise _Unavailable("first GPM sample; GPM metrics need two samples")
        request = nv.c_nvmlGpmMetricsGet_t()
        request.version = nv.NVML_GPM_METRICS_GET_VERSION
        request.numMetrics = len(GPM_IDS)
        request.sample1, request.sample2 = prev, sample
        for slot, metric_id in enumerate(GPM_IDS.values()):
            request.metrics[slot].metricId = metric_id
        result = nv.nvmlGpmMetricsGet(request)
        nv.nvmlGpmSampleFree(prev)
        out: dict[str, float | None] = {}
        for slot, name in enumerate(GPM_IDS):
            entry = result.metrics[slot]
            out[name] = float(entry.value) if entry.nvmlReturn == 0 else None
        return out

    def _proc_memory(self, h: Any, pids: set[int]) -> float:
        if not pids:
            raise _Unavailable("no monitored command (per-process figures need `-- CMD`)")
        procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(h)
        used = [p.usedGpuMemory for p in procs if p.pid in pids]
        if any(u is None for u in used):
            raise _Unavailable("NVML does not report per-process memory here")
        return float(sum(used))

    def _proc_util(self, index: int, h: Any, pids: set[int]) -> float:
        if not pids:
            raise _Unavailable("no monitored command (per-process figures need `-- CMD`)")
        nv = self._nvml
        try:
            rows = nv.nvmlDeviceGetProcessUtilization(h, self._proc_seen_us.get(index, 0))
        except nv.NVMLError as exc:
            if getattr(exc, "value", None) == nv.NVML_ERROR_NOT_FOUND:
                return 0.0  # NVML: no process used the GPU since the last call
            raise
        if rows:
            self._proc_seen_us[index] = max(r.timeStamp for r in rows)
        return float(sum(r.smUtil for r in rows if r.pid in pids))


def _cached(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Call ``fn`` once per sample even when several metrics need its result (or error)."""
    box: list[tuple[bool, Any]] = []

    def get() -> Any:
        if not box:
            try:
                box.append((True, fn()))
            except Exception as exc:  # noqa: BLE001 - re-raised to every caller below
                box.append((False, exc))
        ok, value = box[0]
        if not ok:
            raise value
        return value

    return get
