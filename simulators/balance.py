"""Load balancing in synchronous data-parallel training on a heterogeneous cluster.

Every step each of N replicas processes its share of the global batch of B samples, then
all wait for the slowest before the gradient all-reduce: step = maxᵢ(bᵢ / sᵢ) + comm, with
sᵢ the replica's speed (samples per second) in that step. A *static* split gives everyone
B/N; *dynamic* balancing (the seed's "real-time per-node GPU utilisation" policy) gives
replica i a share proportional to the speed it showed in the previous step, rounded to
whole samples. The communication part is the same for both and bounds the gain (Amdahl).

Speeds are ``persistent`` (a per-replica factor drawn once, lognormal with coefficient of
variation ``spread``: mixed GPU bins, thermal throttling, slower nodes), times ``transient``
stragglers (each replica, each step, is slowed by ``straggler_slowdown`` with probability
``straggler_prob``: OS jitter, a noisy neighbour, network congestion). Balancing by the
last step's speed fixes persistent heterogeneity but not transient stragglers, which it
cannot see coming. In a homogeneous cluster both splits are the same and the gain is 0.

Throughput gain = mean static step / mean dynamic step − 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Heterogeneity:
    """How replicas' speeds differ (see the module docstring)."""

    spread: float = 0.0  # coefficient of variation of the persistent speed factor
    straggler_prob: float = 0.0  # per replica and step
    straggler_slowdown: float = 2.0  # a straggler runs this many times slower

    def __post_init__(self) -> None:
        if self.spread < 0 or not 0 <= self.straggler_prob <= 1 or self.straggler_slowdown < 1:
            raise ValueError(
                f"need spread({self.spread}) >= 0, 0 <= straggler_prob({self.straggler_prob}) "
                f"<= 1, straggler_slowdown({self.straggler_slowdown}) >= 1"
            )


def speeds(h: Heterogeneity, replicas: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Relative speeds, shape (steps, replicas), mean 1 for the persistent part."""
    if h.spread > 0:
        sigma = math.sqrt(math.log1p(h.spread**2))
        base = rng.lognormal(-(sigma**2) / 2, sigma, replicas)
    else:
        base = np.ones(replicas)
    slow = rng.random((steps, replicas)) < h.straggler_prob
    return base[None, :] / np.where(slow, h.straggler_slowdown, 1.0)


def split(batch: int, weights: np.ndarray) -> np.ndarray:
    """Whole samples per replica proportional to ``weights`` (largest remainders), sum = batch."""
    exact = batch * weights / weights.sum()
    whole = np.floor(exact).astype(int)
    short = batch - whole.sum()
    whole[np.argsort(whole - exact)[:short]] += 1
    return whole


@dataclass(frozen=True)
class BalanceResult:
    static_step_s: float
    dynamic_step_s: float

    @property
    def gain(self) -> float:
        """Throughput gain of dynamic over static balancing (0.4 = +40%)."""
        return self.static_step_s / self.dynamic_step_s - 1.0


def simulate_balance(
    h: Heterogeneity,
    *,
    replicas: int,
    batch: int,
    compute_s: float,
    comm_s: float,
    steps: int = 200,
    seed: int = 0,
) -> BalanceResult:
    """Mean step time of static vs dynamic splits. ``compute_s``: a replica's compute time
    for its B/N samples at speed 1; ``comm_s``: exposed communication per step."""
    if batch < replicas:
        raise ValueError(f"batch({batch}) must be >= replicas({replicas})")
    rng = np.random.default_rng(seed)
    s = speeds(h, replicas, steps + 1, rng)
    per_sample_s = compute_s * replicas / batch
    static = np.full(replicas, batch // replicas) + (np.arange(replicas) < batch % replicas)
    t_static = (static[None, :] / s[1:]).max(axis=1) * per_sample_s + comm_s
    t_dynamic = np.empty(steps)
    for k in range(steps):  # shares from the speeds measured in the previous step
        share = split(batch, s[k])
        t_dynamic[k] = (share / s[k + 1]).max() * per_sample_s + comm_s
    return BalanceResult(float(t_static.mean()), float(t_dynamic.mean()))
