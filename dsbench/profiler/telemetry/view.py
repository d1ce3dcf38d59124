"""Terminal output of the monitor: plain lines (pipes, CI) or a live rich table (terminals)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from dsbench.profiler.telemetry.metrics import Sample
from dsbench.profiler.telemetry.window import WindowStats


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%H:%M:%S")


def _num(value: float | None) -> str:
    return "null" if value is None else f"{value:.4g}"


def window_line(w: WindowStats) -> str:
    head = f"[{_clock(w.start)}-{_clock(w.end)}{' partial' if w.partial else ''}] {w.device} {w.metric}"
    if w.n == 0:
        why = f" ({w.null_reason})" if w.null_reason else ""
        return f"{head}: no value in {w.n_null} samples{why}"
    s = w.stats
    return (
        f"{head}: mean {_num(s['mean'])} {w.unit}  p5 {_num(s['p5'])}  p50 {_num(s['p50'])}"
        f"  p95 {_num(s['p95'])}  min {_num(s['min'])}  max {_num(s['max'])}  n={w.n}"
    )


def alert_line(e: dict[str, Any]) -> str:
    if e["event"] == "fire":
        return (
            f"ALERT {e['device']} {e['rule']}: window {e['stat']} {e['value']:.4g} for "
            f"{e['consecutive_windows']} windows in a row. Likely cause: {e['cause']}"
        )
    return f"CLEARED {e['device']} {e['rule']}: window {e['stat']} {e['value']:.4g}"


class PlainView:
    """One line per metric per finished window, one line per alert event."""

    def on_samples(self, samples: list[Sample]) -> None:
        return None

    def on_windows(self, windows: list[WindowStats], events: list[dict]) -> None:
        for w in windows:
            click.echo(window_line(w))
        for e in events:
            click.echo(alert_line(e))

    def close(self) -> None:
        return None


class LiveView(PlainView):
    """A rich table of the latest readings and the last window, redrawn in place."""

    def __init__(self) -> None:
        from rich.live import Live

        self._latest: dict[tuple[str, str], float | None] = {}
        self._window: dict[tuple[str, str], WindowStats] = {}
        self._live = Live(self._table(), refresh_per_second=4, transient=False)
        self._live.start()

    def _table(self):
        from rich.table import Table

        table = Table("device", "metric", "now", "window mean", "p5", "p95", "n")
        for key in sorted(self._latest):
            w = self._window.get(key)
            s = w.stats if w else {}
            table.add_row(
                key[0],
                key[1],
                _num(self._latest[key]),
                _num(s.get("mean")),
                _num(s.get("p5")),
                _num(s.get("p95")),
                str(w.n) if w else "",
            )
        return table

    def on_samples(self, samples: list[Sample]) -> None:
        for sample in samples:
            for metric, value in sample.values.items():
                self._latest[(sample.device, metric)] = value
        self._live.update(self._table())

    def on_windows(self, windows: list[WindowStats], events: list[dict]) -> None:
        for w in windows:
            self._window[(w.device, w.metric)] = w
        for e in events:
            self._live.console.print(alert_line(e))
        self._live.update(self._table())

    def close(self) -> None:
        self._live.stop()
