"""What the experiments of ``dsbench bench training`` share: sizes per mode, the single-thread
wrapper (generators are drained inside it, so a lazily produced record is still measured on
one thread) and the record builder. See :mod:`dsbench.bench.training` for the model.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from dsbench.core import environment
from dsbench.core.results import Kind, Metric, Record
from dsbench.core.timing import TimerConfig
from workloads.threads import one_thread

M = Kind.MEASUREMENT

# --- sizes -------------------------------------------------------------------------------------

STACK = {  # block stack for depth sweeps
    "quick": {"d_model": 16, "n_heads": 2, "batch": 1, "seq_len": 16, "depths": (1, 4, 16)},
    "full": {"d_model": 64, "n_heads": 4, "batch": 2, "seq_len": 64, "depths": (4, 16, 64, 144)},
}
LM_FRACTION = {  # LM for the partial-checkpointing curve
    "quick": {"n_layers": 8, "d_model": 32, "n_heads": 2, "batch": 2, "seq_len": 32},
    "full": {"n_layers": 8, "d_model": 256, "n_heads": 8, "batch": 8, "seq_len": 256},
}
TRAIN = {  # LM training-loss agreement
    "quick": {"preset": "tiny", "steps": 4, "batch": 2, "seq_len": 32},
    "full": {"preset": "cpu-small", "steps": 20, "batch": 4, "seq_len": 64},
}


def single_threaded(fn: Callable) -> Callable:
    """Decorator: call ``fn`` inside :func:`one_thread` (generators are drained inside it)."""

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        with one_thread():
            out = fn(*args, **kwargs)
            return list(out) if inspect.isgenerator(out) else out

    return inner


def timer_for(quick: bool) -> TimerConfig:
    return TimerConfig.quick() if quick else TimerConfig(budget_s=1.0)


def _record(name: str, params: dict, metrics: dict[str, Any], **info: Any) -> Record:
    """A measurement record; metric values are ``(value, unit)`` pairs or :class:`Metric`."""
    ms = {k: v if isinstance(v, Metric) else Metric(*v) for k, v in metrics.items()}
    return Record(
        M, name, params, ms, info, ("bench", "training"), environment=environment.capture()
    )
