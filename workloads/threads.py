"""Torch's intra-op thread count for a block of work: the one helper every measurement uses.

On a CPU shared with other busy processes, a team of OpenMP threads stalls whenever one of its
threads loses its core (measured on a 2-core machine: a tiny block's forward went from 0.2 ms
to 330 ms; a batch-2 serving pass took 30x a batch-1 pass). Running both sides of an A/B
comparison on one thread gives stable ratios, and one thread per worker is also how CPU
inference servers run. ``torch_threads(n)`` sets the count for a ``with`` block or, as a
decorator, for each call of a function, and always restores the previous count.

torch is imported only when the block is entered, so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib


class torch_threads(contextlib.ContextDecorator):  # noqa: N801 - used like a function
    """Run with ``n`` torch intra-op threads (``None``: leave the setting alone)."""

    def __init__(self, n: int | None = 1) -> None:
        if n is not None and n < 1:
            raise ValueError(f"thread count must be >= 1, got {n}")
        self.n = n
        self._before: list[int] = []

    def __enter__(self) -> torch_threads:
        import torch

        self._before.append(torch.get_num_threads())
        if self.n is not None:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.set_num_threads(self._before.pop())


def one_thread() -> torch_threads:
    """``torch_threads(1)``: as ``with one_thread():`` or as the decorator ``@one_thread()``."""
    return torch_threads(1)
