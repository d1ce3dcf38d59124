"""A metric across stored runs, with change-point detection.

:func:`series` collects one value per stored record of a benchmark (its median when raw
samples exist), oldest first. :func:`change_points` finds the runs where the level steps, by **circular binary
segmentation** (Olshen, Venkatraman, Lucito & Wigler 2004, the method behind DNAcopy; plain
binary segmentation, Scott & Knott 1974, is its special case) with a scipy two-sample test as
the stopping rule:

1. In the current segment, consider every *arc* ``[i, j)`` against the rest of the segment
   (each side at least ``min_size`` runs). An arc touching an end is a plain split; an inner
   arc is a level that steps and later steps back (a regression that was fixed), which a
   single split cannot see. Take the arc with the largest Welch *t* statistic on log values
   — a step in a timing is multiplicative, and logs make a 10% step look the same at any
   scale — and its p-value from ``scipy.stats.t``.
2. Accept it when that p-value, Bonferroni-corrected for the number of arcs tried (the best
   of many candidates is always "significant" otherwise), is below ``alpha``, and the step
   between the medians inside and outside is at least ``min_step`` (a 1% step can be
   significant on a quiet machine and still not matter).
3. Recurse into the pieces.

The first run after an accepted split is "the first run where the step appears". Runs are
compared at the record level (one median each), not sample by sample: run-to-run variation
(another process on the machine, a different thermal state) is larger than within-run
variation, and a test on pooled samples would see a step between any two runs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dsbench.core.environment import fingerprint
from dsbench.core.errors import DsbenchError
from dsbench.core.results import Record

if TYPE_CHECKING:
    import pandas as pd

SERIES_COLUMNS = (
    "timestamp",
    "metric",
    "value",
    "unit",
    "n_samples",
    "fingerprint",
    "params",
    "record",
)


@dataclass(frozen=True)
class ChangePoint:
    """A step in a series: ``index`` is the first run of the new level (0-based)."""

    index: int
    before: float  # median of the segment before
    after: float  # median of the segment after
    p_value: float  # Bonferroni-corrected Welch t-test p-value

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before else math.inf


def _value(record: Record, metric: str) -> float | None:
    m = record.metrics.get(metric)
    if m is None:
        return None
    return statistics.median(m.samples) if m.samples else m.value


def default_metric(records: Sequence[Record]) -> str:
    """``time`` when present (measurements), else the first metric of the first record."""
    names = [n for r in records for n in r.metrics]
    if not names:
        raise DsbenchError("the matching records have no metrics")
    return "time" if "time" in names else names[0]


def series(
    records: Iterable[tuple[str, Record]], name: str, metric: str | None = None
) -> pd.DataFrame:
    """One row per stored run of ``name`` that has ``metric``, oldest first.

    ``records`` are ``(path, Record)`` pairs (as :func:`dsbench.core.results.load_records` gives).
    Columns: ``timestamp``, ``metric``, ``value`` (median of the samples, else the stored value),
    ``unit``, ``n_samples``, ``fingerprint`` (machine), ``params`` (canonical JSON),
    ``record`` (file path). Raises DsbenchError when nothing matches.
    """
    import json

    import pandas as pd

    picked = [(p, r) for p, r in records if r.name == name]
    if not picked:
        raise DsbenchError(f"no stored record is named {name!r}")
    metric = metric or default_metric([r for _, r in picked])
    rows = []
    for path, rec in picked:
        value = _value(rec, metric)
        if value is None:
            continue
        m = rec.metrics[metric]
        rows.append(
            {
                "timestamp": rec.timestamp,
                "metric": metric,
                "value": value,
                "unit": m.unit,
                "n_samples": len(m.samples),
                "fingerprint": fingerprint(dict(rec.environment)),
                "params": json.dumps(dict(rec.params), sort_keys=True),
                "record": str(path),
            }
        )
    if not rows:
        known = sorted({n for _, r in picked for n in r.metrics})
        raise DsbenchError(f"no {name!r} record has metric {metric!r}; metrics: {', '.join(known)}")
    frame = pd.DataFrame(rows, columns=list(SERIES_COLUMNS))
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _best_arc(logs: Sequence[float], min_size: int) -> tuple[int, int, float] | None:
    """The strongest arc ``[i, j)`` against the rest of the segment: ``(i, j, corrected p)``.

    Arcs with ``i == 0`` or ``j == n`` are plain splits; the others are a level that steps
    and steps back (circular binary segmentation). Welch t statistics for every arc come from
    prefix sums at once; scipy gives the p-value of the best one, Bonferroni-corrected for the
    number of arcs tried.
    """
    import numpy as np
    from scipy.stats import t as student_t

    x = np.asarray(logs, float)
    n = len(x)
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    i, j = np.triu_indices(n + 1, k=1)
    n_in = j - i
    keep = (n_in >= min_size) & (n - n_in >= min_size)
    keep &= ~((i == 0) & (j == n))
    i, j, n_in = i[keep], j[keep], n_in[keep]
    if len(i) == 0:
        return None
    n_out = n - n_in
    s_in, q_in = c1[j] - c1[i], c2[j] - c2[i]
    s_out, q_out = c1[n] - s_in, c2[n] - q_in
    m_in, m_out = s_in / n_in, s_out / n_out
    v_in = np.maximum(q_in - n_in * m_in**2, 0) / (n_in - 1)
    v_out = np.maximum(q_out - n_out * m_out**2, 0) / (n_out - 1)
    se2 = v_in / n_in + v_out / n_out
    floor = 1e-24 + 1e-12 * (x**2).mean()  # identical values: an exact step is infinitely clear
    t = np.abs(m_in - m_out) / np.sqrt(se2 + floor)
    best = int(np.argmax(t))
    a, b = v_in[best] / n_in[best], v_out[best] / n_out[best]
    df = (a + b) ** 2 / (a * a / (n_in[best] - 1) + b * b / (n_out[best] - 1) + 1e-300)
    p = float(2 * student_t.sf(t[best], max(df, 1.0)))
    # single splits are counted once (an arc [0, j) and its complement [j, n) are one split)
    tried = int(len(i) - ((i == 0) | (j == n)).sum() / 2)
    return int(i[best]), int(j[best]), min(1.0, p * tried)


def change_points(
    values: Sequence[float], alpha: float = 0.01, min_step: float = 0.05, min_size: int = 3
) -> list[ChangePoint]:
    """Indices where the level of positive ``values`` steps, by binary segmentation (see above).

    ``min_size``: runs on each side of a split (3: a t-test needs a variance on each side).
    """
    if any(float(v) <= 0 for v in values):
        raise ValueError("change_points works on positive values (times, rates, bytes)")
    if min_size < 2:
        raise ValueError(f"min_size must be >= 2, got {min_size}")
    values = [float(v) for v in values]
    logs = [math.log(v) for v in values]
    found: list[ChangePoint] = []

    def segment(lo: int, hi: int) -> None:
        best = _best_arc(logs[lo:hi], min_size)
        if best is None:
            return
        i, j, p = best
        inner = statistics.median(values[lo + i : lo + j])
        outer = statistics.median(values[lo : lo + i] + values[lo + j : hi])
        if p >= alpha or abs(math.log(inner / outer)) < math.log1p(min_step):
            return
        cuts = [lo, *(lo + c for c in (i, j) if 0 < c < hi - lo), hi]
        for a, b, c in zip(cuts, cuts[1:], cuts[2:], strict=False):
            found.append(
                ChangePoint(b, statistics.median(values[a:b]), statistics.median(values[b:c]), p)
            )
        for a, b in zip(cuts, cuts[1:], strict=False):
            segment(a, b)

    segment(0, len(values))
    return sorted(found, key=lambda c: c.index)


def annotate(frame: pd.DataFrame, points: Sequence[ChangePoint]) -> pd.DataFrame:
    """``frame`` plus ``segment`` (0, 1, ...) and ``level`` (the segment's median) columns."""
    out = frame.copy()
    edges = [0, *(c.index for c in points), len(out)]
    segment = [0] * len(out)
    level = [math.nan] * len(out)
    for s, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False)):
        median = statistics.median(out["value"].iloc[lo:hi]) if hi > lo else math.nan
        for i in range(lo, hi):
            segment[i], level[i] = s, median
    out["segment"] = segment
    out["level"] = level
    return out


def latest_group(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows with the newest run's parameters and machine, and how many other groups exist.

    Runs with other parameters or on another machine are a different series: a step between
    them is not a change in the code.
    """
    last = frame.iloc[-1]
    same = (frame["params"] == last["params"]) & (frame["fingerprint"] == last["fingerprint"])
    others = frame.loc[~same, ["params", "fingerprint"]].drop_duplicates()
    return frame[same].reset_index(drop=True), len(others)
