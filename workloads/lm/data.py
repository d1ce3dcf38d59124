"""Byte-level text that ships with Python, split once into train and validation.

Two domains, both part of every CPython install so nothing is downloaded:

- ``english``: the English reference documentation in :mod:`pydoc_data.topics` (~0.47 MB),
  topics in sorted order;
- ``python``: standard-library source files (``*.py`` at the top level of the stdlib
  directory), in sorted file-name order, up to ``max_bytes``.

The text is cut into documents of ``doc_bytes``; a permutation seeded by ``split_seed`` assigns
``val_fraction`` of the documents to validation. Training batches are random windows drawn
with a seeded generator; validation is a fixed, evenly spaced set of windows, so every variant
is evaluated on exactly the same bytes.
"""

from __future__ import annotations

import functools
import sysconfig
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import torch


class Domain(Enum):
    ENGLISH = "english"
    PYTHON = "python"


def english_bytes() -> bytes:
    """The pydoc topics text, UTF-8."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics)).encode("utf-8")


def python_bytes(max_bytes: int = 2_000_000) -> bytes:
    """Top-level standard-library sources, sorted by file name, cut at ``max_bytes``."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    out, n = [], 0
    for path in sorted(stdlib.glob("*.py")):
        data = path.read_bytes()
        out.append(data)
        n += len(data)
        if n >= max_bytes:
            break
    return b"\n".join(out)[:max_bytes]


def domain_bytes(domain: Domain, max_bytes: int = 2_000_000) -> bytes:
    if domain is Domain.ENGLISH:
        return english_bytes()[:max_bytes]
    return python_bytes(max_bytes)


@dataclass(frozen=True)
class Split:
    """train / val: uint8 token tensors (documents concatenated in split order)."""

    train: torch.Tensor
    val: torch.Tensor


def split_documents(
    data: bytes, *, doc_bytes: int = 4096, val_fraction: float = 0.1, split_seed: int = 1234
) -> Split:
    """Cut ``data`` into documents and assign a seeded random ``val_fraction`` of them to val."""
    if doc_bytes <= 0:
        raise ValueError(f"doc_bytes must be > 0, got doc_bytes={doc_bytes}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got val_fraction={val_fraction}")
    tokens = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    docs = list(tokens.split(doc_bytes))
    if len(docs) < 2:
        raise ValueError(
            f"{len(data)} bytes make {len(docs)} document(s) of {doc_bytes}; need >= 2"
        )
    perm = torch.randperm(len(docs), generator=torch.Generator().manual_seed(split_seed)).tolist()
    n_val = max(1, round(val_fraction * len(docs)))
    val = torch.cat([docs[i] for i in sorted(perm[:n_val])])
    train = torch.cat([docs[i] for i in sorted(perm[n_val:])])
    return Split(train=train, val=val)


@functools.lru_cache(maxsize=8)
def load_split(
    domain: Domain = Domain.ENGLISH, *, max_bytes: int = 2_000_000, split_seed: int = 1234
) -> Split:
    """The fixed train/val split of one domain (cached: the same arguments return the same
    object, whose tensors callers must not modify)."""
    return split_documents(domain_bytes(domain, max_bytes), split_seed=split_seed)


def random_windows(
    tokens: torch.Tensor, batch: int, seq_len: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` random windows: inputs (B, T) and next-byte targets (B, T), int64."""
    if tokens.numel() <= seq_len + 1:
        raise ValueError(f"text of {tokens.numel()} bytes is too short for seq_len={seq_len}")
    start_B = torch.randint(0, tokens.numel() - seq_len - 1, (batch,), generator=gen)
    idx_BT = start_B[:, None] + torch.arange(seq_len + 1)
    chunk = tokens[idx_BT].long()
    return chunk[:, :-1], chunk[:, 1:]


def fixed_windows(tokens: torch.Tensor, n: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` evenly spaced windows covering the text (the same every call): (n, T) each."""
    last = tokens.numel() - seq_len - 1
    if last <= 0:
        raise ValueError(f"text of {tokens.numel()} bytes is too short for seq_len={seq_len}")
    start_N = torch.linspace(0, last, n).long()
    chunk = tokens[start_N[:, None] + torch.arange(seq_len + 1)].long()
    return chunk[:, :-1], chunk[:, 1:]


def length_curriculum(
    step: int, steps: int, seq_len: int, *, min_len: int = 16, warm_fraction: float = 0.5
) -> int:
    """Sequence length for ``step`` of a short-to-long curriculum: grows linearly from
    ``min_len`` to ``seq_len`` over the first ``warm_fraction`` of the steps (a power of two
    at most ``seq_len``). The trainer scales the batch so every step sees the same tokens."""
    ramp = max(1, int(steps * warm_fraction))
    frac = min(1.0, (step + 1) / ramp)
    target = min_len + frac * (seq_len - min_len)
    length = min_len
    while length * 2 <= target:
        length *= 2
    return min(seq_len, length) if frac < 1 else seq_len
