"""What machine and software a result was produced on.

Every record carries this snapshot, and regression checks match records by the machine
fingerprint built from it (CPU/GPU model, driver, torch version): timings from different
machines are not comparable, simulator outputs are.

GPU facts come from NVML through the maintained ``nvidia-ml-py`` binding (module
``pynvml``). Where NVML is absent (no NVIDIA driver, as on CI machines) the snapshot says so
in ``gpu_error`` instead of guessing. torch facts are read from the already-imported module
when a measurement has loaded it; otherwise only the installed version is read from the
package metadata, so capturing the environment never pays torch's import time.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

_REPO_ROOT = Path(__file__).resolve().parents[2]


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_info() -> tuple[list[dict[str, Any]], str | None]:
    """Query NVML for every GPU: ``([{"index", "name", "memory_bytes", "driver"}], error)``.

    Returns an empty list and a one-line reason when NVML cannot be used.
    """
    try:
        import pynvml
    except ImportError:
        return [], "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return [], f"NVML unavailable: {exc}"
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            gpus.append(
                {
                    "index": index,
                    "name": _text(pynvml.nvmlDeviceGetName(handle)),
                    "memory_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
                    "driver": driver,
                }
            )
        return gpus, None
    except pynvml.NVMLError as exc:
        return [], f"NVML query failed: {exc}"
    finally:
        pynvml.nvmlShutdown()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def torch_info() -> dict[str, Any]:
    """torch version, CUDA version and thread count, without importing torch ourselves."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return {
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "torch_threads": torch.get_num_threads(),
        }
    try:
        version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {"torch": version, "cuda": None, "torch_threads": None}


@functools.lru_cache(maxsize=1)
def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the checkout dsbench runs from (None outside a checkout)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=_REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": dirty}


@functools.lru_cache(maxsize=1)
def _static_environment() -> dict[str, Any]:
    gpus, gpu_error = gpu_info()
    return {
        "host": socket.gethostname(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "gpus": gpus,
        "gpu_error": gpu_error,
        **git_state(),
    }


def capture() -> dict[str, Any]:
    """A JSON-able snapshot of the machine and software, for a record's ``environment``."""
    return {**_static_environment(), **torch_info()}


def fingerprint(environment: dict[str, Any]) -> str:
    """A short stable id of the *machine* (not the run): CPU, GPUs, driver, torch.

    Two records with the same fingerprint were timed on comparable machines.
    """
    gpus = [(g.get("name"), g.get("driver")) for g in environment.get("gpus") or []]
    key = {
        "cpu_model": environment.get("cpu_model"),
        "logical_cores": environment.get("logical_cores"),
        "gpus": gpus,
        "torch": environment.get("torch"),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return digest[:12]
