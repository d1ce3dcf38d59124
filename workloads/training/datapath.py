"""The data path: memory-mapped token files against in-RAM arrays, and a CPU/device split pipeline.

Memory-mapped tokens (002 §3.1, "``DeepSeekDataLoader`` handles TB-scale datasets by memory
mapping"). A token file is a flat array of ``uint16`` ids (nanoGPT's ``train.bin`` format);
:class:`MmapTokens` maps it with ``np.memmap`` and a sample is one ``T+1``-token window read at a
random offset, so the process only ever touches the pages it samples and the file may exceed
RAM. :class:`InRAMTokens` reads the whole file and refuses when it is larger than a configured
memory budget. Tests and quick runs build a file larger than a *configured budget*, not
larger than the machine's RAM; records say so. After the first pass the kernel's page cache
holds the mapped pages, so the bench measures the mapped reads cold (pages dropped with
``posix_fadvise(DONTNEED)``, where the OS supports it) and warm.

Split pipeline (002 §1: "an A100 for feature extraction, an Intel CPU for logic branches,
+37%"). A small CNN extracts per-image class scores on the device; per-image post-processing
(thresholds, top-k, branching in Python) runs on the CPU. :func:`run_serial` does both in turn
for every batch; :func:`run_overlapped` runs post-processing in a consumer thread fed through a
bounded queue, so batch ``i+1``'s features are computed while batch ``i`` is post-processed.
Perfect overlap gives ``(t_feat + t_post) / max(t_feat, t_post)``, at most 2×; a +37% gain
therefore says that post-processing took about 37% of the feature time (or that the
baseline was slower for another reason — the seed states none). Both return the same results.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

TOKEN_DTYPE = np.uint16  # GPT-2's 50257 ids fit; nanoGPT's train.bin uses the same


class MemoryBudgetError(ValueError):
    """An in-RAM load would exceed the configured memory budget."""


def write_token_file(path: Path, n_tokens: int, vocab: int = 50257, seed: int = 0) -> Path:
    """Write ``n_tokens`` random ids as ``uint16`` in 1M-token chunks (never all in RAM)."""
    if n_tokens < 2 or not 1 < vocab <= 65536:
        raise ValueError(f"need n_tokens({n_tokens}) >= 2 and 1 < vocab({vocab}) <= 65536")
    rng = np.random.default_rng(seed)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        for start in range(0, n_tokens, 1 << 20):
            count = min(1 << 20, n_tokens - start)
            rng.integers(0, vocab, count, dtype=TOKEN_DTYPE).tofile(f)
    os.replace(tmp, path)
    return path


class _Windows:
    """Random ``T+1``-token windows from a flat token array (``tokens`` set by subclasses)."""

    tokens: np.ndarray
    seq_len: int

    def __len__(self) -> int:
        return len(self.tokens) - self.seq_len

    def batch(self, starts: Sequence[int]) -> torch.Tensor:
        """(B, T+1) int64 windows starting at ``starts`` (inputs ``[:, :-1]``, targets ``[:, 1:]``)."""
        rows = np.stack([self.tokens[s : s + self.seq_len + 1] for s in starts])
        return torch.from_numpy(rows.astype(np.int64))


class MmapTokens(_Windows):
    """A token file mapped read-only; reads touch only the sampled pages."""

    def __init__(self, path: Path, seq_len: int) -> None:
        self.path, self.seq_len = Path(path), seq_len
        self.tokens = np.memmap(self.path, dtype=TOKEN_DTYPE, mode="r")
        if len(self.tokens) <= seq_len:
            raise ValueError(f"{self.path.name}: {len(self.tokens)} tokens <= seq_len({seq_len})")

    def drop_page_cache(self) -> bool:
        """Ask the kernel to drop the file's cached pages; False where unsupported."""
        if not hasattr(os, "posix_fadvise"):
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        return True


class InRAMTokens(_Windows):
    """The whole token file read into memory; :class:`MemoryBudgetError` above ``budget_bytes``."""

    def __init__(self, path: Path, seq_len: int, budget_bytes: int | None = None) -> None:
        self.path, self.seq_len = Path(path), seq_len
        size = self.path.stat().st_size
        if budget_bytes is not None and size > budget_bytes:
            raise MemoryBudgetError(
                f"{self.path.name} is {size} B > memory budget {budget_bytes} B; use MmapTokens"
            )
        self.tokens = np.fromfile(self.path, dtype=TOKEN_DTYPE)


def random_starts(n_windows: int, count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_windows, count)


# --- the CPU / device split pipeline --------------------------------------------------------------


def feature_net(n_classes: int = 10, width: int = 16, seed: int = 0) -> nn.Module:
    """A small CNN: (B, 3, S, S) images -> (B, n_classes) scores."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, n_classes),
    ).eval()


def post_process(scores_BK: torch.Tensor, rounds: int = 50) -> list[tuple[int, str, float]]:
    """Per-image branch logic on the CPU: top class, a decision, and a small iterative score.

    ``rounds`` Python steps per image set how heavy the logic is (the seed gives no workload).
    """
    out = []
    for row in scores_BK.tolist():
        best = max(range(len(row)), key=row.__getitem__)
        margin = row[best] - sorted(row)[-2]
        decision = "accept" if margin > 0.05 else ("review" if margin > 0.01 else "reject")
        score = 0.0
        for r in range(rounds):  # the "logic branches": data-dependent Python control flow
            score = score * 0.9 + (row[r % len(row)] if score < margin else -margin)
        out.append((best, decision, round(score, 6)))
    return out


@torch.no_grad()
def extract(net: nn.Module, images: torch.Tensor, device: str) -> torch.Tensor:
    return net(images.to(device, non_blocking=True)).float().cpu()


def run_serial(net, batches: Sequence[torch.Tensor], device: str = "cpu", rounds: int = 50):
    """Features then post-processing, batch after batch, one thread."""
    results = []
    for images in batches:
        results += post_process(extract(net, images, device), rounds)
    return results


def run_overlapped(
    net, batches: Sequence[torch.Tensor], device: str = "cpu", rounds: int = 50, depth: int = 2
):
    """Features in this thread, post-processing in a consumer thread via a queue of ``depth``."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    parts: list[list] = []
    errors: list[BaseException] = []

    def consume() -> None:
        while (scores := q.get()) is not None:
            try:
                parts.append(post_process(scores, rounds))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                errors.append(exc)

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    try:
        for images in batches:
            q.put(extract(net, images, device))
    finally:
        q.put(None)
        worker.join()
    if errors:
        raise errors[0]
    return [r for part in parts for r in part]


def overlap_bound(t_feat_s: float, t_post_s: float) -> float:
    """Best speed-up of overlapping two stages over running them in turn."""
    return (t_feat_s + t_post_s) / max(t_feat_s, t_post_s)
