"""The metric catalogue and the sample every backend produces.

Each metric has one name, one unit and one meaning, stated here once. Names say what a
number is, not what people wish it were: ``gpu_util`` is NVML's ``utilization.gpu``, the
share of the driver's sample period in which *any* kernel ran (a duty cycle), and is never
relabelled "SM utilisation"; that is ``sm_active`` (NVML GPM, Hopper or newer).

A :class:`Sample` is one reading of one device at one time. A metric the device cannot give
is ``None`` with a reason in ``reasons`` — never 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dsbench.core.errors import DsbenchError


class Source(StrEnum):
    GPU = "gpu"  # needs an NVIDIA GPU (NVML backend)
    HOST = "host"  # the CPU backend
    PROCESS = "process"  # the monitored command's process tree


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str
    source: Source
    meaning: str


_SPECS = (
    MetricSpec(
        "gpu_util",
        "%",
        Source.GPU,
        "NVML utilization.gpu: share of the sample period in which any kernel ran "
        "(a duty cycle, not SM usage)",
    ),
    MetricSpec(
        "mem_busy",
        "%",
        Source.GPU,
        "NVML utilization.memory: share of time device memory was read or written "
        "(a duty cycle, not bandwidth)",
    ),
    MetricSpec(
        "mem_used_bytes",
        "B",
        Source.GPU,
        "device memory used (NVML; includes the CUDA context and the caching allocator's reserve)",
    ),
    MetricSpec("mem_total_bytes", "B", Source.GPU, "device memory total"),
    MetricSpec("mem_used_pct", "%", Source.GPU, "mem_used_bytes / mem_total_bytes"),
    MetricSpec("power_w", "W", Source.GPU, "board power draw"),
    MetricSpec(
        "energy_j",
        "J",
        Source.GPU,
        "energy since the previous sample (delta of NVML's total-energy counter)",
    ),
    MetricSpec("temp_c", "degC", Source.GPU, "GPU temperature"),
    MetricSpec("sm_clock_mhz", "MHz", Source.GPU, "SM clock"),
    MetricSpec(
        "throttle_reasons", "bitmask", Source.GPU, "NVML clocks-event (throttle) reasons; 0 = none"
    ),
    MetricSpec("pcie_rx_bytes_per_s", "B/s", Source.GPU, "PCIe receive rate (NVML, 20 ms count)"),
    MetricSpec("pcie_tx_bytes_per_s", "B/s", Source.GPU, "PCIe transmit rate (NVML, 20 ms count)"),
    MetricSpec("sm_active", "%", Source.GPU, "GPM SM_UTIL: share of SMs busy (Hopper+)"),
    MetricSpec("sm_occupancy", "%", Source.GPU, "GPM SM_OCCUPANCY: resident warps vs maximum"),
    MetricSpec("tensor_active", "%", Source.GPU, "GPM ANY_TENSOR_UTIL: tensor pipes active"),
    MetricSpec(
        "dram_bw_util",
        "%",
        Source.GPU,
        "GPM DRAM_BW_UTIL: DRAM bandwidth used vs theoretical maximum",
    ),
    MetricSpec(
        "proc_gpu_mem_bytes",
        "B",
        Source.GPU,
        "device memory of the monitored process tree (NVML running processes)",
    ),
    MetricSpec(
        "proc_sm_util",
        "%",
        Source.GPU,
        "NVML per-process SM utilisation summed over the monitored process tree",
    ),
    MetricSpec("cpu_util", "%", Source.HOST, "host CPU utilisation, all cores (100 = all busy)"),
    MetricSpec(
        "cpu_util_per_core", "%", Source.HOST, "per-core utilisation, stored as cpu<N>_util"
    ),
    MetricSpec("host_mem_pct", "%", Source.HOST, "host memory in use"),
    MetricSpec("host_mem_used_bytes", "B", Source.HOST, "host memory in use"),
    MetricSpec("proc_rss_bytes", "B", Source.PROCESS, "resident memory of the process tree"),
    MetricSpec(
        "proc_cpu_s", "s", Source.PROCESS, "CPU time (user + system) of the process tree so far"
    ),
    MetricSpec(
        "proc_cpu_util",
        "%",
        Source.PROCESS,
        "process-tree CPU use since the previous sample, in % of one core",
    ),
)
SPECS: dict[str, MetricSpec] = {s.name: s for s in _SPECS}
GPU_METRICS = tuple(s.name for s in _SPECS if s.source is Source.GPU)
HOST_METRICS = tuple(s.name for s in _SPECS if s.source is not Source.GPU)
ALL = "all"


def unit_of(metric: str) -> str:
    """Unit of a metric name, including the per-core names ``cpu<N>_util``."""
    if metric in SPECS:
        return SPECS[metric].unit
    if metric.startswith("cpu") and metric.endswith("_util"):
        return "%"
    return ""


def parse_metrics(values: Iterable[str]) -> tuple[str, ...]:
    """Expand repeated ``--metric`` values and comma lists; ``all`` selects every metric.

    Raises DsbenchError naming an unknown metric and listing the known ones.
    """
    names: list[str] = []
    for value in values:
        names += [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise DsbenchError("no metric given; use --metric NAME (or --metric all)")
    if ALL in names:
        return (ALL,)
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        raise DsbenchError(f"unknown metric {unknown[0]!r}; known metrics: all, {', '.join(SPECS)}")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Sample:
    """One reading of one device.

    t: wall-clock time of the reading, seconds since the Unix epoch.
    device: ``gpu0``, ``gpu1``… for NVML, ``host`` for the CPU backend.
    values: metric -> value in the metric's unit, or None when unavailable.
    reasons: metric -> why its value is None.
    """

    t: float
    device: str
    values: Mapping[str, float | None]
    reasons: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": self.t, "device": self.device, "values": dict(self.values)}
        if self.reasons:
            out["reasons"] = dict(self.reasons)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sample:
        values = {k: None if v is None else float(v) for k, v in data["values"].items()}
        return cls(float(data["t"]), str(data["device"]), values, dict(data.get("reasons", {})))
