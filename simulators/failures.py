"""Failure processes of a training cluster: which components fail, how often, and when.

A synchronous training job stops whenever *any* unit it runs on fails. Units are GPUs,
nodes (host: CPU, memory, power, SSD, chassis), NICs, switch links (one per GPU on a
rail-optimised fabric) and the software stack (counted per node: bugs, NCCL hangs, broken
dependencies). Each unit fails as a renewal process: exponential lifetimes by default, or
Weibull (shape k < 1: infant mortality, k > 1: wear-out) with the same mean, so changing
the shape never changes the average rate.

Default rates — :data:`RATE_PRESETS` ``"llama3-2024"`` — are derived from the root-cause
table of Llama 3's 54-day pre-training snapshot on 16 384 H100 GPUs in 2 048 nodes (Dubey
et al. 2024, "The Llama 3 Herd of Models", Table 5: 419 unexpected interruptions, "one
failure every three hours"), grouped by the unit that failed:

==========  ================================================================  =====  ======
component   Table 5 rows                                                      count  units
==========  ================================================================  =====  ======
gpu         faulty GPU 148, HBM3 72, SRAM 19, GPU system processor 17,          268  16 384
            silent data corruption 6, thermal interface/sensor 6
node        host maintenance 32, SSD 3, power supply 3, chassis 2, IO board 2,    46   2 048
            CPU 2, system memory 2
nic         network interface card 7                                               7  16 384
link        network switch / cable 35                                             35  16 384
software    software bug 54, NCCL watchdog timeout 7, dependency 2                63   2 048
==========  ================================================================  =====  ======

Rate per unit-hour = count / (units · 54 · 24 h). The 148/72/19/17/35 counts and "two CPU
failures" are checked against the press coverage of the paper; the other rows are quoted
from the paper's table from memory and sum to the reported 419.

``"kokolis-2025"`` scales every rate so that a 1 024-GPU job has a mean time to failure of
7.9 h, as measured on Meta's research clusters (Kokolis et al. 2025, "Revisiting
Reliability in Large-Scale Machine Learning Research Clusters", HPCA; the same paper
projects 1.8 h for 16 384 GPUs). Research clusters see about 6× the Llama 3 rate: the two
presets bracket what a 1000-node job meets.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

HOURS_54_DAYS = 54 * 24.0


class Component(enum.StrEnum):
    GPU = "gpu"
    NODE = "node"
    NIC = "nic"
    LINK = "link"
    SOFTWARE = "software"


# Components whose failure takes a node out of the job (it must be replaced or repaired);
# a link is rerouted around and a software failure only needs a restart.
NEEDS_NODE = frozenset({Component.GPU, Component.NODE, Component.NIC})


class Distribution(enum.StrEnum):
    EXPONENTIAL = "exponential"
    WEIBULL = "weibull"


def units_per_job(nodes: int, gpus_per_node: int) -> dict[Component, int]:
    """How many units of each component a job on ``nodes`` nodes runs on (one NIC and one
    leaf link per GPU, as on rail-optimised DGX/HGX clusters)."""
    g = nodes * gpus_per_node
    return {
        Component.GPU: g,
        Component.NODE: nodes,
        Component.NIC: g,
        Component.LINK: g,
        Component.SOFTWARE: nodes,
    }


def _llama3_rates() -> dict[Component, float]:
    counts_units = {
        Component.GPU: (148 + 72 + 19 + 17 + 6 + 6, 16384),
        Component.NODE: (32 + 3 + 3 + 2 + 2 + 2 + 2, 2048),
        Component.NIC: (7, 16384),
        Component.LINK: (35, 16384),
        Component.SOFTWARE: (54 + 7 + 2, 2048),
    }
    return {c: n / (units * HOURS_54_DAYS) for c, (n, units) in counts_units.items()}


def _scaled(rates: dict[Component, float], gpus: int, mttf_h: float) -> dict[Component, float]:
    """Multiply every rate so that a job of ``gpus`` GPUs (8 per node) has MTTF ``mttf_h``."""
    units = units_per_job(gpus // 8, 8)
    total = sum(rates[c] * units[c] for c in Component)
    return {c: r / (total * mttf_h) for c, r in rates.items()}


LLAMA3_RATES = _llama3_rates()
RATE_PRESETS: dict[str, dict[Component, float]] = {
    "llama3-2024": LLAMA3_RATES,
    "kokolis-2025": _scaled(LLAMA3_RATES, 1024, 7.9),
}


@dataclass(frozen=True)
class FailureConfig:
    """``[failures]``: failure rates per unit and their lifetime distribution.

    Rates are failures per unit-hour; a field left unset takes the preset's value, and
    ``rate_scale`` multiplies all of them (2.0 = twice as unreliable).
    """

    enabled: bool = True
    preset: str = "llama3-2024"  # a key of RATE_PRESETS
    rate_scale: float = 1.0
    gpu_per_hour: float | None = None
    node_per_hour: float | None = None
    nic_per_hour: float | None = None
    link_per_hour: float | None = None
    software_per_hour: float | None = None
    distribution: Distribution = Distribution.EXPONENTIAL
    weibull_shape: float = 0.8  # k; < 1 = infant mortality (used when distribution = weibull)

    def __post_init__(self) -> None:
        object.__setattr__(self, "distribution", Distribution(self.distribution))
        if self.preset not in RATE_PRESETS:
            raise ValueError(
                f"failures.preset({self.preset!r}) is unknown; known: {', '.join(RATE_PRESETS)}"
            )
        if not (self.rate_scale >= 0 and math.isfinite(self.rate_scale)):
            raise ValueError(f"failures.rate_scale({self.rate_scale}) must be >= 0")
        for c in Component:
            value = getattr(self, f"{c.value}_per_hour")
            if value is not None and not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"failures.{c.value}_per_hour({value}) must be >= 0")
        if not self.weibull_shape > 0:
            raise ValueError(f"failures.weibull_shape({self.weibull_shape}) must be > 0")

    def rates_per_hour(self) -> dict[Component, float]:
        """Failure rate per unit-hour of each component (0 for all when disabled)."""
        preset = RATE_PRESETS[self.preset]
        scale = self.rate_scale if self.enabled else 0.0
        out = {}
        for c in Component:
            value = getattr(self, f"{c.value}_per_hour")
            out[c] = scale * (preset[c] if value is None else value)
        return out


def job_rates_per_s(cfg: FailureConfig, nodes: int, gpus_per_node: int) -> dict[Component, float]:
    """Failures per second of the whole job, by component (sum of its units' rates)."""
    units = units_per_job(nodes, gpus_per_node)
    return {c: r * units[c] / 3600.0 for c, r in cfg.rates_per_hour().items()}


def mttf_s(cfg: FailureConfig, nodes: int, gpus_per_node: int) -> float:
    """Mean time between job interruptions, 1 / Σ rates (inf when nothing fails)."""
    total = sum(job_rates_per_s(cfg, nodes, gpus_per_node).values())
    return math.inf if total == 0 else 1.0 / total


class UnitClocks:
    """Next failure time of every unit of one component; a failed unit is replaced by a new
    one (renewal), whose lifetime starts at the failure time."""

    def __init__(
        self, n: int, rate_per_s: float, cfg: FailureConfig, rng: np.random.Generator
    ) -> None:
        self.rate, self.cfg, self.rng = rate_per_s, cfg, rng
        self.next_s = self._lifetimes(n) if rate_per_s > 0 else np.full(n, math.inf)

    def _lifetimes(self, n: int) -> np.ndarray:
        mean = 1.0 / self.rate
        if self.cfg.distribution is Distribution.EXPONENTIAL:
            return self.rng.exponential(mean, n)
        k = self.cfg.weibull_shape
        return mean / math.gamma(1.0 + 1.0 / k) * self.rng.weibull(k, n)

    def pop(self) -> float:
        """Time of the earliest failure; that unit gets a fresh lifetime from then on."""
        i = int(np.argmin(self.next_s))
        t = float(self.next_s[i])
        if math.isfinite(t):
            self.next_s[i] = t + self._lifetimes(1)[0]
        return t


def poisson_interval(mean: float, confidence: float = 0.99) -> tuple[int, int]:
    """Central interval [lo, hi] of a Poisson(mean) count: P(N < lo) <= (1 − confidence)/2
    and P(N > hi) <= (1 − confidence)/2 (exact sums of the pmf; scipy.stats is slow to
    import for a command that must start fast)."""
    if mean <= 0:
        return 0, 0
    tail = (1.0 - confidence) / 2
    lo = hi = None
    cdf, k = 0.0, 0
    while hi is None:
        cdf += math.exp(k * math.log(mean) - mean - math.lgamma(k + 1))
        if lo is None and cdf > tail:
            lo = k
        if cdf >= 1.0 - tail:
            hi = k
        k += 1
    return lo, hi
