"""Frames and figures for the notebooks (and anything else that plots stored results).

Two halves, kept apart as HolisticTraceAnalysis does: *frame* functions read stored results
through dsbench's loaders and return DataFrames with documented columns; *plot* functions take
such a DataFrame and return a matplotlib ``Figure`` (never ``plt.show()``, never printing),
so the same figure serves a notebook, a report or a test. A notebook is then a sequence of
"load a frame, show it, plot it" cells with no analysis of its own.

Frames:
- :func:`records_frame` — records under a folder, one row per metric (``results.load``), with
  ``kind``/``name``/``metric`` filters; :func:`records_wide` — one row per record, a column
  per metric and per (flattened) parameter.
- :func:`verdicts_frame` — one row per claim of a ``dsbench verify`` run folder.
- :func:`loglog_exponents` — fitted scaling exponents (slope of log y on log x) per group.
- :func:`telemetry_frames` — windows and alerts of a ``ds-profiler`` ``log_dir`` run.

Figures: :func:`plot_verdicts` (from :mod:`dsbench.report.markdown`), :func:`plot_scaling`,
:func:`plot_lines`, :func:`plot_breakdown`, :func:`plot_telemetry`, :func:`plot_history`,
:func:`plot_comparison`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dsbench.core.errors import DsbenchError
from dsbench.report.markdown import COLOURS, plot_verdicts

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from dsbench.regress.history import ChangePoint

__all__ = [
    "records_frame",
    "records_wide",
    "verdicts_frame",
    "loglog_exponents",
    "telemetry_frames",
    "plot_verdicts",
    "plot_scaling",
    "plot_lines",
    "plot_breakdown",
    "plot_telemetry",
    "plot_history",
    "plot_comparison",
]

# --- frames --------------------------------------------------------------------------------


def records_frame(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    kind: str | None = None,
    name: str | Sequence[str] | None = None,
    metric: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Stored records as :func:`dsbench.core.results.load` returns them (one row per metric),
    keeping the rows of the given ``kind``, ``name`` (one or several) and ``metric``."""
    from dsbench.core import results

    frame = results.load(paths)
    if kind is not None:
        frame = frame[frame["kind"] == kind]
    if name is not None:
        frame = frame[frame["name"].isin([name] if isinstance(name, str) else list(name))]
    if metric is not None:
        frame = frame[frame["metric"].isin([metric] if isinstance(metric, str) else list(metric))]
    return frame.reset_index(drop=True)


def _flatten(prefix: str, value: object, out: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    elif not isinstance(value, list):
        out[prefix] = value


def records_wide(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    kind: str | None = None,
    name: str | None = None,
) -> pd.DataFrame:
    """One row per record: ``kind``, ``name``, ``timestamp``, ``path``, one ``param.<key>``
    column per parameter (nested parameters flattened with dots, e.g.
    ``param.scenario.system.nodes``), one column per metric (its value; units are the
    records' own) and ``env.torch_threads``. Rows are in timestamp order."""
    import pandas as pd

    from dsbench.core import results

    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    rows = []
    for path, rec in results.load_records(paths):
        if (kind and rec.kind.value != kind) or (name and rec.name != name):
            continue
        row: dict = {"kind": rec.kind.value, "name": rec.name, "timestamp": rec.timestamp}
        row["path"] = str(path)
        _flatten("param", dict(rec.params), row)
        row.update({metric: m.value for metric, m in rec.metrics.items()})
        row["env.torch_threads"] = rec.environment.get("torch_threads")
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values("timestamp").reset_index(drop=True) if rows else frame


def verdicts_frame(run_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per catalogue claim of the ``dsbench verify`` run in ``run_dir`` (nothing is
    run; claims the run did not reach are ``unchecked``). Columns: the keys of
    ``ClaimResult.to_json()`` — ``id``, ``seed``, ``verdict``, ``claimed``, ``measured``...
    """
    from dsbench.claims.engine import verify
    from dsbench.report.markdown import claims_frame

    run_dir = Path(run_dir)
    if not (run_dir / "state.json").exists():
        raise DsbenchError(f"{run_dir}: not a verify run folder (no state.json)")
    return claims_frame(verify(run_dir, run=False))


def loglog_exponents(frame: pd.DataFrame, x: str, y: str, by: str) -> pd.DataFrame:
    """Least-squares slope of log(y) on log(x) per group: columns ``by``, ``exponent``,
    ``points``. Time ∝ x^exponent, so 2 is quadratic and 1 linear."""
    import numpy as np
    import pandas as pd

    rows = []
    for key, group in frame.groupby(by, sort=True):
        group = group[(group[x] > 0) & (group[y] > 0)]
        if len(group) < 2:
            continue
        slope = np.polyfit(np.log(group[x].astype(float)), np.log(group[y].astype(float)), 1)[0]
        rows.append({by: key, "exponent": float(slope), "points": len(group)})
    return pd.DataFrame(rows, columns=[by, "exponent", "points"])


def _newest_run(log_dir: Path) -> Path:
    if (log_dir / "windows.jsonl").exists():
        return log_dir
    runs = sorted(p for p in log_dir.glob("run-*") if p.is_dir())
    if not runs:
        raise DsbenchError(f"{log_dir}: no ds-profiler run folder (run-*) inside")
    return runs[-1]


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def telemetry_frames(log_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(windows, alerts)`` of the newest run in a ds-profiler ``log_dir`` (or a run folder).

    windows: one row per (window, device, metric) — ``device``, ``metric``, ``unit``,
    ``window_start``, ``window_end``, ``n_samples``, ``mean``, ``min``, ``max``, ``p5``,
    ``p50``, ``p95``, ``partial``; plus ``t_s``, the window's end relative to the first start.
    alerts: one row per alert event as ``alerts.jsonl`` stores it, plus ``t_s``.
    """
    import pandas as pd

    run = _newest_run(Path(log_dir))
    windows = pd.DataFrame(_jsonl(run / "windows.jsonl"))
    alerts = pd.DataFrame(_jsonl(run / "alerts.jsonl"))
    if windows.empty:
        raise DsbenchError(f"{run}: windows.jsonl holds no windows")
    t0 = windows["window_start"].min()
    windows["t_s"] = windows["window_end"] - t0
    if not alerts.empty:
        time_col = next(c for c in ("window_end", "time", "t") if c in alerts.columns)
        alerts["t_s"] = alerts[time_col] - t0
    return windows, alerts


# --- figures -------------------------------------------------------------------------------


def _figure(width: float = 7.0, height: float = 4.0, ncols: int = 1) -> tuple[Figure, list]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def plot_scaling(
    frame: pd.DataFrame,
    x: str,
    y: str,
    by: str,
    xlabel: str | None = None,
    ylabel: str | None = None,
    reference: Sequence[float] = (1.0, 2.0),
) -> Figure:
    """Log-log lines of ``y`` vs ``x`` per ``by`` group, labelled with fitted exponents, and
    dashed reference slopes (x^1, x^2 through the first group's first point)."""
    import numpy as np

    fig, (ax,) = _figure()
    exps = loglog_exponents(frame, x, y, by).set_index(by)["exponent"]
    for key, group in frame.sort_values(x).groupby(by, sort=True):
        label = f"{key} (slope {exps[key]:.2f})" if key in exps else str(key)
        ax.plot(group[x], group[y], marker="o", label=label)
    if len(frame) and reference:
        first = frame.sort_values(x).iloc[0]
        xs = np.array(sorted(frame[x].unique()), float)
        for slope in reference:
            ax.plot(xs, first[y] * (xs / xs[0]) ** slope, "k--", lw=0.8, alpha=0.5)
            ax.annotate(f"x^{slope:g}", (xs[-1], first[y] * (xs[-1] / xs[0]) ** slope), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.legend(fontsize="small")
    return fig


def plot_lines(
    frame: pd.DataFrame,
    x: str,
    y: str,
    by: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    logx: bool = False,
    logy: bool = False,
    marker: str = "o",
) -> Figure:
    """``y`` vs ``x``, one line per ``by`` group (or one line)."""
    fig, (ax,) = _figure()
    groups = frame.sort_values(x).groupby(by, sort=True) if by else [(None, frame.sort_values(x))]
    for key, group in groups:
        ax.plot(group[x], group[y], marker=marker, label=None if key is None else str(key))
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if by:
        ax.legend(fontsize="small", title=by)
    ax.grid(alpha=0.3)
    return fig


def plot_breakdown(
    frame: pd.DataFrame, x: str, parts: Sequence[str], ylabel: str = "seconds"
) -> Figure:
    """Stacked bars of the ``parts`` columns per ``x`` value (e.g. step time breakdown)."""
    fig, (ax,) = _figure()
    frame = frame.sort_values(x)
    labels = [str(v) for v in frame[x]]
    bottom = [0.0] * len(frame)
    for part in parts:
        values = frame[part].fillna(0).tolist()
        ax.bar(labels, values, bottom=bottom, label=part)
        bottom = [a + b for a, b in zip(bottom, values, strict=True)]
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def plot_telemetry(windows: pd.DataFrame, alerts: pd.DataFrame, metric: str) -> Figure:
    """Window mean of ``metric`` per device with the p5–p95 band; alert firings as red marks
    and clears as green marks on the time axis."""
    fig, (ax,) = _figure(8.0, 3.5)
    rows = windows[windows["metric"] == metric]
    if rows.empty:
        raise DsbenchError(
            f"no windows for metric {metric!r}; have {sorted(windows['metric'].unique())}"
        )
    for device, group in rows.groupby("device", sort=True):
        ax.plot(group["t_s"], group["mean"], marker=".", label=f"{device} mean")
        ax.fill_between(
            group["t_s"], group["p5"], group["p95"], alpha=0.2, label=f"{device} p5–p95"
        )
    if not alerts.empty and "metric" in alerts.columns:
        mine = alerts[alerts["metric"] == metric]
        kind_col = "event" if "event" in mine.columns else "kind"
        for _, a in mine.iterrows():
            colour = "tab:red" if str(a.get(kind_col, "")).startswith("fire") else "tab:green"
            ax.axvline(a["t_s"], color=colour, lw=1, alpha=0.7)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(f"{metric} ({rows['unit'].iloc[0]})")
    ax.legend(fontsize="small")
    return fig


def plot_history(frame: pd.DataFrame, points: Sequence[ChangePoint] = ()) -> Figure:
    """A metric per run (``value``), each segment's median level (``level`` column from
    :func:`dsbench.regress.history.annotate`, if present), and a line at each change point."""
    fig, (ax,) = _figure(8.0, 3.5)
    runs = list(range(len(frame)))
    ax.plot(runs, frame["value"], "o", label="run (median)")
    if "level" in frame.columns:
        ax.step(runs, frame["level"], where="mid", color="k", lw=1, label="segment median")
    for p in points:
        ax.axvline(
            p.index - 0.5, color="tab:red", ls="--", label=f"step {p.ratio:.2f}x at run {p.index}"
        )
    unit = frame["unit"].iloc[0] if "unit" in frame.columns and len(frame) else ""
    ax.set_xlabel("run (oldest first)")
    ax.set_ylabel(f"{frame['metric'].iloc[0] if 'metric' in frame.columns else 'value'} ({unit})")
    ax.legend(fontsize="small")
    return fig


def plot_comparison(frame: pd.DataFrame) -> Figure:
    """Ratio new/baseline per compared metric (a :meth:`Comparison.frame`), bars coloured by
    status, with the bootstrap interval when present and a line at 1."""
    status_colour = {
        "regression": COLOURS["contradicted"], "improvement": COLOURS["supported"],
        "unstable": COLOURS["needs-gpu"], "moved": COLOURS["impossible"],
    }  # fmt: skip
    rows = frame[frame["ratio"].notna()].reset_index(drop=True)
    fig, (ax,) = _figure(8.0, 0.6 + 0.3 * max(len(rows), 1))
    labels = [f"{n} {m}" for n, m in zip(rows["name"], rows["metric"], strict=True)]
    colours = [status_colour.get(s, "#9e9e9e") for s in rows["status"]]
    ax.barh(labels, rows["ratio"] - 1.0, left=1.0, color=colours)
    if "ci_low" in rows.columns and rows["ci_low"].notna().any():
        ok = rows["ci_low"].notna()
        ax.errorbar(
            rows.loc[ok, "ratio"],
            [labels[i] for i in rows.index[ok]],
            xerr=[
                rows.loc[ok, "ratio"] - rows.loc[ok, "ci_low"],
                rows.loc[ok, "ci_high"] - rows.loc[ok, "ratio"],
            ],
            fmt="none",
            ecolor="k",
        )
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("new / baseline")
    ax.invert_yaxis()
    return fig
