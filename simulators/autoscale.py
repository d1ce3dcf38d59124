"""Cluster utilisation under a job mix: a fixed-size cluster vs a node autoscaler.

Jobs arrive as a Poisson process, each asking for a gang of n nodes (all at once, as
distributed training needs) for a lognormal duration, and are started first-come
first-served (a job that does not fit blocks those behind it, as a gang scheduler without
backfilling does). The *fixed* cluster has C nodes. The *autoscaled* cluster behaves like
the Kubernetes cluster-autoscaler: when the job at the head of the queue does not fit in
the free and booting nodes it asks for the difference (up to ``max_nodes``), and nodes
arrive ``provision_s`` later; a node idle for ``scale_down_after_s`` is removed (the
autoscaler's ``scale-down-unneeded-time`` defaults to 10 min, and it scans every 10 s),
but not while a job waits (its gang would need the node; removing it could livelock a gang
larger than the nodes that boot in time).

Utilisation = node-seconds running jobs / node-seconds provisioned (booting nodes are paid
for and count as provisioned). What it comes to depends on the job mix — gang size
against cluster size, duration against boot time, burstiness — which is the point.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import simpy


@dataclass(frozen=True)
class JobMix:
    """Jobs per hour, nodes per job (uniform on the choices), lognormal hours (median, σ)."""

    name: str
    arrivals_per_hour: float
    nodes_choices: tuple[int, ...]
    median_hours: float
    sigma: float = 1.0

    def mean_node_hours(self) -> float:
        mean_nodes = sum(self.nodes_choices) / len(self.nodes_choices)
        return mean_nodes * self.median_hours * math.exp(self.sigma**2 / 2)


@dataclass(frozen=True)
class AutoscalerConfig:
    min_nodes: int = 0
    max_nodes: int = 10_000
    provision_s: float = 300.0  # VM boot, GPU driver, image pull
    scale_down_after_s: float = 600.0  # cluster-autoscaler scale-down-unneeded-time
    scan_s: float = 10.0  # cluster-autoscaler scan interval


class _Cluster:
    def __init__(self, env, nodes: int, auto: AutoscalerConfig | None) -> None:
        self.env, self.auto = env, auto
        self.up, self.busy, self.booting = nodes, 0, 0
        self.queue: deque[tuple[int, float]] = deque()
        self.idle_since: list[float] = [0.0] * nodes  # free nodes, oldest first
        self.busy_area = self.up_area = 0.0
        self.last = 0.0
        self.days: list[tuple[float, float]] = []

    def integrate(self) -> None:
        dt = self.env.now - self.last
        self.busy_area += self.busy * dt
        self.up_area += (self.up + self.booting) * dt
        self.last = self.env.now

    def submit(self, nodes: int, duration_s: float) -> None:
        self.queue.append((nodes, duration_s))
        self.dispatch()

    def dispatch(self) -> None:
        self.integrate()
        while self.queue and self.queue[0][0] <= self.up - self.busy:
            nodes, duration = self.queue.popleft()
            self.busy += nodes
            del self.idle_since[len(self.idle_since) - nodes :]  # newest idle first
            self.env.process(self.finish(nodes, duration))
        if self.auto and self.queue:
            want = self.queue[0][0] - (self.up - self.busy) - self.booting
            room = self.auto.max_nodes - self.up - self.booting
            if want > 0 and room > 0:
                self.env.process(self.boot(min(want, room)))

    def finish(self, nodes: int, duration: float):
        yield self.env.timeout(duration)
        self.integrate()
        self.busy -= nodes
        self.idle_since += [self.env.now] * nodes
        self.dispatch()

    def boot(self, nodes: int):
        self.integrate()
        self.booting += nodes
        yield self.env.timeout(self.auto.provision_s)
        self.integrate()
        self.booting -= nodes
        self.up += nodes
        self.idle_since += [self.env.now] * nodes
        self.dispatch()

    def scale_down(self):
        """Remove nodes idle for ``scale_down_after_s`` at the next scan. Sleeps until the
        oldest idle node can go (on the scan grid) instead of waking every scan."""
        a = self.auto
        while True:
            if self.idle_since and self.up > a.min_nodes:
                due = self.idle_since[0] + a.scale_down_after_s
                wake = max(self.env.now + a.scan_s, math.ceil(due / a.scan_s) * a.scan_s)
            else:
                wake = self.env.now + a.scale_down_after_s
            yield self.env.timeout(wake - self.env.now)
            if self.queue:  # nodes a waiting gang will use are not "unneeded"
                continue
            self.integrate()
            old = self.env.now - a.scale_down_after_s
            removable = min(bisect.bisect_right(self.idle_since, old), self.up - a.min_nodes)
            if removable > 0:
                self.up -= removable
                del self.idle_since[:removable]

    def daily(self, days: int):
        """Record (busy, provisioned) node-seconds of each day."""
        for _ in range(days):
            before = (self.busy_area, self.up_area)
            yield self.env.timeout(86400.0)
            self.integrate()
            self.days.append((self.busy_area - before[0], self.up_area - before[1]))


def _arrivals(env, cluster: _Cluster, mix: JobMix, rng: np.random.Generator):
    while True:
        yield env.timeout(rng.exponential(3600.0 / mix.arrivals_per_hour))
        nodes = int(rng.choice(mix.nodes_choices))
        hours = mix.median_hours * rng.lognormal(0.0, mix.sigma)
        cluster.submit(nodes, hours * 3600.0)


@dataclass(frozen=True)
class Utilisation:
    """Busy / provisioned node-seconds: over the run, and day by day."""

    overall: float
    daily: tuple[float, ...]
    mean_nodes: float  # provisioned, time average


def utilisation(
    mix: JobMix,
    *,
    days: int,
    nodes: int = 0,
    auto: AutoscalerConfig | None = None,
    seed: int = 0,
) -> Utilisation:
    """Run ``days`` of the mix on a fixed cluster of ``nodes`` nodes, or on an autoscaled
    one starting at ``nodes`` when ``auto`` is given."""
    if auto is None and nodes < max(mix.nodes_choices):
        raise ValueError(f"nodes({nodes}) cannot fit the largest job ({max(mix.nodes_choices)})")
    env = simpy.Environment()
    cluster = _Cluster(env, nodes, auto)
    env.process(_arrivals(env, cluster, mix, np.random.default_rng(seed)))
    if auto:
        env.process(cluster.scale_down())
    env.process(cluster.daily(days))
    env.run(until=days * 86400.0 + 1e-6)
    cluster.integrate()
    return Utilisation(
        cluster.busy_area / cluster.up_area if cluster.up_area else 0.0,
        tuple(b / u if u else 0.0 for b, u in cluster.days),
        cluster.up_area / (days * 86400.0),
    )


def fixed_size_for_load(mix: JobMix, load: float) -> int:
    """Nodes of a fixed cluster that the mix keeps busy a fraction ``load`` of the time."""
    return max(
        max(mix.nodes_choices), math.ceil(mix.arrivals_per_hour * mix.mean_node_hours() / load)
    )
