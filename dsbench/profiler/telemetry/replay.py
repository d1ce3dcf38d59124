"""Replay backend: plays back a sample log (``samples.jsonl``) written by ds-profiler.

Used to analyse a recorded run again (other windows, other alert thresholds) and in tests,
where a series with known statistics is replayed through the windows and alerts. Samples
keep their recorded times; nothing sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import groupby
from pathlib import Path

from dsbench.profiler.telemetry.metrics import Sample
from dsbench.profiler.telemetry.nvml import BackendError


def read_samples(path: str | Path) -> list[Sample]:
    """Every sample in a JSONL log, in file order; BackendError naming a bad line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BackendError(f"replay backend cannot read {path}: {exc.strerror or exc}") from exc
    samples = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            samples.append(Sample.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"{path}:{lineno}: not a sample line ({exc})") from exc
    if not samples:
        raise BackendError(f"replay backend: {path} holds no samples")
    return samples


def write_series(
    path: str | Path,
    device: str,
    series: dict[str, Iterable[float | None]],
    t0: float = 0.0,
    interval_s: float = 1.0,
) -> Path:
    """Write metric series as a sample log (for tests and examples); returns ``path``."""
    columns = {k: list(v) for k, v in series.items()}
    n = len(next(iter(columns.values())))
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            sample = Sample(t0 + i * interval_s, device, {k: v[i] for k, v in columns.items()})
            fh.write(json.dumps(sample.to_dict()) + "\n")
    return Path(path)


class ReplayBackend:
    name = "replay"
    notice: str | None = None

    def __init__(self, path: str | Path, metrics: Iterable[str] | None = None) -> None:
        self.path = Path(path)
        self.metrics = tuple(metrics) if metrics else None
        self._samples: list[Sample] = []

    def start(self) -> None:
        self._samples = read_samples(self.path)
        self.notice = f"ds-profiler: replaying {len(self._samples)} samples from {self.path}"

    def close(self) -> None:
        return None

    def batches(self) -> Iterator[list[Sample]]:
        """Samples grouped by time stamp, in order; filtered to the chosen metrics."""
        for _, group in groupby(self._samples, key=lambda s: s.t):
            yield [self._select(s) for s in group]

    def _select(self, sample: Sample) -> Sample:
        if self.metrics is None:
            return sample
        values = {k: v for k, v in sample.values.items() if k in self.metrics}
        for m in self.metrics:
            values.setdefault(m, None)
        reasons = {k: r for k, r in sample.reasons.items() if k in values}
        for m in self.metrics:
            if m not in sample.values:
                reasons[m] = "not in the replayed log"
        return sample.__class__(sample.t, sample.device, values, reasons)
