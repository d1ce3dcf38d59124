"""Measured peak memory of one call: the device allocator on CUDA, a child's high-water mark on CPU.

Peak memory is measured, never computed from shapes.

- **CUDA**: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus what
  was allocated before the call (inputs, weights): the call's own transient memory.
- **CPU**: PyTorch keeps no CPU allocator statistics, so the probe reads the process
  high-water mark (``VmHWM`` in ``/proc/self/status``, reset by writing ``5`` to
  ``/proc/self/clear_refs``; ``getrusage``'s ``ru_maxrss`` where that is missing) of a child
  process: build the inputs, one warm-up call (thread pools and library workspaces are one-time
  costs, not the call's memory), reset the mark, then one measured call; the result is the
  mark minus the resident size just before that call.

  The child runs with ``MALLOC_MMAP_THRESHOLD_`` fixed at 64 KiB. By default glibc raises its
  mmap threshold (up to 32 MiB) after a large block is freed, so the next blocks of that size
  come from the heap, stay resident after ``free`` and are reused silently: the warm-up call's
  freed tensors would then hide the measured call's allocations, and points measured one after
  another in the same process would read too low. With the threshold fixed, every tensor above
  64 KiB is its own mapping and is returned to the kernel when freed, so the mark moves with
  each call's real allocations (measured here: materialised causal attention at T = 512 read
  4 MiB with the dynamic threshold and 8.2 MiB — the two T×T fp32 matrices it holds — with the
  fixed one).

:class:`PeakMemoryProbe` keeps one child alive for a whole sweep (one spawn, one torch import),
so each point costs its own run time only.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import resource
import sys
from collections.abc import Callable
from typing import Any

import torch

MMAP_THRESHOLD_BYTES = 65536
Builder = Callable[..., Any]  # build(*args) -> fn or (fn, ...): fn() is the call to measure


def _high_water_bytes() -> int:
    """Peak resident bytes of this process since the last reset."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _reset_high_water() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _call_of(build: Builder, args: tuple) -> Callable[[], Any]:
    built = build(*args)
    return built[0] if isinstance(built, tuple) else built


def _child_peak_bytes(build: Builder, args: tuple, threads: int) -> int:
    """Run in the child: warm-up call, reset the mark, measured call; extra resident bytes."""
    import psutil

    torch.set_num_threads(threads)
    fn = _call_of(build, args)
    fn()
    gc.collect()
    reset = _reset_high_water()
    before = psutil.Process().memory_info().rss
    if not reset:  # without a reset the mark may predate the call: report the growth past it
        before = max(before, _high_water_bytes())
    fn()
    peak = _high_water_bytes()
    del fn
    gc.collect()
    return max(0, peak - before)


def cuda_peak_bytes(fn: Callable[[], Any]) -> int:
    """Extra bytes the CUDA caching allocator hands out during one call of ``fn``."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


class PeakMemoryProbe:
    """Measure the peak memory of calls, each built fresh by ``build(*args)``.

    Use as a context manager; on CPU it holds one spawned child for its lifetime (``build``
    must then be a picklable top-level function). ``device`` picks CUDA or CPU measurement.
    """

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._pool = None

    def __enter__(self) -> PeakMemoryProbe:
        if not self.device.startswith("cuda"):
            previous = os.environ.get("MALLOC_MMAP_THRESHOLD_")
            os.environ["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD_BYTES)
            try:  # the child copies the environment when it starts
                self._pool = multiprocessing.get_context("spawn").Pool(1)
            finally:
                if previous is None:
                    del os.environ["MALLOC_MMAP_THRESHOLD_"]
                else:
                    os.environ["MALLOC_MMAP_THRESHOLD_"] = previous
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def measure(self, build: Builder, *args: Any) -> int:
        """Peak extra bytes of one call of the function ``build(*args)`` returns."""
        if self.device.startswith("cuda"):
            return cuda_peak_bytes(_call_of(build, args))
        if self._pool is None:
            raise RuntimeError("PeakMemoryProbe.measure outside its 'with' block")
        return self._pool.apply(_child_peak_bytes, (build, args, torch.get_num_threads()))
