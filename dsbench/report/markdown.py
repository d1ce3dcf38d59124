"""The verification report: Markdown and a self-contained HTML page with embedded figures.

Analysis functions return DataFrames (:func:`claims_frame`, :func:`verdict_counts`,
:func:`at_odds`); plotting functions take a DataFrame and return a matplotlib ``Figure``
(:func:`plot_verdicts`); :func:`write_report` puts them together. The report opens with the
counts per verdict and the claims most at odds with the evidence, then lists every claim by
seed with its claimed and measured values, the explanation, links to the evidence records
and the command that reproduces the row.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dsbench.claims.verdicts import SEVERITY, Verdict

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from dsbench.claims.engine import ClaimResult

COLOURS = {
    "supported": "#2e7d32", "partly": "#9e9d24", "contradicted": "#c62828",
    "impossible": "#6a1b9a", "needs-gpu": "#1565c0", "needs-data": "#00838f",
    "vague": "#757575", "unchecked": "#bdbdbd", "error": "#ef6c00",
}  # fmt: skip


def claims_frame(rows: Sequence[ClaimResult]) -> pd.DataFrame:
    """One row per claim; columns are the keys of ``ClaimResult.to_json()``."""
    import pandas as pd

    return pd.DataFrame([r.to_json() for r in rows])


def verdict_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns ``verdict``, ``count``, in severity order; verdicts with no claim are kept (0)."""
    import pandas as pd

    counts = frame["verdict"].value_counts() if len(frame) else pd.Series(dtype=int)
    return pd.DataFrame(
        {
            "verdict": [v.value for v in SEVERITY],
            "count": [int(counts.get(v.value, 0)) for v in SEVERITY],
        }
    )


def at_odds(frame: pd.DataFrame, limit: int = 10) -> pd.DataFrame:
    """The claims most at odds with the evidence: impossible, then contradicted, then errors."""
    worst = {Verdict.IMPOSSIBLE.value: 0, Verdict.CONTRADICTED.value: 1, Verdict.ERROR.value: 2}
    picked = frame[frame["verdict"].isin(worst)].copy()
    picked["rank"] = picked["verdict"].map(worst)
    return picked.sort_values("rank", kind="stable").drop(columns="rank").head(limit)


def plot_verdicts(frame: pd.DataFrame) -> Figure:
    """Stacked horizontal bars: verdicts per seed document."""
    from matplotlib.figure import Figure

    seeds = sorted(frame["seed"].unique()) if len(frame) else []
    fig = Figure(figsize=(8, 0.5 + 0.45 * max(len(seeds), 1)), layout="constrained")
    ax = fig.subplots()
    left = [0] * len(seeds)
    for verdict in (v.value for v in SEVERITY):
        counts = [int(((frame["seed"] == s) & (frame["verdict"] == verdict)).sum()) for s in seeds]
        if any(counts):
            ax.barh(
                [s[:3] for s in seeds], counts, left=left, color=COLOURS[verdict], label=verdict
            )
            left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.set_xlabel("claims")
    ax.set_ylabel("seed")
    ax.invert_yaxis()
    ax.legend(
        loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=5, fontsize="small", frameon=False
    )
    return fig


def _fmt(value: float | None, unit: str | None) -> str:
    if value is None:
        return "—"
    text = f"{value:.4g}"
    return f"{text} {unit}" if unit else text


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown(
    frame: pd.DataFrame, counts: pd.DataFrame, worst: pd.DataFrame, title: str, figure_name: str
) -> str:
    lines = [f"# {title}", "", "| verdict | claims |", "|---|---|"]
    lines += [
        f"| {v} | {c} |" for v, c in zip(counts["verdict"], counts["count"], strict=True) if c
    ]
    lines += [
        "",
        f"![verdicts per seed]({figure_name})",
        "",
        "## Most at odds with the evidence",
        "",
    ]
    if worst.empty:
        lines.append("No claim is contradicted or impossible.")
    for _, r in worst.iterrows():
        lines.append(f"- **{r['id']}** — {r['verdict']}: {_md_cell(r['explanation'])}")
    for seed, group in frame.groupby("seed", sort=True):
        lines += [
            "",
            f"## {seed}",
            "",
            "| id | § | verdict | claimed | measured | explanation | evidence | reproduce |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for _, r in group.iterrows():
            evidence = " ".join(f"[{i + 1}]({p})" for i, p in enumerate(r["evidence"]))
            lines.append(
                f"| {r['id']} | {r['section']} | {r['verdict']} | {_md_cell(r['claimed'])} | "
                f"{_fmt(r['measured'], r['unit'])} | {_md_cell(r['explanation'])} | {evidence} | "
                f"`{r['reproduce']}` |"
            )
    return "\n".join(lines) + "\n"


def _html(
    frame: pd.DataFrame, counts: pd.DataFrame, worst: pd.DataFrame, title: str, png: bytes
) -> str:
    esc = html.escape
    badge = lambda v: f'<span class="v" style="background:{COLOURS[v]}">{esc(v)}</span>'  # noqa: E731
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}"
        "table{border-collapse:collapse;width:100%;font-size:13px}"
        "td,th{border:1px solid #ddd;padding:4px;vertical-align:top}th{background:#f3f3f3}"
        ".v{color:#fff;padding:1px 6px;border-radius:3px;white-space:nowrap}"
        "code{font-size:12px}</style></head><body>",
        f"<h1>{esc(title)}</h1><table style='width:auto'><tr><th>verdict</th><th>claims</th></tr>",
    ]
    parts += [
        f"<tr><td>{badge(v)}</td><td>{c}</td></tr>"
        for v, c in zip(counts["verdict"], counts["count"], strict=True)
        if c
    ]
    parts.append(
        f"</table><p><img alt='verdicts per seed' src='data:image/png;base64,"
        f"{base64.b64encode(png).decode()}'></p><h2>Most at odds with the evidence</h2><ul>"
    )
    parts += [
        f"<li><b>{esc(r['id'])}</b> {badge(r['verdict'])} {esc(r['explanation'])}</li>"
        for _, r in worst.iterrows()
    ] or ["<li>No claim is contradicted or impossible.</li>"]
    parts.append("</ul>")
    for seed, group in frame.groupby("seed", sort=True):
        parts.append(
            f"<h2>{esc(seed)}</h2><table><tr><th>id</th><th>§</th><th>verdict</th>"
            "<th>claimed</th><th>measured</th><th>explanation</th><th>evidence</th>"
            "<th>reproduce</th></tr>"
        )
        for _, r in group.iterrows():
            evidence = " ".join(
                f"<a href='{esc(p)}'>[{i + 1}]</a>" for i, p in enumerate(r["evidence"])
            )
            parts.append(
                f"<tr id='{esc(r['id'])}'><td>{esc(r['id'])}</td><td>{esc(r['section'])}</td>"
                f"<td>{badge(r['verdict'])}</td><td>{esc(r['claimed'])}</td>"
                f"<td>{esc(_fmt(r['measured'], r['unit']))}</td><td>{esc(r['explanation'])}</td>"
                f"<td>{evidence}</td><td><code>{esc(r['reproduce'])}</code></td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def _write_atomic(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data if isinstance(data, bytes) else data.encode())
    os.replace(tmp, path)


def write_report(rows: Sequence[ClaimResult], out_dir: Path, mode: str) -> tuple[Path, Path]:
    """Write ``report.md`` (+ ``verdicts.png``) and a self-contained ``report.html``."""
    frame = claims_frame(rows)
    counts, worst = verdict_counts(frame), at_odds(frame)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"dsbench verify --{mode}: {len(frame)} claims ({stamp})"
    buffer = io.BytesIO()
    plot_verdicts(frame).savefig(buffer, format="png", dpi=110)
    png = buffer.getvalue()
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(out_dir / "verdicts.png", png)
    md, page = out_dir / "report.md", out_dir / "report.html"
    _write_atomic(md, _markdown(frame, counts, worst, title, "verdicts.png"))
    _write_atomic(page, _html(frame, counts, worst, title, png))
    return md, page
