"""``ds-profiler run``: time a workload with telemetry, and report it against the device peak.

The measurement itself is :func:`dsbench.profiler.measure.measure_workload` (check against the
reference, then the shared timer). Around it a background thread samples the telemetry
backend; optionally a ``torch.profiler`` trace is recorded. The result is reported as
achieved against possible:

* **peak FLOP/s**: the hardware table (:mod:`simulators.hardware`) for a known GPU; on a
  CPU (or an unknown GPU) a *calibration matmul* — the ``gemm`` workload at its ``cpu`` or
  ``gpu`` size, timed the same way — since no data-sheet figure applies;
* **peak bytes/s**: the table's HBM bandwidth, or on CPU a timed large copy;
* **MFU** = achieved / peak FLOP/s; **roofline fraction** = achieved / min(peak FLOP/s,
  intensity × peak bytes/s), where intensity = FLOPs / bytes of the workload's analytic counts.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsbench.core.results import Metric, Record
from dsbench.core.timing import TimerConfig


@dataclass(frozen=True)
class Peak:
    flops_per_s: float
    bytes_per_s: float | None
    source: str


_GPU_NAMES = (("H100", "H100-SXM"), ("A100", "A100-80GB"))


def device_peak(device: str, dtype: str, config: TimerConfig | None = None) -> Peak:
    """The peak that MFU and the roofline are computed against (see module docstring)."""
    if device.startswith("cuda"):
        import torch

        name = torch.cuda.get_device_name(device)
        for marker, preset in _GPU_NAMES:
            if marker in name:
                from simulators.hardware import gpu

                spec = gpu(preset)
                return Peak(
                    spec.peak_flops(_table_dtype(dtype)),
                    spec.hbm_bandwidth_bytes_per_s,
                    f"hardware table {preset} ({name})",
                )
    return calibrate(device, dtype, config)


def _table_dtype(dtype: str) -> str:
    return {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}.get(dtype, "fp32")


def calibrate(device: str, dtype: str, config: TimerConfig | None = None) -> Peak:
    """Measured peak: the gemm workload's FLOP/s and a large copy's bytes/s on ``device``."""
    from dsbench.profiler.measure import measure_workload

    size = "gpu" if device.startswith("cuda") else "cpu"
    gemm = measure_workload("gemm", size, device, dtype, config or TimerConfig.quick(), check=False)
    # Peak = the best sample (min time), not the median: a busy moment is not the device.
    flops = gemm.info["flops_per_call"] / gemm.info["timer"]["min_s"]
    n = gemm.params.get("n")
    return Peak(
        flops,
        copy_bandwidth(device, config),
        f"calibration: best of gemm n={n} {dtype} on {device}, 64 MiB copy",
    )


def copy_bandwidth(
    device: str, config: TimerConfig | None = None, nbytes: int = 64 * 2**20
) -> float:
    """Bytes/s of ``dst.copy_(src)`` on ``nbytes`` (read + write = 2·nbytes per call)."""
    import torch

    from dsbench.core.timing import time_fn

    src = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    timing = time_fn(lambda: dst.copy_(src), device=device, config=config or TimerConfig.quick())
    return 2 * nbytes / timing.min_s


def roofline(
    achieved_flops: float | None, flops: float | None, bytes_moved: float | None, peak: Peak
) -> dict[str, tuple[float | None, str]]:
    """MFU, intensity, attainable FLOP/s and roofline fraction ({name: (value, unit)})."""
    out: dict[str, tuple[float | None, str]] = {
        "peak_flops_per_s": (peak.flops_per_s, "FLOP/s"),
        "peak_bytes_per_s": (peak.bytes_per_s, "B/s"),
    }
    if achieved_flops is None:
        return out
    out["mfu"] = (100 * achieved_flops / peak.flops_per_s, "%")
    if flops and bytes_moved and peak.bytes_per_s:
        intensity = flops / bytes_moved
        attainable = min(peak.flops_per_s, intensity * peak.bytes_per_s)
        out["arithmetic_intensity"] = (intensity, "FLOP/B")
        out["roofline_attainable_flops_per_s"] = (attainable, "FLOP/s")
        out["roofline_fraction"] = (100 * achieved_flops / attainable, "%")
    return out


class TelemetryThread:
    """Samples a telemetry backend every ``interval_s`` on a daemon thread."""

    def __init__(self, backend, interval_s: float = 0.1) -> None:
        self.backend, self.interval_s = backend, interval_s
        self.samples: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.samples += self.backend.read(None)

    def __enter__(self) -> TelemetryThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.backend.close()

    def summary(self) -> dict[str, Metric]:
        """Mean of every metric over the run, ``telemetry.<device>.<metric>``, with samples."""
        from dsbench.profiler.telemetry.metrics import unit_of

        series: dict[str, list[float]] = {}
        for s in self.samples:
            for k, v in s.values.items():
                if v is not None:
                    series.setdefault(f"telemetry.{s.device}.{k}", []).append(v)
        return {
            k: Metric(sum(v) / len(v), unit_of(k.rsplit(".", 1)[1]), tuple(v))
            for k, v in series.items()
        }


def profile_workload(
    name: str,
    size: str,
    device: str,
    dtype: str,
    config: TimerConfig,
    trace_dir: Path | None = None,
    backend: str = "auto",
    peak: Peak | None = None,
) -> tuple[Record, Peak]:
    """Measure ``name`` with telemetry (and a trace); return the record and the peak used."""
    from dsbench.profiler.measure import measure_workload
    from dsbench.profiler.telemetry.monitor import make_backend

    sampler = make_backend(
        backend, ("gpu_util", "mem_used_pct", "power_w", "sm_clock_mhz", "cpu_util")
    )
    with TelemetryThread(sampler) as telemetry:
        record = measure_workload(name, size, device, dtype, config, tags=("ds-profiler",))
    peak = peak or device_peak(device, dtype, config)
    metrics = dict(record.metrics)
    achieved = metrics.get("achieved_flops_per_s")
    info = dict(record.info)
    for key, (value, unit) in roofline(
        achieved.value if achieved else None,
        info.get("flops_per_call"),
        info.get("bytes_per_call"),
        peak,
    ).items():
        metrics[key] = Metric(value, unit)
    metrics.update(telemetry.summary())
    info["peak_source"] = peak.source
    info["telemetry_backend"] = sampler.name
    if trace_dir is not None:
        from dsbench.profiler.trace import record_trace
        from workloads import base

        case = base.get(name).build(size, device, dtype)
        info["trace"] = str(record_trace(case.fn, trace_dir, device))
    return dataclasses.replace(record, metrics=metrics, info=info), peak
