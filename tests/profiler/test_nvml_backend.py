"""NVML backend against the NVML stand-in (tests/profiler/nvml_standin.py)."""

from __future__ import annotations

import os

import pytest
from nvml_standin import (
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_LIBRARY_NOT_FOUND,
    FakeGpu,
    NVMLError,
    NVMLError_GpuIsLost,
    NVMLError_LibraryNotFound,
    NVMLError_NotSupported,
    make_standin,
)

from dsbench.profiler.telemetry.cpu import CpuBackend
from dsbench.profiler.telemetry.monitor import make_backend
from dsbench.profiler.telemetry.nvml import BackendError, NvmlBackend, throttle_names


def test_standin_error_hierarchy_matches_pynvml():
    assert isinstance(NVMLError(NVML_ERROR_GPU_IS_LOST), NVMLError_GpuIsLost)
    assert isinstance(NVMLError_LibraryNotFound(), NVMLError)
    assert NVMLError_NotSupported().value == 3
    assert str(NVMLError(NVML_ERROR_LIBRARY_NOT_FOUND)) == "NVML Shared Library Not Found"


def start(gpus=None, metrics=None) -> NvmlBackend:
    backend = NvmlBackend(metrics, nvml=make_standin(gpus))
    backend.start()
    return backend


def test_reads_every_metric_with_units():
    backend = start([FakeGpu(), FakeGpu(util_gpu=99)])
    first, second = backend.read(), backend.read()
    assert [s.device for s in second] == ["gpu0", "gpu1"]
    v = second[0].values
    assert v["gpu_util"] == 55 and second[1].values["gpu_util"] == 99
    assert v["mem_used_pct"] == pytest.approx(75.0)
    assert v["power_w"] == 350.0
    assert v["energy_j"] == 35.0  # counter delta in mJ -> J
    assert first[0].values["energy_j"] is None and "first reading" in first[0].reasons["energy_j"]
    assert v["pcie_rx_bytes_per_s"] == 1024 * 1024
    assert v["throttle_reasons"] == 4 and throttle_names(4) == ["SwPowerCap"]
    assert first[0].values["sm_active"] is None  # GPM needs two samples
    assert (v["sm_active"], v["sm_occupancy"], v["tensor_active"], v["dram_bw_util"]) == (
        40.0,
        25.0,
        10.0,
        65.0,
    )


def test_unsupported_metric_is_null_with_reason_never_zero_and_not_asked_again():
    gpu = FakeGpu(unsupported={"nvmlDeviceGetPowerUsage"}, gpm_supported=False)
    backend = start([gpu], ["power_w", "gpu_util", "sm_active"])
    s = backend.read()[0]
    assert s.values["power_w"] is None and "not supported" in s.reasons["power_w"]
    assert s.values["sm_active"] is None and "Hopper" in s.reasons["sm_active"]
    assert s.values["gpu_util"] == 55
    calls = gpu.calls
    s2 = backend.read()[0]
    assert s2.values["power_w"] is None
    assert gpu.calls == calls + 1  # only gpu_util was asked again


def test_lost_gpu_nulls_every_metric_with_the_reason():
    gpu = FakeGpu(lost_after_calls=2)
    backend = start([gpu], ["gpu_util", "mem_used_pct", "temp_c"])
    s = backend.read()[0]
    assert s.values["gpu_util"] == 55 and s.values["temp_c"] is None
    assert "GPU is lost" in s.reasons["temp_c"]
    s2 = backend.read()[0]
    assert all(v is None for v in s2.values.values())
    assert all("GPU is lost" in r for r in s2.reasons.values())


def test_library_not_found_is_a_backend_error_and_auto_falls_back_to_cpu():
    missing = make_standin(init_error=NVML_ERROR_LIBRARY_NOT_FOUND)
    with pytest.raises(BackendError, match="Library Not Found"):
        NvmlBackend(nvml=missing).start()
    with pytest.raises(BackendError):
        make_backend("nvml", ("gpu_util",), nvml=missing)
    backend = make_backend("auto", ("gpu_util",), nvml=missing)
    assert isinstance(backend, CpuBackend)
    assert "not measuring a GPU" in backend.notice.replace(
        "no NVIDIA GPU is being measured", "not measuring a GPU"
    )
    assert "Library Not Found" in backend.notice
    s = backend.read()[0]
    assert s.values["gpu_util"] is None and "not measuring a GPU" in s.reasons["gpu_util"]
    assert s.values["cpu_util"] is not None


def test_per_process_figures_are_summed_over_the_process_tree():
    me = os.getpid()
    gpu = FakeGpu(processes=[(me, 2 * 2**30, 30), (999_999_999, 5 * 2**30, 50)])
    backend = start([gpu], ["proc_gpu_mem_bytes", "proc_sm_util"])
    s = backend.read(me)[0]
    assert s.values["proc_gpu_mem_bytes"] == 2 * 2**30
    assert s.values["proc_sm_util"] == 30
    s = backend.read(None)[0]
    assert s.values["proc_gpu_mem_bytes"] is None and "-- CMD" in s.reasons["proc_gpu_mem_bytes"]
