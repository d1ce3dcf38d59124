"""Message-level SimPy mode: collectives as messages over links that are SimPy resources.

Each GPU has an NVLink egress port; each node has ``nics_per_node`` NIC ports (GPU i uses
NIC i·nics/G, as on DGX/p4d boards), each with an egress and an ingress side. A message
holds every port on its path for α + bytes/B (B the slowest achievable rate on the path),
so two flows that share a port queue behind each other and contention appears by itself.

A ring all-reduce is run step by step: in step k every rank sends one N/p chunk to its
successor once it has received step k−1 from its predecessor. Without contention its time
equals the α–β formula 2(p−1)·(α + N/(p·B)) (tested within 2 %); the mode is limited to
``MAX_NODES`` nodes because every message is an event.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from simulators.hardware import ClusterSpec

MAX_NODES = 64


@dataclass(frozen=True)
class RingResult:
    """Completion time of each simulated all-reduce (same order as the groups) and events."""

    times_s: tuple[float, ...]
    messages: int


class _Fabric:
    def __init__(self, env: simpy.Environment, cluster: ClusterSpec) -> None:
        self.env, self.c = env, cluster
        self.ports: dict[tuple, simpy.Resource] = {}

    def _port(self, key: tuple) -> simpy.Resource:
        if key not in self.ports:
            self.ports[key] = simpy.Resource(self.env, capacity=1)
        return self.ports[key]

    def path(
        self, src: int, dst: int, nodes_spanned: int
    ) -> tuple[list[simpy.Resource], float, float]:
        """Ports, bandwidth (B/s) and α of a message from GPU ``src`` to GPU ``dst``."""
        nd = self.c.node
        g = nd.gpus_per_node
        if src // g == dst // g:
            link = nd.intra_link
            return [self._port(("nvl", src))], link.achievable_bytes_per_s, link.latency_s
        nic_of = lambda r: (r // g, (r % g) * nd.nics_per_node // g)  # noqa: E731
        bw = nd.nic.bandwidth_bytes_per_s * nd.nic.efficiency
        if nodes_spanned > self.c.nodes_per_leaf:
            bw /= self.c.oversubscription
        ports = [self._port(("nic-out", *nic_of(src))), self._port(("nic-in", *nic_of(dst)))]
        return ports, bw, self.c.inter_node_latency_s(nodes_spanned)

    def send(self, src: int, dst: int, nbytes: float, nodes_spanned: int):
        ports, bw, alpha = self.path(src, dst, nodes_spanned)
        reqs = [p.request() for p in ports]
        for r in reqs:
            yield r
        yield self.env.timeout(alpha + nbytes / bw)
        for p, r in zip(ports, reqs, strict=True):
            p.release(r)


def simulate_ring_all_reduces(
    cluster: ClusterSpec, groups: list[list[int]], size_bytes: float
) -> RingResult:
    """Run one ring all-reduce of ``size_bytes`` per group of global GPU ranks, concurrently.

    Ranks are GPU indices in the cluster (node = rank // gpus_per_node); the ring follows the
    order of each group.
    """
    if cluster.num_nodes > MAX_NODES:
        raise ValueError(
            f"message-level mode is limited to {MAX_NODES} nodes, got "
            f"num_nodes({cluster.num_nodes}); use the analytic mode"
        )
    env = simpy.Environment()
    fabric = _Fabric(env, cluster)
    done: list[float] = [0.0] * len(groups)
    counter = [0]
    g = cluster.node.gpus_per_node
    for gi, group in enumerate(groups):
        if any(not 0 <= r < cluster.world_size for r in group):
            raise ValueError(f"group {gi} has ranks outside [0, {cluster.world_size})")
        env.process(
            _ring(env, fabric, group, size_bytes, gi, done, counter, len({r // g for r in group}))
        )
    env.run()
    return RingResult(tuple(done), counter[0])


def _ring(
    env: simpy.Environment,
    fabric: _Fabric,
    group: list[int],
    size_bytes: float,
    gi: int,
    done: list[float],
    counter: list[int],
    nodes_spanned: int,
):
    p = len(group)
    if p == 1:
        return
    chunk = size_bytes / p
    received = [[env.event() for _ in range(2 * (p - 1))] for _ in range(p)]

    def rank_proc(i: int):
        nxt = (i + 1) % p
        for step in range(2 * (p - 1)):
            if step > 0:
                yield received[i][step - 1]
            yield from fabric.send(group[i], group[nxt], chunk, nodes_spanned)
            counter[0] += 1
            received[nxt][step].succeed()

    procs = [env.process(rank_proc(i)) for i in range(p)]
    yield simpy.AllOf(env, procs)
    done[gi] = env.now
