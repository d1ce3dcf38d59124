"""A three-tier tensor store (device → host → disk) done right, and the seed's version as written.

Seed 000 §1.1 sketches ``MemoryHierarchy``: L0 ``gpu_cache = {}``, L1
``cpu_mem = LRUCache(size=1e9)``, L2 ``disk = DiskStorage()``; a read falls through the tiers
and a CPU hit is promoted to the GPU. As written:

* the GPU tier is a plain dict that never evicts, so it grows with every promoted key until
  the device runs out of memory (:class:`SeedMemoryHierarchy` replays it and measures the
  growth);
* a CPU hit is copied to the GPU but also stays in the CPU tier (two copies), and a disk read
  is cached in the CPU tier but not promoted, so a key must be read twice to reach the GPU;
* ``LRUCache(size=1e9)`` has no unit (entries? bytes?), and ``LRUCache``, ``DiskStorage`` and
  ``_promote_to_gpu`` are not defined; the obvious meanings are supplied below.

:class:`TieredStore` is the version with byte-bounded tiers: the device tier and the host tier
are exclusive LRU caches bounded in *bytes*; a hit anywhere promotes the value to the device
tier, whose least-recently-used entries are demoted to the host tier, whose LRU entries are
dropped (the disk tier is the backing store and holds every value, so nothing is lost and,
values being immutable, nothing is written back). Every tier transfer is counted in bytes.
The tests check it against a plain dict on random traces.

Access traces follow a Zipf law (rank-``r`` key drawn with probability ∝ ``r^-s``; Breslau et
al. 1999 for web caches; embedding rows and expert weights behave similarly), see
:func:`zipf_trace`. Without a GPU the "device" tier is host memory too: the store is then
correct and its hit rates and bytes are exact, but its latencies are not GPU latencies.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import torch


class Tier(StrEnum):
    DEVICE = "device"
    HOST = "host"
    DISK = "disk"


def nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


class ByteLRU:
    """An LRU map bounded by the total bytes of its tensors (``capacity_bytes`` >= 0)."""

    def __init__(self, capacity_bytes: int) -> None:
        if capacity_bytes < 0:
            raise ValueError(f"capacity_bytes({capacity_bytes}) must be >= 0")
        self.capacity_bytes = capacity_bytes
        self.used_bytes = 0
        self._items: OrderedDict[object, torch.Tensor] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: object) -> torch.Tensor:
        self._items.move_to_end(key)
        return self._items[key]

    def pop(self, key: object) -> torch.Tensor:
        value = self._items.pop(key)
        self.used_bytes -= nbytes(value)
        return value

    def put(self, key: object, value: torch.Tensor) -> list[tuple[object, torch.Tensor]]:
        """Insert as most recent; return the evicted (key, value) pairs, oldest first.

        A value larger than the capacity is not stored (it is returned as evicted itself).
        """
        if key in self._items:
            self.pop(key)
        if nbytes(value) > self.capacity_bytes:
            return [(key, value)]
        evicted = []
        while self.used_bytes + nbytes(value) > self.capacity_bytes:
            old_key, old = self._items.popitem(last=False)
            self.used_bytes -= nbytes(old)
            evicted.append((old_key, old))
        self._items[key] = value
        self.used_bytes += nbytes(value)
        return evicted


class DiskTier:
    """One ``.npy`` file per key under ``root`` (the persistent backing store)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._files: dict[object, Path] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._files

    def write(self, key: object, value: torch.Tensor) -> None:
        path = self._files.setdefault(key, self.root / f"{len(self._files)}.npy")
        np.save(path, value.detach().cpu().numpy())

    def read(self, key: object) -> torch.Tensor:
        return torch.from_numpy(np.load(self._files[key]))

    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self._files.values())


@dataclass
class TierStats:
    """Counts of a replay: hits per tier and bytes moved per direction."""

    hits: dict[str, int] = field(default_factory=lambda: {t.value: 0 for t in Tier})
    moved_bytes: dict[str, int] = field(
        default_factory=lambda: {"disk->host": 0, "host->device": 0, "device->host": 0}
    )
    fetch_s: float = 0.0

    @property
    def accesses(self) -> int:
        return sum(self.hits.values())

    def hit_rate(self, tier: Tier | str) -> float:
        return self.hits[Tier(tier).value] / max(self.accesses, 1)


class TieredStore:
    """Device and host tiers: exclusive byte-bounded LRUs; disk: every value.

    device_bytes / host_bytes: tier capacities in bytes (0 disables a tier).
    device: where the device tier lives (``"cuda"``; ``"cpu"`` stands in without a GPU).
    disk_dir: folder for the disk tier (a temporary folder, removed by :meth:`close`, if None).
    """

    def __init__(
        self, device_bytes: int, host_bytes: int, device: str = "cpu", disk_dir: Path | None = None
    ) -> None:
        self.device = torch.device(device)
        self.device_tier, self.host_tier = ByteLRU(device_bytes), ByteLRU(host_bytes)
        self._tmp = None if disk_dir else tempfile.mkdtemp(prefix="dsbench-tiers-")
        self.disk = DiskTier(Path(disk_dir or self._tmp))
        self.stats = TierStats()

    def put(self, key: object, value: torch.Tensor) -> None:
        """Store ``value`` on disk and drop stale cached copies."""
        for tier in (self.device_tier, self.host_tier):
            if key in tier:
                tier.pop(key)
        self.disk.write(key, value)

    def get(self, key: object) -> torch.Tensor:
        """The value of ``key`` on the device; KeyError if it was never put."""
        if key not in self.disk:
            raise KeyError(key)
        start = time.perf_counter()
        if key in self.device_tier:
            self.stats.hits[Tier.DEVICE] += 1
            value = self.device_tier.get(key)
        else:
            if key in self.host_tier:
                self.stats.hits[Tier.HOST] += 1
                host = self.host_tier.pop(key)
            else:
                self.stats.hits[Tier.DISK] += 1
                host = self.disk.read(key)
                self.stats.moved_bytes["disk->host"] += nbytes(host)
            value = host.to(self.device, copy=True)
            self.stats.moved_bytes["host->device"] += nbytes(value)
            self._promote(key, value, host)
        self.stats.fetch_s += time.perf_counter() - start
        return value

    def _promote(self, key: object, value: torch.Tensor, host: torch.Tensor) -> None:
        for old_key, old in self.device_tier.put(key, value):
            if old_key == key:  # larger than the device tier: keep the host copy instead
                self.host_tier.put(key, host)
                continue
            self.stats.moved_bytes["device->host"] += nbytes(old)
            self.host_tier.put(old_key, old.to("cpu", copy=True))  # host evictions just drop

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> TieredStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def zipf_trace(n_keys: int, n_accesses: int, s: float = 1.1, seed: int = 0) -> np.ndarray:
    """``n_accesses`` keys in ``[0, n_keys)``, rank-r key with probability ∝ r^-s (bounded Zipf);
    popularity ranks are shuffled over keys so key 0 is not the most popular."""
    if n_keys < 1 or n_accesses < 0 or s < 0:
        raise ValueError(f"need n_keys({n_keys}) >= 1, n_accesses({n_accesses}) >= 0, s({s}) >= 0")
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_keys + 1) ** s
    ranks = rng.choice(n_keys, size=n_accesses, p=p / p.sum())
    return rng.permutation(n_keys)[ranks]


def top_k_mass(n_keys: int, k: int, s: float) -> float:
    """Share of Zipf(s) accesses that go to the ``k`` most popular keys: the hit rate of an
    oracle that pins the best ``k`` keys (LRU on an independent trace stays below it)."""
    p = 1.0 / np.arange(1, n_keys + 1) ** s
    return float(p[: max(0, min(k, n_keys))].sum() / p.sum())


def replay(store, trace: Iterable[int]) -> list[torch.Tensor]:
    """``store.get`` every key of the trace; the values, in order."""
    return [store.get(int(k)) for k in trace]


# --- the seed's hierarchy, as written (000 §1.1) ------------------------------------------------


class LRUCache:
    """Not defined in the seed; read as bounded by *entries* (``size=1e9`` entries)."""

    def __init__(self, size: float) -> None:
        self.size, self._items = int(size), OrderedDict()

    def contains(self, key):
        return key in self._items

    def get(self, key):
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key, data):
        self._items[key] = data
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class DiskStorage:
    """Not defined in the seed; a dict of tensors standing in for files."""

    def __init__(self, data: dict | None = None) -> None:
        self.data = data or {}

    def read(self, key):
        return self.data[key].clone()


class SeedMemoryHierarchy:
    """000 §1.1 ``MemoryHierarchy``, verbatim apart from layout (and ``disk`` injectable)."""

    def __init__(self, disk: DiskStorage | None = None):
        self.gpu_cache = {}  # L0
        self.cpu_mem = LRUCache(size=1e9)  # L1
        self.disk = disk or DiskStorage()  # L2

    def get_data(self, key):
        if key in self.gpu_cache:
            return self.gpu_cache[key]
        elif self.cpu_mem.contains(key):
            data = self.cpu_mem.get(key)
            self._promote_to_gpu(key, data)
            return data
        else:
            data = self.disk.read(key)
            self.cpu_mem.put(key, data)
            return data

    def _promote_to_gpu(self, key, data):  # not defined in the seed: the obvious meaning
        self.gpu_cache[key] = data


def seed_gpu_growth(trace: Iterable[int], values: dict[int, torch.Tensor]) -> list[int]:
    """Bytes held by the seed's GPU tier after each access (it only ever grows)."""
    hierarchy = SeedMemoryHierarchy(DiskStorage(values))
    held, total = [], 0
    for key in trace:
        before = len(hierarchy.gpu_cache)
        hierarchy.get_data(int(key))
        if len(hierarchy.gpu_cache) > before:
            total += nbytes(values[int(key)])
        held.append(total)
    return held
