"""Regression detection between two sets of records: a pure function over stored results.

:func:`compare` matches every *new* record with a *baseline* record of the same kind, name and
parameters and decides, metric by metric, what changed. Three kinds of evidence are judged
three ways:

1. **Timed metrics with raw samples** (the timer keeps every sample, see
   :mod:`dsbench.core.timing`). A change is a *regression* only if it is statistically
   significant **and** larger than a factor (default 1.10). Significance is a two-sided
   Mann–Whitney U test (``scipy.stats.mannwhitneyu``) on the two sample sets, at
   ``alpha = 0.01``; a bootstrap confidence interval on the ratio of medians
   (``scipy.stats.bootstrap``) can decide instead (``test="bootstrap"``: significant when the
   interval excludes 1). The size of the change is the ratio of medians. This is what asv does
   with its rank test and pytest-benchmark does not (it compares one number against a %
   threshold): two noisy runs differ by a few % all the time, and a fixed threshold either
   cries wolf or misses real steps. Needing both guards against a tiny but significant shift
   (thousands of samples make 1% significant) *and* against a large but noisy one.
   Whether higher is worse is read from the unit (``s``, ``B`` — lower is better; ``…/s``,
   ``tokens``, ``FLOP/s``, MFU — higher is better; see :func:`higher_is_better`).
2. **Unstable benchmarks.** When either side's own repeat-to-repeat spread (inter-quartile
   range over median, the timer's ``spread``) exceeds ``max_spread`` (10%), the metric is
   reported ``unstable`` and never gated: on a machine that busy no test can tell a
   regression from the neighbours' load.
3. **Deterministic outputs** (simulation and analytic records, and a verification run's
   verdicts). These are compared with a relative tolerance (``rtol``, default 1e-6, which
   absorbs floating-point summation order across platforms and nothing else): any larger
   move is ``moved`` and fails the comparison, because a simulator change that moves a
   prediction must be accepted on purpose by updating the baseline. Verdict records are
   judged on the verdict itself (``verdict-changed`` fails) and list a moved measured value
   as ``value-changed`` without failing: many measured values behind verdicts are timings.

Timings are only comparable on the same machine: a measurement record matches a baseline
only when the machine fingerprints (:func:`dsbench.core.environment.fingerprint`: CPU/GPU model,
driver, torch version) are equal, unless ``allow_other_machine``. Simulator and analytic
outputs are machine-independent and are matched by name and parameters alone.

The result is a :class:`Comparison`: one :class:`MetricChange` per compared metric, plus the
unmatched records; :meth:`Comparison.exit_code` maps it to the CLI's exit codes (0 no
regression, 1 regression, 2 nothing could be compared).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from dsbench.core.environment import fingerprint
from dsbench.core.results import Kind, Metric, Record

if TYPE_CHECKING:
    import pandas as pd

Test = Literal["mannwhitney", "bootstrap"]
MIN_SAMPLES = 3  # fewer raw samples than this on a side: no statistical test is possible


class Status(StrEnum):
    REGRESSION = "regression"  # significant and beyond the factor, in the bad direction
    IMPROVEMENT = "improvement"  # significant and beyond the factor, in the good direction
    UNCHANGED = "unchanged"  # not significant, or within the factor / tolerance
    UNSTABLE = "unstable"  # a side's spread exceeds max_spread: reported, not gated
    MOVED = "moved"  # a deterministic output moved beyond rtol (fails)
    VERDICT_CHANGED = "verdict-changed"  # a claim's verdict changed (fails)
    VALUE_CHANGED = "value-changed"  # a verdict's measured value moved (listed, not gated)
    INFO = "info"  # a derived metric without samples: shown, not judged
    MISSING = "missing"  # the metric exists in the baseline only


FAILING = frozenset({Status.REGRESSION, Status.MOVED, Status.VERDICT_CHANGED})
DETERMINISTIC_KINDS = frozenset({Kind.SIMULATION, Kind.ANALYTIC})


@dataclass(frozen=True)
class Settings:
    """How changes are judged; see the module docstring."""

    factor: float = 1.10  # a timed change must exceed this ratio (or fall below 1/factor)
    alpha: float = 0.01  # significance level of the two-sided test
    rtol: float = 1e-6  # relative tolerance for deterministic outputs
    max_spread: float = 0.10  # IQR/median above this on either side: unstable, not gated
    test: Test = "mannwhitney"
    n_resamples: int = 2000  # bootstrap resamples
    allow_other_machine: bool = False
    seed: int = 0  # bootstrap seed, so a comparison is reproducible

    def __post_init__(self) -> None:
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1 (1.10 = 10% slower), got {self.factor}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.rtol < 0 or self.max_spread <= 0:
            raise ValueError(
                f"need rtol >= 0 and max_spread > 0, got {self.rtol}, {self.max_spread}"
            )
        if self.test not in ("mannwhitney", "bootstrap"):
            raise ValueError(f"unknown test {self.test!r}; use mannwhitney or bootstrap")


@dataclass(frozen=True)
class MetricChange:
    """One compared metric. ``ratio`` is new / baseline (medians for sampled metrics)."""

    kind: str
    name: str
    params: str  # canonical JSON of the parameters
    metric: str
    unit: str
    status: Status
    baseline: float | None
    new: float | None
    ratio: float | None = None
    p_value: float | None = None
    ci_low: float | None = None  # bootstrap interval on the ratio of medians, if computed
    ci_high: float | None = None
    spread_baseline: float | None = None
    spread_new: float | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: (v.value if isinstance(v, Status) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Comparison:
    """Everything :func:`compare` found."""

    changes: tuple[MetricChange, ...]
    unmatched: tuple[str, ...] = ()  # new records with no baseline (one line each)
    other_machine: tuple[str, ...] = ()  # matched by name/params but timed on another machine
    baseline_only: tuple[str, ...] = ()  # baseline records absent from the new set
    settings: Settings = field(default_factory=Settings)

    @property
    def failing(self) -> list[MetricChange]:
        return [c for c in self.changes if c.status in FAILING]

    def exit_code(self) -> int:
        """0 nothing failed; 1 a regression, moved output or changed verdict; 2 cannot compare.

        "Cannot compare" is: nothing matched, or a timed record matched a baseline from
        another machine (without ``allow_other_machine``) — a partial answer is not given as
        a pass.
        """
        if not self.changes or self.other_machine:
            return 2
        return 1 if self.failing else 0

    def why_not_comparable(self) -> str:
        """The one-line reason behind exit code 2."""
        if self.other_machine:
            return (
                f"{len(self.other_machine)} record(s) match a baseline timed on another machine "
                f"(e.g. {self.other_machine[0]}); timings are comparable only on one machine — "
                "pass --allow-other-machine to compare anyway"
            )
        if self.unmatched:
            return f"no baseline matches any new record (e.g. {self.unmatched[0]})"
        return "no records to compare"

    def frame(self) -> pd.DataFrame:
        """One row per compared metric; columns are the fields of :class:`MetricChange`."""
        import pandas as pd

        columns = list(MetricChange.__dataclass_fields__)
        return pd.DataFrame([c.to_json() for c in self.changes], columns=columns)


# --- the statistics -----------------------------------------------------------------------


def higher_is_better(metric: str, unit: str) -> bool:
    """True for throughput-like metrics (``FLOP/s``, ``tokens/s``, ``B/s``, MFU, accuracy)."""
    name = metric.lower()
    if unit.endswith("/s") or any(k in name for k in ("throughput", "per_s", "mfu", "accuracy")):
        return True
    return unit in ("tokens", "samples")


def spread(samples: Sequence[float]) -> float:
    """Inter-quartile range over median (the timer's ``spread``); 0 for fewer than 2 samples."""
    if len(samples) < 2:
        return 0.0
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return (q3 - q1) / median if median > 0 else 0.0


def mann_whitney_p(baseline: Sequence[float], new: Sequence[float]) -> float:
    """Two-sided Mann–Whitney U p-value (exact for small samples without ties)."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(new, baseline, alternative="two-sided").pvalue)


def bootstrap_ratio_ci(
    baseline: Sequence[float],
    new: Sequence[float],
    confidence: float = 0.99,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval on median(new) / median(baseline) (``scipy.stats.bootstrap``)."""
    import numpy as np
    from scipy.stats import bootstrap

    def ratio(b, n, axis=-1):
        return np.median(n, axis=axis) / np.median(b, axis=axis)

    res = bootstrap(
        (np.asarray(baseline, float), np.asarray(new, float)),
        ratio,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def judge_samples(
    baseline: Sequence[float],
    new: Sequence[float],
    settings: Settings = Settings(),
    higher_better: bool = False,
) -> tuple[Status, float, float | None, tuple[float, float] | None]:
    """Decide one sampled metric: ``(status, ratio of medians, p-value, bootstrap CI)``.

    Significant (test at ``alpha``) *and* beyond ``factor`` → regression or improvement;
    either side's spread above ``max_spread`` → unstable whatever the test says (the p-value
    or interval is still returned, for the report, but an unstable metric is never gated).
    """
    ratio = statistics.median(new) / statistics.median(baseline)
    p = ci = None
    if settings.test == "mannwhitney":
        p = mann_whitney_p(baseline, new)
        significant = p < settings.alpha
    else:
        ci = bootstrap_ratio_ci(
            baseline, new, 1 - settings.alpha, settings.n_resamples, settings.seed
        )
        significant = ci[0] > 1 or ci[1] < 1
    worse = ratio < 1 / settings.factor if higher_better else ratio > settings.factor
    better = ratio > settings.factor if higher_better else ratio < 1 / settings.factor
    if max(spread(baseline), spread(new)) > settings.max_spread:
        return Status.UNSTABLE, ratio, p, ci  # the test is shown, never gated
    if significant and worse:
        return Status.REGRESSION, ratio, p, ci
    if significant and better:
        return Status.IMPROVEMENT, ratio, p, ci
    return Status.UNCHANGED, ratio, p, ci


def within(a: float | None, b: float | None, rtol: float) -> bool:
    """Equal within a relative tolerance (both None counts as equal; 0 vs 0 too)."""
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rtol, abs_tol=0.0) or a == b


# --- matching and judging records ---------------------------------------------------------


def record_key(record: Record) -> tuple[str, str, str]:
    """What makes two records comparable: kind, name and canonical parameters."""
    return record.kind.value, record.name, json.dumps(dict(record.params), sort_keys=True)


def describe(record: Record) -> str:
    params = json.dumps(dict(record.params), sort_keys=True)
    return (
        f"{record.kind.value} {record.name} {params if len(params) < 80 else params[:77] + '...'}"
    )


def latest(records: Iterable[Record]) -> dict[tuple[str, str, str], Record]:
    """The newest record per key (a folder may hold several runs of one benchmark)."""
    out: dict[tuple[str, str, str], Record] = {}
    for rec in sorted(records, key=lambda r: r.timestamp):
        out[record_key(rec)] = rec
    return out


def _change(base: Record, status: Status, metric: str, unit: str, **kw: Any) -> MetricChange:
    kind, name, params = record_key(base)
    return MetricChange(kind, name, params, metric, unit, status, **kw)


def _judge_metric(
    base: Record, metric: str, b: Metric, n: Metric | None, s: Settings
) -> MetricChange:
    if n is None:
        return _change(base, Status.MISSING, metric, b.unit, baseline=b.value, new=None)
    kw: dict[str, Any] = {"baseline": b.value, "new": n.value}
    if b.value and n.value is not None:
        kw["ratio"] = n.value / b.value
    if base.kind in DETERMINISTIC_KINDS:
        status = Status.UNCHANGED if within(b.value, n.value, s.rtol) else Status.MOVED
        return _change(base, status, metric, b.unit, **kw)
    if len(b.samples) >= MIN_SAMPLES and len(n.samples) >= MIN_SAMPLES:
        status, ratio, p, ci = judge_samples(
            b.samples, n.samples, s, higher_is_better(metric, b.unit)
        )
        return _change(
            base,
            status,
            metric,
            b.unit,
            baseline=statistics.median(b.samples),
            new=statistics.median(n.samples),
            ratio=ratio,
            p_value=p,
            ci_low=ci[0] if ci else None,
            ci_high=ci[1] if ci else None,
            spread_baseline=spread(b.samples),
            spread_new=spread(n.samples),
            note=_spread_note(b.samples, n.samples, s) if status == Status.UNSTABLE else "",
        )
    note = (
        "no raw samples: shown, not judged" if not (b.samples or n.samples) else "too few samples"
    )
    return _change(base, Status.INFO, metric, b.unit, note=note, **kw)


def _judge_verdict(base: Record, new: Record, s: Settings) -> list[MetricChange]:
    old_v, new_v = base.info.get("verdict"), new.info.get("verdict")
    b, n = base.metrics.get("measured"), new.metrics.get("measured")
    kw = {"baseline": b.value if b else None, "new": n.value if n else None}
    unit = (b or n).unit if (b or n) else ""
    if old_v != new_v:
        return [
            _change(base, Status.VERDICT_CHANGED, "verdict", unit, note=f"{old_v} -> {new_v}", **kw)
        ]
    status = Status.UNCHANGED if within(kw["baseline"], kw["new"], s.rtol) else Status.VALUE_CHANGED
    if kw["baseline"] and kw["new"] is not None:
        kw["ratio"] = kw["new"] / kw["baseline"]
    return [_change(base, status, "measured", unit, note=str(new_v), **kw)]


def compare_pair(base: Record, new: Record, settings: Settings = Settings()) -> list[MetricChange]:
    """Judge every metric of ``base`` against ``new`` (records with the same key)."""
    if base.kind == Kind.VERDICT:
        return _judge_verdict(base, new, settings)
    changes = [
        _judge_metric(base, metric, m, new.metrics.get(metric), settings)
        for metric, m in base.metrics.items()
    ]
    if base.kind in DETERMINISTIC_KINDS and "verdict" in base.info:
        # an analytic claim check: its verdict is a deterministic output too
        old_v, new_v = base.info["verdict"], new.info.get("verdict")
        status = Status.UNCHANGED if old_v == new_v else Status.VERDICT_CHANGED
        changes.append(
            _change(base, status, "verdict", "", baseline=None, new=None, note=_arrow(old_v, new_v))
        )
    return changes


def machine_independent(record: Record) -> bool:
    return record.kind != Kind.MEASUREMENT


def compare(
    baseline: Iterable[Record], new: Iterable[Record], settings: Settings = Settings()
) -> Comparison:
    """Match ``new`` records against ``baseline`` ones and judge every metric (see module doc).

    The newest record per key is used on each side; for timings, the newest baseline from
    the new record's machine is preferred over a newer one from another machine.
    """
    baseline = list(baseline)
    base_by_key = latest(baseline)
    by_machine: dict[tuple, Record] = {}  # (key, fingerprint) -> newest baseline
    for b in sorted(baseline, key=lambda r: r.timestamp):
        by_machine[(record_key(b), fingerprint(dict(b.environment)))] = b
    new_by_key = latest(new)
    for key, rec in new_by_key.items():
        same = by_machine.get((key, fingerprint(dict(rec.environment))))
        if same is not None:
            base_by_key[key] = same
    changes: list[MetricChange] = []
    unmatched: list[str] = []
    other_machine: list[str] = []
    verify_runs = _has_verdicts(base_by_key) and _has_verdicts(new_by_key)
    for key, rec in new_by_key.items():
        base = base_by_key.get(key)
        if base is None and verify_runs and rec.kind == Kind.VERDICT:
            changes.append(_appeared(rec, rec.info.get("verdict"), before=False))
            continue
        if base is None:
            unmatched.append(describe(rec))
            continue
        same_machine = fingerprint(dict(base.environment)) == fingerprint(dict(rec.environment))
        if not (same_machine or machine_independent(rec) or settings.allow_other_machine):
            other_machine.append(describe(rec))
            continue
        changes.extend(compare_pair(base, rec, settings))
    baseline_only = []
    for key, base in base_by_key.items():
        if key in new_by_key:
            continue
        if verify_runs and base.kind == Kind.VERDICT:
            changes.append(_appeared(base, base.info.get("verdict"), before=True))
        else:
            baseline_only.append(describe(base))
    return Comparison(
        tuple(changes), tuple(unmatched), tuple(other_machine), tuple(baseline_only), settings
    )


def _arrow(old: object, new: object) -> str:
    return str(old) if old == new else f"{old} -> {new}"


def _spread_note(baseline: Sequence[float], new: Sequence[float], s: Settings) -> str:
    return (
        f"spread {spread(baseline):.0%} -> {spread(new):.0%} (IQR/median) exceeds "
        f"{s.max_spread:.0%}: not gated"
    )


def _has_verdicts(records: dict[tuple[str, str, str], Record]) -> bool:
    return any(r.kind == Kind.VERDICT for r in records.values())


def _appeared(record: Record, verdict: object, before: bool) -> MetricChange:
    """A claim judged in only one of two verify runs (a check was added or removed): the
    other run reported it unchecked, which is a verdict change too."""
    note = f"{verdict} -> unchecked" if before else f"unchecked -> {verdict}"
    m = record.metrics.get("measured")
    value = m.value if m else None
    return _change(
        record,
        Status.VERDICT_CHANGED,
        "verdict",
        m.unit if m else "",
        baseline=value if before else None,
        new=None if before else value,
        note=note,
    )
