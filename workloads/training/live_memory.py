"""Peak tensor memory on any device, CPU included, by following every tensor storage.

CUDA has an allocator that counts bytes (``torch.cuda.max_memory_allocated``); the CPU does
not. :class:`LiveBytes` is a ``TorchDispatchMode``: every ATen op that runs inside it (forward,
backward and the recomputation that checkpointing triggers during backward — autograd keeps
the mode in its thread-local state) hands its outputs to the tracker, which adds the bytes of
each *new* storage (views share their base's storage and count once) and subtracts them when
the storage is freed (a ``weakref.finalize`` on the storage, which PyTorch keeps alive exactly
as long as the C++ storage). The running sum is the memory the region's tensors hold; its
maximum is the peak. This is the method of PyTorch's own ``torch.distributed._tools``
memory tracker, reduced to what is needed here.

Not counted: tensors that existed before the region (parameters, inputs), and scratch memory
kernels allocate internally without creating a tensor (e.g. a GEMM's packing buffers), so the
figures are the tensor-level memory — what activation-memory formulas (Korthikanti et al.
2022) count.

Every allocation and free is kept as an event, so a peak can be recomputed *excluding*
chosen storages after the fact: :meth:`LiveBytes.peak_excluding` drops parameter gradients,
leaving the activation peak that recomputation changes.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class LiveBytes(TorchDispatchMode):
    """Live bytes of the storages created inside ``with LiveBytes() as mem:``.

    ``live_bytes``: held now; ``peak_bytes``: the maximum so far; ``events``: (key, ±bytes)
    in order, ``key`` identifying a storage (see :func:`storage_key`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.live_bytes = 0
        self.peak_bytes = 0
        self.events: list[tuple[int, int]] = []
        self._live: dict[int, tuple[int, int]] = {}  # id(storage) -> (serial, bytes)
        self._serials = itertools.count()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        # views and in-place ops allocate nothing: their outputs share an existing storage
        # (possibly one from before the region, such as a parameter's)
        if not (func.is_view or func._schema.is_mutable):
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor) and not t.is_meta:
                    self._track(t)
        return out

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key = id(storage)
        if key in self._live:
            return
        serial, n = next(self._serials), storage.nbytes()
        self._live[key] = (serial, n)
        self.live_bytes += n
        self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        self.events.append((serial, n))
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        serial, n = self._live.pop(key, (-1, 0))
        self.live_bytes -= n
        self.events.append((serial, -n))

    def serials(self, tensors: Iterable[torch.Tensor | None]) -> list[int]:
        """Serial numbers of the live tracked storages behind ``tensors`` (untracked: none)."""
        found = (self._live.get(id(t.untyped_storage())) for t in tensors if t is not None)
        return [entry[0] for entry in found if entry is not None]

    def peak_excluding(self, serials: Iterable[int]) -> int:
        """The peak had the storages numbered ``serials`` never been allocated."""
        skip = set(serials)
        live = peak = 0
        for serial, delta in self.events:
            if serial not in skip:
                live += delta
                peak = max(peak, live)
        return peak
