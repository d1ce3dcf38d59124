"""Threshold alerts over windows, with N-consecutive-window firing and hysteresis.

The defaults are the seed's table (003 §4.1): GPU utilisation < 70%, bandwidth utilisation
< 80%, memory > 85% ("OOM risk"). An alert *fires* once the rule's window statistic has been
on the wrong side of the threshold for ``consecutive`` windows in a row, and *clears* once a
window is back past the threshold by the hysteresis margin; one breach between clear windows
fires nothing. Every event names the likely cause, including what the metric cannot see:
``gpu_util`` is a duty cycle, so < 70% means idle time (host-wait, launch gaps) and a GPU
that is busy with one tiny kernel reads 100% and never alerts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dsbench.core.errors import DsbenchError
from dsbench.profiler.telemetry.metrics import SPECS
from dsbench.profiler.telemetry.window import STATS, WindowStats


class Op(StrEnum):
    BELOW = "<"
    ABOVE = ">"


@dataclass(frozen=True)
class AlertRule:
    """``metric op threshold`` on the window statistic ``stat``.

    consecutive: windows in a row that must breach before the alert fires (>= 1).
    hysteresis: margin (metric units) past the threshold a window needs to clear it.
    """

    metric: str
    op: Op
    threshold: float
    stat: str = "mean"
    consecutive: int = 3
    hysteresis: float = 5.0
    cause: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "op", Op(self.op))
        if self.stat not in STATS:
            raise ValueError(f"alert stat {self.stat!r} is not one of {', '.join(STATS)}")
        if self.consecutive < 1 or self.hysteresis < 0:
            raise ValueError(
                f"need consecutive({self.consecutive}) >= 1 and hysteresis({self.hysteresis}) >= 0"
            )

    @property
    def label(self) -> str:
        return f"{self.metric}{self.op.value}{self.threshold:g}"

    def breached(self, value: float) -> bool:
        return value < self.threshold if self.op is Op.BELOW else value > self.threshold

    def cleared(self, value: float) -> bool:
        if self.op is Op.BELOW:
            return value >= self.threshold + self.hysteresis
        return value <= self.threshold - self.hysteresis


CAUSES = {
    "gpu_util": "GPU idle part of the time: the host did not queue work (data loading, "
    "CPU pre-processing, synchronisation) or many tiny kernels leave launch gaps; "
    "`ds-profiler run --trace` + `analyze` tells which. utilization.gpu is a duty "
    "cycle: it shows idle time, not under-use of the SMs (see sm_active)",
    "dram_bw_util": "memory bandwidth below 80% of peak: normal in compute-bound phases; in a "
    "bandwidth-bound phase it means small transfers or poor access patterns. "
    "NVML has no NCCL bus-bandwidth counter; measure collectives offline",
    "mem_used_pct": "OOM risk: device memory above 85%. NVML counts the CUDA context and the "
    "caching allocator's reserve; compare torch.cuda.memory_allocated with "
    "memory_reserved before cutting the batch",
}

DEFAULT_RULES = (
    AlertRule("gpu_util", Op.BELOW, 70.0, "mean", cause=CAUSES["gpu_util"]),
    AlertRule("dram_bw_util", Op.BELOW, 80.0, "mean", cause=CAUSES["dram_bw_util"]),
    AlertRule("mem_used_pct", Op.ABOVE, 85.0, "max", cause=CAUSES["mem_used_pct"]),
)

_RULE = re.compile(r"^\s*([a-z0-9_]+)\s*([<>])\s*([-+0-9.eE]+)\s*(?::\s*([a-z0-9]+))?\s*$")


def parse_rule(text: str, consecutive: int, hysteresis: float) -> AlertRule:
    """``"gpu_util<70"`` or ``"mem_used_pct>85:max"`` -> AlertRule; DsbenchError otherwise."""
    match = _RULE.match(text)
    if not match:
        raise DsbenchError(f"alert {text!r} is not METRIC<VALUE or METRIC>VALUE[:STAT]")
    metric, op, value, stat = match.groups()
    if metric not in SPECS:
        raise DsbenchError(f"alert {text!r}: unknown metric {metric!r}")
    try:
        return AlertRule(
            metric,
            Op(op),
            float(value),
            stat or "mean",
            consecutive,
            hysteresis,
            CAUSES.get(metric, f"{metric} crossed {value}"),
        )
    except ValueError as exc:
        raise DsbenchError(f"alert {text!r}: {exc}") from exc


@dataclass
class _State:
    run: int = 0  # consecutive breaching windows
    active: bool = False


@dataclass
class AlertEngine:
    rules: tuple[AlertRule, ...] = DEFAULT_RULES
    _state: dict[tuple[str, str], _State] = field(default_factory=dict)

    def update(self, windows: Iterable[WindowStats]) -> list[dict[str, Any]]:
        """Feed finished windows; return alert events (``fire`` / ``clear``) in order."""
        events = []
        for w in windows:
            for rule in self.rules:
                if rule.metric != w.metric or w.stats.get(rule.stat) is None:
                    continue  # no data in this window: state unchanged
                event = self._step(rule, w, float(w.stats[rule.stat]))
                if event:
                    events.append(event)
        return events

    def active(self) -> list[str]:
        return [f"{dev}:{label}" for (dev, label), s in self._state.items() if s.active]

    def _step(self, rule: AlertRule, w: WindowStats, value: float) -> dict[str, Any] | None:
        state = self._state.setdefault((w.device, rule.label), _State())
        if rule.breached(value):
            state.run += 1
            if not state.active and state.run >= rule.consecutive:
                state.active = True
                return _event("fire", rule, w, value, state.run)
            return None
        state.run = 0
        if state.active and rule.cleared(value):
            state.active = False
            return _event("clear", rule, w, value, 0)
        return None


def _event(kind: str, rule: AlertRule, w: WindowStats, value: float, run: int) -> dict[str, Any]:
    return {
        "event": kind,
        "rule": rule.label,
        "device": w.device,
        "metric": rule.metric,
        "stat": rule.stat,
        "value": value,
        "threshold": rule.threshold,
        "consecutive_windows": run,
        "window_start": w.start,
        "window_end": w.end,
        "cause": rule.cause,
    }
