"""Interleaved A/B timing: two workloads or two shell commands, and the statistics to compare.

Rounds alternate the order (A B, B A, A B, …), so a slow drift of the machine (clock
boosting, thermal throttling, a neighbour's job) shifts both sides alike and the position
in a round favours neither. Each round gives one observation per side: for a workload, the
median per-call time of one short block from the shared timer (:func:`dsbench.core.timing.time_fn`);
for a command, its wall time (the timer's loop-sizing call doubles as that round's warm-up).

The comparison is the ratio of medians ``median(B) / median(A)`` (> 1: B is slower), a
bootstrap confidence interval that resamples whole rounds (keeping each round's pairing),
and a two-sided Mann–Whitney U test (exact for small samples without ties, normal
approximation with tie correction otherwise; scipy is used when it is installed).
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dsbench.core.errors import DsbenchError
from dsbench.core.timing import TimerConfig, time_fn


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U statistic of the first sample
    p: float  # two-sided p-value
    method: str  # "exact" or "normal"


def _exact_cdf_counts(n1: int, n2: int) -> list[int]:
    """Number of orderings giving U = 0 … n1·n2 (Mann & Whitney 1947 recursion)."""
    # f[j][u]: counts for sizes (i, j) built row by row over i.
    prev = [[1] for _ in range(n2 + 1)]  # i = 0: U = 0 only
    for i in range(1, n1 + 1):
        cur = [[1]]  # j = 0: U = 0 only
        for j in range(1, n2 + 1):
            size = i * j + 1
            row = [0] * size
            for u, c in enumerate(prev[j]):  # last element from sample 1: adds j to U
                row[u + j] += c
            for u, c in enumerate(cur[j - 1]):  # last element from sample 2: adds 0
                row[u] += c
            cur.append(row)
        prev = cur
    return prev[n2]


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> MannWhitney:
    """Two-sided Mann–Whitney U test of ``x`` against ``y``."""
    import numpy as np

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs two non-empty samples")
    try:
        from scipy.stats import mannwhitneyu
    except ImportError:
        return _mann_whitney_numpy(x, y)
    res = mannwhitneyu(x, y, alternative="two-sided", method="auto")
    return MannWhitney(float(res.statistic), float(res.pvalue), "scipy")


def _mann_whitney_numpy(x, y) -> MannWhitney:
    """The test without scipy: exact counts when small and tie-free, else normal."""
    import numpy as np

    n1, n2 = len(x), len(y)
    allv = np.concatenate([x, y])
    ranks = _rankdata(allv)
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2)
    _, counts = np.unique(allv, return_counts=True)
    ties = bool((counts > 1).any())
    if not ties and min(n1, n2) <= 20 and n1 * n2 <= 2500:
        freq = np.asarray(_exact_cdf_counts(n1, n2), dtype=float)
        total = freq.sum()
        k = int(round(u1))
        p_low, p_high = freq[: k + 1].sum() / total, freq[k:].sum() / total
        return MannWhitney(u1, float(min(1.0, 2 * min(p_low, p_high))), "exact")
    mu = n1 * n2 / 2
    n = n1 + n2
    tie_term = float((counts**3 - counts).sum()) / (n * (n - 1))
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term))
    if sigma == 0:
        return MannWhitney(u1, 1.0, "normal")
    z = (abs(u1 - mu) - 0.5) / sigma  # continuity correction
    return MannWhitney(u1, float(min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))), "normal")


def _rankdata(values):
    """Average ranks (1-based), ties share the mean rank (as scipy.stats.rankdata)."""
    import numpy as np

    order = np.argsort(values, kind="mergesort")
    sorted_v = values[order]
    ranks = np.empty(len(values), dtype=float)
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def bootstrap_ratio_ci(
    a: Sequence[float],
    b: Sequence[float],
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of median(b)/median(a), resampling rounds (pairs) together."""
    import numpy as np

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"need paired rounds, at least 2; got {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(resamples, len(a)))
    ratios = np.median(b[idx], axis=1) / np.median(a[idx], axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class ABResult:
    """Per-round observations (s) and the comparison of B against A."""

    a: tuple[float, ...]
    b: tuple[float, ...]
    ratio: float  # median(b) / median(a)
    ci: tuple[float, float]
    test: MannWhitney
    confidence: float = 0.95
    alpha: float = 0.05

    @property
    def significant(self) -> bool:
        return self.test.p < self.alpha and not (self.ci[0] <= 1.0 <= self.ci[1])

    def conclusion(self, name_a: str = "A", name_b: str = "B") -> str:
        if not self.significant:
            return (
                f"no significant difference between {name_a} and {name_b} "
                f"(p = {self.test.p:.3g}, CI includes 1 or p >= {self.alpha})"
            )
        faster, slower = (name_b, name_a) if self.ratio < 1 else (name_a, name_b)
        factor = 1 / self.ratio if self.ratio < 1 else self.ratio
        return f"{faster} is faster: {slower} takes {factor:.3g}x as long (p = {self.test.p:.3g})"


def interleave(
    fn_a: Callable[[], float], fn_b: Callable[[], float], rounds: int, confidence: float = 0.95
) -> ABResult:
    """Run ``rounds`` rounds alternating A B / B A; each callable returns one observation."""
    import statistics

    if rounds < 3:
        raise DsbenchError(f"--rounds must be >= 3 for a comparison, got {rounds}")
    a: list[float] = []
    b: list[float] = []
    for r in range(rounds):
        if r % 2 == 0:
            a.append(fn_a())
            b.append(fn_b())
        else:
            b.append(fn_b())
            a.append(fn_a())
    ratio = statistics.median(b) / statistics.median(a)
    return ABResult(
        tuple(a),
        tuple(b),
        ratio,
        bootstrap_ratio_ci(a, b, confidence),
        mann_whitney_u(a, b),
        confidence,
    )


def workload_block(fn: Callable[[], Any], device: str, block_s: float) -> Callable[[], float]:
    """One observation = median per-call time of a short block timed by the shared timer."""
    config = TimerConfig(
        warmup_s=0.0,
        warmup_calls=1,
        budget_s=block_s,
        min_samples=3,
        max_samples=1000,
        max_time_s=max(5.0, 10 * block_s),
    )
    return lambda: time_fn(fn, device=device, config=config).median_s


def command_run(command: str) -> Callable[[], float]:
    """One observation = wall time of one run of a shell command (non-zero exit: error)."""
    config = TimerConfig(warmup_s=0.0, warmup_calls=0, budget_s=0.0, min_samples=1, max_samples=1)

    def run_once() -> None:
        done = subprocess.run(
            command, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        if done.returncode != 0:
            raise DsbenchError(f"command {command!r} exited with {done.returncode}")

    return lambda: time_fn(run_once, device="cpu", config=config).median_s
