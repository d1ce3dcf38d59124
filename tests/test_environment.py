"""Environment capture, on this machine and on one without an NVIDIA driver."""

from __future__ import annotations

import json

import pynvml

from dsbench.core import environment


def test_capture_is_json_and_complete():
    snap = environment.capture()
    json.dumps(snap)
    for key in (
        "host",
        "os",
        "python",
        "cpu_model",
        "logical_cores",
        "gpus",
        "gpu_error",
        "torch",
        "cuda",
        "torch_threads",
        "git_commit",
        "git_dirty",
    ):
        assert key in snap
    assert snap["logical_cores"] >= 1


def test_no_gpu_is_reported_not_guessed(monkeypatch):
    def no_driver():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_driver)
    gpus, error = environment.gpu_info()
    assert gpus == [] and error.startswith("NVML unavailable")


def test_gpus_read_through_nvml(monkeypatch):
    """A stand-in NVML with one device: the snapshot takes name, memory and driver from it."""
    calls = []
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: calls.append("init"))
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: calls.append("shutdown"))
    monkeypatch.setattr(pynvml, "nvmlSystemGetDriverVersion", lambda: "550.54")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: 1)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda i: f"handle{i}")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda h: b"NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(
        pynvml, "nvmlDeviceGetMemoryInfo", lambda h: type("M", (), {"total": 80 * 2**30})()
    )
    gpus, error = environment.gpu_info()
    assert error is None
    assert gpus == [
        {
            "index": 0,
            "name": "NVIDIA H100 80GB HBM3",
            "memory_bytes": 80 * 2**30,
            "driver": "550.54",
        }
    ]
    assert calls == ["init", "shutdown"]


def test_fingerprint_ignores_run_details_but_not_hardware():
    base = {"cpu_model": "X", "logical_cores": 2, "gpus": [], "torch": "2.13", "host": "a"}
    same_machine = {**base, "host": "b", "git_commit": "abc"}
    other_gpu = {**base, "gpus": [{"name": "H100", "driver": "550"}]}
    assert environment.fingerprint(base) == environment.fingerprint(same_machine)
    assert environment.fingerprint(base) != environment.fingerprint(other_gpu)
