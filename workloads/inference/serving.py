"""Batching for inference serving: a measured batch-latency curve and a SimPy batching queue.

Seed 001 §3.3 (and the flow chart of 004 §2.3) say that dynamic batching "adapts the batch size
to request latency sensitivity — latency-tolerant requests are merged into large batches,
latency-sensitive ones kept small — lowering average latency by 15–20%". The seed writes
"high-latency requests into large batches"; what it means is latency-*tolerant* requests. It
names no baseline and no load, and the gain depends on both.

The model here has two halves:

1. **Service time** of one batch on the real model: :func:`measure_batch_curve` times a
   forward pass at batch sizes 1…N with a timer passed in (this package never imports
   dsbench), and :func:`fit_service_model` fits ``t(B) = a + b·B`` by least squares. ``a`` is
   the fixed cost of a pass (weights read once, kernel launches, Python), ``b`` the cost per
   request; the capacity at batch B is ``B / (a + b·B)``, so batching raises throughput by up to
   ``(a + b) / b`` — it buys throughput, and latency only through shorter queues.
2. **A discrete-event queue** (SimPy; processes are generator functions as in SimPy's own
   examples): Poisson arrivals, each request latency-sensitive with probability ``p``, one
   server (one accelerator) that forms batches by a :class:`Policy`:

   * ``none`` — one request at a time, FIFO (the M/D/1 queue; tested against its closed form
     ``W = 1/μ + ρ / (2μ(1 − ρ))`` and, with exponential service, M/M/1 ``W = 1/(μ − λ)``);
   * ``static`` — wait until exactly ``max_batch`` requests are queued;
   * ``dynamic`` — when the server is free, take up to ``max_batch`` queued requests, waiting at
     most ``max_wait_s`` after the oldest one arrived (Triton's ``max_queue_delay``, Clipper's
     adaptive batching: Crankshaw et al., NSDI 2017);
   * ``class-aware`` — a waiting sensitive request dispatches a batch at once, of at most
     ``sensitive_batch`` requests (sensitive first, spare slots to the oldest tolerant ones);
     with only tolerant requests queued the server waits up to ``max_wait_s`` for a batch of
     up to ``max_batch``. ``sensitive_batch`` small is the seed's "sensitive ones kept small";
     ``sensitive_batch = max_batch`` is "sensitive requests never wait" with full batches.
     Keeping them small costs capacity (each pass pays ``a``), so near saturation the seed's
     variant collapses: the queue measures where.

   Latency is completion minus arrival; the first ``warmup_fraction`` of requests are dropped
   from the statistics. :func:`simulate` returns a :class:`SimResult` whose ``summary()`` gives
   mean / p50 / p99 latency per class, throughput and mean batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import simpy


class Policy(StrEnum):
    NONE = "none"
    STATIC = "static"
    DYNAMIC = "dynamic"
    CLASS_AWARE = "class-aware"


@dataclass(frozen=True)
class ServiceModel:
    """Batch service time ``a_s + b_s·B`` seconds; ``exponential`` draws it from an exponential
    distribution with that mean instead (only for checking against M/M/1)."""

    a_s: float
    b_s: float
    exponential: bool = False

    def __post_init__(self) -> None:
        if self.a_s < 0 or self.b_s < 0 or self.a_s + self.b_s <= 0:
            raise ValueError(f"need a_s({self.a_s}) >= 0, b_s({self.b_s}) >= 0, a_s + b_s > 0")

    def time_s(self, batch: int) -> float:
        return self.a_s + self.b_s * batch

    def capacity_rps(self, batch: int) -> float:
        """Requests per second when every pass carries ``batch`` requests."""
        return batch / self.time_s(batch)


def measure_batch_curve(
    make_fn: Callable[[int], Callable[[], Any]],
    batch_sizes: Sequence[int],
    timer: Callable[[Callable[[], Any]], float],
) -> list[tuple[int, float]]:
    """``[(B, seconds per pass)]``: ``timer(make_fn(B))`` for each batch size."""
    if not batch_sizes or min(batch_sizes) < 1:
        raise ValueError(f"batch sizes must be >= 1, got {list(batch_sizes)}")
    return [(b, float(timer(make_fn(b)))) for b in batch_sizes]


def fit_service_model(curve: Sequence[tuple[int, float]]) -> ServiceModel:
    """Least-squares fit of ``t = a + b·B`` to a measured curve (``a`` and ``b`` clipped at 0)."""
    if len({b for b, _ in curve}) < 2:
        raise ValueError(f"need at least two distinct batch sizes to fit a + b·B, got {curve}")
    batch = np.array([b for b, _ in curve], dtype=float)
    secs = np.array([t for _, t in curve], dtype=float)
    b, a = np.polyfit(batch, secs, 1)
    b = max(float(b), 0.0)
    a = max(float(a), 0.0) if a > 0 else float(np.min(secs - b * batch).clip(min=1e-9))
    return ServiceModel(a, b)


def lm_forward_fn(model: Any, batch: int, seq_len: int, seed: int = 0) -> Callable[[], Any]:
    """A zero-argument forward pass of ``model`` on ``batch`` random byte sequences."""
    import torch

    g = torch.Generator().manual_seed(seed)
    vocab = getattr(getattr(model, "cfg", None), "vocab_size", 256)
    idx_BT = torch.randint(0, vocab, (batch, seq_len), generator=g)

    def run() -> Any:
        with torch.no_grad():
            return model(idx_BT)[0]

    return run


# --- the queue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchingConfig:
    """How the server forms batches.

    max_batch: the largest batch (static batching waits for exactly this many).
    max_wait_s: dynamic — longest wait after the oldest queued request; class-aware — the same
        for tolerant requests.
    sensitive_batch: class-aware — the largest batch dispatched for a waiting sensitive request.
    """

    policy: Policy = Policy.DYNAMIC
    max_batch: int = 16
    max_wait_s: float = 0.01
    sensitive_batch: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "policy", Policy(self.policy))
        if self.max_batch < 1 or not 1 <= self.sensitive_batch <= self.max_batch:
            raise ValueError(
                f"need 1 <= sensitive_batch({self.sensitive_batch}) <= max_batch({self.max_batch})"
            )
        if self.max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {self.max_wait_s}")


@dataclass(frozen=True)
class TrafficConfig:
    """Poisson arrivals: ``rate_rps`` requests/s, a ``sensitive_fraction`` of them sensitive."""

    rate_rps: float
    sensitive_fraction: float = 0.3
    n_requests: int = 10_000
    warmup_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rate_rps <= 0 or self.n_requests < 10:
            raise ValueError(
                f"need rate_rps({self.rate_rps}) > 0, n_requests({self.n_requests}) >= 10"
            )
        if not 0 <= self.sensitive_fraction <= 1 or not 0 <= self.warmup_fraction < 1:
            raise ValueError(
                f"need 0 <= sensitive_fraction({self.sensitive_fraction}) <= 1 and "
                f"0 <= warmup_fraction({self.warmup_fraction}) < 1"
            )


@dataclass
class _Request:
    index: int
    arrival_s: float
    sensitive: bool


class _Queue:
    """The waiting requests plus an event that fires on the next arrival (or on close)."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env, self.items, self.closed = env, [], False
        self._signal = env.event()

    def put(self, request: _Request) -> None:
        self.items.append(request)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        signal, self._signal = self._signal, self.env.event()
        signal.succeed()

    def changed(self) -> simpy.Event:
        return self._signal

    def take(self, requests: list[_Request]) -> list[_Request]:
        chosen = {id(r) for r in requests}
        self.items = [r for r in self.items if id(r) not in chosen]
        return requests


def _wait_until(q: _Queue, ready: Callable[[], bool], deadline_s: float = float("inf")) -> Iterator:
    """Yield SimPy events until ``ready()``, the deadline passes, or arrivals end."""
    env = q.env
    while not ready() and not q.closed and env.now < deadline_s:
        events = [q.changed()]
        if deadline_s != float("inf"):
            events.append(env.timeout(deadline_s - env.now))
        yield env.any_of(events)


def _form_batch(q: _Queue, cfg: BatchingConfig) -> Iterator:
    """Generator returning the next batch (empty when arrivals have ended and nothing is left)."""
    yield from _wait_until(q, lambda: bool(q.items))
    if not q.items:
        return []
    if cfg.policy is Policy.NONE:
        return q.take(q.items[:1])
    if cfg.policy is Policy.STATIC:
        yield from _wait_until(q, lambda: len(q.items) >= cfg.max_batch)
        return q.take(q.items[: cfg.max_batch])
    if cfg.policy is Policy.DYNAMIC:
        deadline = q.items[0].arrival_s + cfg.max_wait_s
        yield from _wait_until(q, lambda: len(q.items) >= cfg.max_batch, deadline)
        return q.take(q.items[: cfg.max_batch])
    # class-aware: sensitive first, small and at once; tolerant wait for a large batch
    while True:
        sensitive = [r for r in q.items if r.sensitive]
        if sensitive:  # dispatch now: sensitive first, spare slots to the oldest tolerant
            tolerant = [r for r in q.items if not r.sensitive]
            return q.take((sensitive + tolerant)[: cfg.sensitive_batch])
        deadline = q.items[0].arrival_s + cfg.max_wait_s
        yield from _wait_until(
            q,
            lambda: len(q.items) >= cfg.max_batch or any(r.sensitive for r in q.items),
            deadline,
        )
        if not any(r.sensitive for r in q.items):
            return q.take(q.items[: cfg.max_batch])


@dataclass(frozen=True)
class SimResult:
    """Per-request outcomes (arrays in request order) and the batch sizes served."""

    arrival_s: np.ndarray
    latency_s: np.ndarray
    sensitive: np.ndarray
    batch_sizes: tuple[int, ...]
    busy_s: float
    warmup_fraction: float

    def summary(self) -> dict[str, float]:
        """mean/p50/p99 latency (all, sensitive, tolerant; seconds), throughput (requests/s),
        mean batch size and server utilisation, over requests after the warm-up."""
        start = int(len(self.latency_s) * self.warmup_fraction)
        lat, sens, arr = self.latency_s[start:], self.sensitive[start:], self.arrival_s[start:]
        done = arr + lat
        span = float(done.max() - arr.min())
        out = {
            "throughput_rps": len(lat) / span if span > 0 else float("nan"),
            "mean_batch": float(np.mean(self.batch_sizes)),
            "utilisation": self.busy_s / float(done.max() - self.arrival_s.min()),
        }
        for label, mask in (("all", np.ones_like(sens)), ("sensitive", sens), ("tolerant", ~sens)):
            values = lat[mask]
            for stat, fn in (("mean", np.mean), ("p50", np.median)):
                out[f"{stat}_{label}_s"] = float(fn(values)) if len(values) else float("nan")
            out[f"p99_{label}_s"] = (
                float(np.percentile(values, 99)) if len(values) else float("nan")
            )
        return out


def simulate(service: ServiceModel, batching: BatchingConfig, traffic: TrafficConfig) -> SimResult:
    """Run the queue until every request is served; deterministic for a given seed."""
    rng = np.random.default_rng(traffic.seed)
    gaps = rng.exponential(1.0 / traffic.rate_rps, traffic.n_requests)
    is_sensitive = rng.random(traffic.n_requests) < traffic.sensitive_fraction
    env = simpy.Environment()
    q = _Queue(env)
    latency = np.full(traffic.n_requests, np.nan)
    arrival = np.cumsum(gaps)
    batches: list[int] = []
    busy = [0.0]

    def arrivals() -> Iterator:
        for i, gap in enumerate(gaps):
            yield env.timeout(gap)
            q.put(_Request(i, env.now, bool(is_sensitive[i])))
        q.close()

    def server() -> Iterator:
        while True:
            batch = yield from _form_batch(q, batching)
            if not batch:
                return
            mean = service.time_s(len(batch))
            duration = rng.exponential(mean) if service.exponential else mean
            yield env.timeout(duration)
            busy[0] += duration
            batches.append(len(batch))
            for r in batch:
                latency[r.index] = env.now - r.arrival_s

    env.process(arrivals())
    env.run(until=env.process(server()))
    return SimResult(
        arrival, latency, is_sensitive, tuple(batches), busy[0], traffic.warmup_fraction
    )


def md1_mean_latency_s(rate_rps: float, service_s: float) -> float:
    """M/D/1 mean time in system (Pollaczek–Khinchine with zero service variance)."""
    rho = rate_rps * service_s
    if rho >= 1:
        raise ValueError(f"unstable queue: load {rho:.3f} >= 1")
    return service_s + rho * service_s / (2 * (1 - rho))


def mm1_mean_latency_s(rate_rps: float, service_s: float) -> float:
    """M/M/1 mean time in system ``1 / (μ − λ)``."""
    mu = 1.0 / service_s
    if rate_rps >= mu:
        raise ValueError(f"unstable queue: load {rate_rps / mu:.3f} >= 1")
    return 1.0 / (mu - rate_rps)


def load_sweep(
    service: ServiceModel,
    configs: Sequence[BatchingConfig],
    loads: Sequence[float],
    sensitive_fraction: float = 0.3,
    n_requests: int = 10_000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per (policy, load): ``load`` is the arrival rate over the capacity at
    ``max_batch`` (of the first config); the rows hold :meth:`SimResult.summary` plus
    ``policy``, ``load`` and ``rate_rps``. Every policy sees the same arrivals at a load."""
    capacity = service.capacity_rps(configs[0].max_batch)
    rows = []
    for load in loads:
        traffic = TrafficConfig(load * capacity, sensitive_fraction, n_requests, seed=seed)
        for cfg in configs:
            summary = simulate(service, cfg, traffic).summary()
            rows.append(
                {"policy": cfg.policy.value, "load": load, "rate_rps": traffic.rate_rps, **summary}
            )
    return rows
