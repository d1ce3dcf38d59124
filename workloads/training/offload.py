"""Offload: parameters swapped in layer by layer, optimizer on the host, embedding on the host.

Three ways to keep state off the accelerator, each wrapping a built model and each tested
against its all-resident twin:

* :class:`OffloadedLayers` — "smart parameter swap" (002 §2.1). Every layer's parameters live
  in host memory (pinned on CUDA); before a layer runs its parameters are copied to the device
  and afterwards dropped, and with ``prefetch`` the copy of layer ``i+1`` runs while layer ``i``
  computes (a side CUDA stream, or a worker thread on CPU). Peak device parameter bytes fall
  from the whole stack to two layers; the price is one host→device copy of every parameter per
  forward, hidden when ``copy time ≤ compute time`` per layer (ZeRO-Infinity, Rajbhandari et
  al. 2021, §5; FSDP CPU offload). The seed says inactive parameters are swapped "when memory
  runs short"; any real scheme must decide *which* and *when* ahead of use — here a layer
  schedule, as in DeepSpeed/FSDP. Forward only (inference, or recomputation-style training).
* :class:`HostAdam` — ZeRO-Offload (Ren et al. 2021): fp32 master weights and both Adam moments
  on the host; each step copies gradients device→host, steps Adam on the host and copies the
  weights back. Device bytes per parameter drop from 16 (weight, gradient, two moments, fp32)
  to 8; the price is 8 bytes of copies per parameter per step plus the host Adam time. This is
  the "CPU/GPU task partition" of 000 §1 made concrete.
* :class:`HostEmbedding` — 000 §5's advice "put the embedding layer on the CPU": the table
  (V×C) stays in host memory; the lookup runs there and the B×T×C activations are copied to the
  device (gradients flow back through the copy to a host-side table).

Without a GPU the device is the host: results stay exact and the memory accounting is exact,
but a "copy" is a memcpy at DRAM speed rather than a PCIe transfer; the checks predict the GPU
case from the hardware table's PCIe bandwidth instead of presenting CPU timings as GPU ones.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch import nn


def param_bytes(module: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


class OffloadedLayers(nn.Module):
    """Run ``layers`` in order with their parameters held on the host between uses.

    ``layers`` are moved to the host (the caller's modules are used, not copied). ``forward``
    returns exactly what running the layers resident on ``device`` returns. Counters:
    ``moved_bytes`` (host→device), ``peak_resident_bytes`` (device parameter bytes at once).
    """

    def __init__(self, layers: nn.ModuleList, device: str = "cpu", prefetch: bool = True) -> None:
        super().__init__()
        self.layers = layers.to("cpu")
        self.device, self.prefetch = torch.device(device), prefetch
        self.cuda = self.device.type == "cuda"
        self._host = [[p.detach().clone() for p in layer.parameters()] for layer in self.layers]
        if self.cuda:
            self._host = [[t.pin_memory() for t in ts] for ts in self._host]
            self._stream = torch.cuda.Stream(self.device)
        else:
            self._pool = ThreadPoolExecutor(max_workers=1)
        for layer in self.layers:
            self._release(layer)
        self.moved_bytes = self.peak_resident_bytes = self._resident = 0

    def _copy(self, i: int) -> list[torch.Tensor]:
        """Device copies of layer ``i``'s parameters (on the side stream under CUDA)."""
        if self.cuda:
            with torch.cuda.stream(self._stream):
                return [t.to(self.device, non_blocking=True) for t in self._host[i]]
        return [t.clone() for t in self._host[i]]  # a real copy, as a transfer would make

    def _start(self, i: int) -> Future | list[torch.Tensor]:
        self._resident += sum(t.numel() * t.element_size() for t in self._host[i])
        self.peak_resident_bytes = max(self.peak_resident_bytes, self._resident)
        self.moved_bytes += sum(t.numel() * t.element_size() for t in self._host[i])
        if self.prefetch and not self.cuda:
            return self._pool.submit(self._copy, i)
        return self._copy(i)

    def _install(self, layer: nn.Module, pending) -> None:
        tensors = pending.result() if isinstance(pending, Future) else pending
        if self.cuda:
            current = torch.cuda.current_stream(self.device)
            current.wait_stream(self._stream)
            for t in tensors:  # allocated on the side stream, used on this one
                t.record_stream(current)
        for p, t in zip(layer.parameters(), tensors, strict=True):
            p.data = t

    def _release(self, layer: nn.Module) -> None:
        for p in layer.parameters():
            p.data = torch.empty(0, dtype=p.dtype, device=self.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.layers)
        pending = self._start(0)
        for i, layer in enumerate(self.layers):
            self._install(layer, pending)
            if self.prefetch and i + 1 < n:
                pending = self._start(i + 1)  # overlaps with this layer's compute
            x = layer(x)
            self._release(layer)
            self._resident -= sum(t.numel() * t.element_size() for t in self._host[i])
            if not self.prefetch and i + 1 < n:
                pending = self._start(i + 1)
        return x


class HostAdam:
    """Adam whose fp32 master weights and moments live on the host (ZeRO-Offload).

    ``step()`` after ``backward()``: gradients device→host, ``torch.optim.Adam`` on the host
    copies, updated weights host→device. Same update as ``torch.optim.Adam(params, **kw)``.
    ``moved_bytes`` counts both copies.
    """

    def __init__(self, params, **adam_kwargs) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.master = [p.detach().to("cpu", copy=True).float() for p in self.params]
        for m in self.master:
            m.grad = torch.zeros_like(m)
        self.opt = torch.optim.Adam(self.master, **adam_kwargs)
        self.moved_bytes = 0

    @torch.no_grad()
    def step(self) -> None:
        for p, m in zip(self.params, self.master, strict=True):
            m.grad.copy_(p.grad)
            self.moved_bytes += 2 * p.numel() * p.element_size()
        self.opt.step()
        for p, m in zip(self.params, self.master, strict=True):
            p.copy_(m)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @staticmethod
    def device_bytes_per_param(offloaded: bool) -> int:
        """fp32 Adam: weight + gradient (+ two moments when resident), bytes per parameter."""
        return 8 if offloaded else 16


class HostEmbedding(nn.Module):
    """An embedding table kept on the host; lookups are copied to ``device``."""

    def __init__(self, embedding: nn.Embedding, device: str = "cpu") -> None:
        super().__init__()
        self.weight = nn.Parameter(embedding.weight.detach().to("cpu", copy=True))
        self.device = torch.device(device)
        self.moved_bytes = 0

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        rows = F.embedding(idx.to("cpu"), self.weight)
        if self.device.type == "cuda":
            rows = rows.pin_memory()
        self.moved_bytes += rows.numel() * rows.element_size()
        return rows.to(self.device, non_blocking=True)


def tiny_stack(n_layers: int = 4, width: int = 64, seed: int = 0) -> nn.ModuleList:
    """A stack of MLP blocks (Linear → GELU → Linear, residual) to offload."""
    torch.manual_seed(seed)
    return nn.ModuleList(_ResidualMLP(width) for _ in range(n_layers))


class _ResidualMLP(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.up, self.down = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(F.gelu(self.up(x)))


def predicted_swap_overhead(
    layer_param_bytes: float, layer_flops: float, link_bytes_per_s: float, peak_flops: float
) -> float:
    """Slowdown of a prefetched layer-wise offload over all-resident, per layer (≥ 1).

    With the copy of layer ``i+1`` overlapping the compute of layer ``i``, a layer takes
    ``max(copy, compute)`` instead of ``compute``: ``max(1, (bytes / link) / (flops / peak))``.
    """
    compute_s = layer_flops / peak_flops
    return max(1.0, (layer_param_bytes / link_bytes_per_s) / compute_s)
