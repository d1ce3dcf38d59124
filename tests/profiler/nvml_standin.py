"""A STAND-IN for the NVML module (``pynvml``), for tests on machines without a GPU.

It is not NVIDIA's library. It mirrors the parts of ``nvidia-ml-py`` that dsbench's NVML
backend calls — the same function names, return shapes, constants and the ``NVMLError``
hierarchy whose ``__new__`` maps an error code to a subclass (``NVMLError_NotSupported``,
``NVMLError_GpuIsLost``, ``NVMLError_LibraryNotFound`` …) — and lets a test script what each
GPU reports: values, unsupported calls, a GPU that gets lost, a library that is missing.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field

NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_PCIE_UTIL_TX_BYTES = 0
NVML_PCIE_UTIL_RX_BYTES = 1
NVML_GPM_METRICS_GET_VERSION = 1

_MESSAGES = {
    NVML_ERROR_NOT_SUPPORTED: "Not Supported", NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_NOT_FOUND: "Not Found", NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found", NVML_ERROR_GPU_IS_LOST: "GPU is lost",
}  # fmt: skip


class NVMLError(Exception):
    """As in pynvml: ``NVMLError(code)`` builds the subclass registered for ``code``."""

    _valClassMapping: dict[int, type] = {}

    def __new__(cls, value):
        if cls is NVMLError:
            cls = NVMLError._valClassMapping.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __init__(self, value=None):
        super().__init__(value)

    def __str__(self):
        return _MESSAGES.get(self.value, f"NVML Error with code {self.value}")


def _subclass(name: str, code: int) -> type:
    cls = type(name, (NVMLError,), {"__new__": lambda c, *a: NVMLError.__new__(c, code)})
    NVMLError._valClassMapping[code] = cls
    return cls


NVMLError_NotSupported = _subclass("NVMLError_NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_NoPermission = _subclass("NVMLError_NoPermission", NVML_ERROR_NO_PERMISSION)
NVMLError_NotFound = _subclass("NVMLError_NotFound", NVML_ERROR_NOT_FOUND)
NVMLError_LibraryNotFound = _subclass("NVMLError_LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_GpuIsLost = _subclass("NVMLError_GpuIsLost", NVML_ERROR_GPU_IS_LOST)


@dataclass
class FakeGpu:
    """What one stand-in GPU reports. ``unsupported``: function names raising NotSupported."""

    util_gpu: int = 55
    util_mem: int = 30
    mem_used: int = 60 * 2**30
    mem_total: int = 80 * 2**30
    power_mw: int = 350_000
    energy_mj: int = 1_000_000
    energy_step_mj: int = 35_000
    temp_c: int = 61
    sm_clock: int = 1980
    throttle: int = 0x4  # SwPowerCap
    pcie_kbps: int = 1024
    gpm_supported: bool = True
    gpm_values: dict = field(default_factory=lambda: {2: 40.0, 3: 25.0, 5: 10.0, 10: 65.0})
    processes: list = field(default_factory=list)  # [(pid, used_bytes, sm_util)]
    unsupported: set = field(default_factory=set)
    lost_after_calls: int | None = None
    calls: int = 0


def make_standin(gpus: list[FakeGpu] | None = None, init_error: int | None = None):
    """A module object named ``nvml_standin`` behaving like pynvml over ``gpus``."""
    gpus = [FakeGpu()] if gpus is None else gpus
    mod = types.ModuleType("nvml_standin")
    for name, value in globals().items():
        if name.startswith(("NVML_", "NVMLError")):
            setattr(mod, name, value)
    state = {"init": False}

    def guard(fn_name: str):
        def deco(fn):
            def wrapper(handle, *args):
                gpu = gpus[handle]
                gpu.calls += 1
                if gpu.lost_after_calls is not None and gpu.calls > gpu.lost_after_calls:
                    raise NVMLError(NVML_ERROR_GPU_IS_LOST)
                if fn_name in gpu.unsupported:
                    raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
                return fn(gpu, *args)

            setattr(mod, fn_name, wrapper)
            return wrapper

        return deco

    def nvmlInit():
        if init_error is not None:
            raise NVMLError(init_error)
        state["init"] = True

    mod.nvmlInit = nvmlInit
    mod.nvmlShutdown = lambda: state.update(init=False)
    mod.nvmlDeviceGetCount = lambda: len(gpus)
    mod.nvmlDeviceGetHandleByIndex = lambda i: i

    guard("nvmlDeviceGetUtilizationRates")(
        lambda g: types.SimpleNamespace(gpu=g.util_gpu, memory=g.util_mem)
    )
    guard("nvmlDeviceGetMemoryInfo")(
        lambda g: types.SimpleNamespace(
            used=g.mem_used, total=g.mem_total, free=g.mem_total - g.mem_used
        )
    )
    guard("nvmlDeviceGetPowerUsage")(lambda g: g.power_mw)

    def energy(g):
        g.energy_mj += g.energy_step_mj
        return g.energy_mj

    guard("nvmlDeviceGetTotalEnergyConsumption")(energy)
    guard("nvmlDeviceGetTemperature")(lambda g, sensor: g.temp_c)
    guard("nvmlDeviceGetClockInfo")(lambda g, clock: g.sm_clock)
    guard("nvmlDeviceGetCurrentClocksEventReasons")(lambda g: g.throttle)
    guard("nvmlDeviceGetPcieThroughput")(lambda g, counter: g.pcie_kbps)
    guard("nvmlGpmQueryDeviceSupport")(
        lambda g: types.SimpleNamespace(isSupportedDevice=int(g.gpm_supported))
    )
    guard("nvmlGpmSampleGet")(lambda g, sample: {"gpu": g, "n": g.calls})
    guard("nvmlDeviceGetComputeRunningProcesses")(
        lambda g: [types.SimpleNamespace(pid=p, usedGpuMemory=m) for p, m, _ in g.processes]
    )

    def proc_util(g, last_seen):
        if not g.processes:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return [
            types.SimpleNamespace(pid=p, smUtil=u, timeStamp=last_seen + 1)
            for p, _, u in g.processes
        ]

    guard("nvmlDeviceGetProcessUtilization")(proc_util)
    mod.nvmlGpmSampleAlloc = lambda: {}
    mod.nvmlGpmSampleFree = lambda sample: None

    class Metric:
        def __init__(self):
            self.metricId, self.nvmlReturn, self.value = 0, 0, 0.0

    class MetricsGet:
        def __init__(self):
            self.version = self.numMetrics = 0
            self.sample1 = self.sample2 = None
            self.metrics = [Metric() for _ in range(98)]

    def metrics_get(request):
        gpu = request.sample2["gpu"]
        for m in request.metrics[: request.numMetrics]:
            m.value = gpu.gpm_values.get(m.metricId, 0.0)
        return request

    mod.c_nvmlGpmMetricsGet_t = MetricsGet
    mod.nvmlGpmMetricsGet = metrics_get
    return mod
