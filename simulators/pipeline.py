"""SimPy simulation of one pipeline (one data-parallel replica) for one iteration.

One process per pipeline stage walks its schedule (GPipe, 1F1B or interleaved 1F1B, exactly
as Megatron-LM orders the work) and waits for its inputs: a forward needs the previous
virtual stage's activations, a backward the next one's gradients. The bubble is not a
formula here: it is the idle time that appears when a stage has nothing it may run.
The 1F1B bubble fraction (p−1)/(m+p−1) (Narayanan et al. 2021 §2.2) is a test of it.

Point-to-point sends block the sender for their duration (Megatron's batched isend/irecv
is waited on before the next op) and occupy a SimPy ``Resource`` for the directed link
between two stages, so sends that share a link queue. Data-parallel gradient reduction is
split into buckets; with ``dp_overlap`` each bucket's all-reduce starts when the backward
pass that produces it has advanced far enough (PyTorch DDP), otherwise all of it runs after
the last backward (Megatron's "local" DDP). The optimizer step ends the iteration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import simpy

from simulators.memory import Schedule

# Chrome-trace categories
COMPUTE, TP, PP, DP, OPTIMIZER, BUBBLE = "compute", "tp", "pp", "dp", "optimizer", "bubble"


def schedule_ops(
    schedule: Schedule, p: int, v: int, m: int, stage: int
) -> list[tuple[str, int, int]]:
    """The ordered (kind "F"/"B", micro-batch, chunk) ops of ``stage``.

    1F1B warms up with p−s−1 forwards; interleaved 1F1B (v > 1) follows Megatron-LM's
    ``forward_backward_pipelining_with_interleaving``: (p−s−1)·2 + (v−1)·p warm-up forwards,
    chunk of the k-th op (k mod p·v) // p (reversed for backwards), and needs m % p == 0.
    """
    schedule = Schedule(schedule)
    if schedule is Schedule.GPIPE:
        fwd = [("F", mb, c) for c in range(v) for mb in range(m)]
        bwd = [("B", mb, c) for c in reversed(range(v)) for mb in range(m)]
        return fwd + bwd
    if v == 1:
        warm = min(p - stage - 1, m)
        ops = [("F", mb, 0) for mb in range(warm)]
        for i in range(m - warm):
            ops += [("F", warm + i, 0), ("B", i, 0)]
        return ops + [("B", mb, 0) for mb in range(m - warm, m)]
    if m % p:
        raise ValueError(f"interleaved 1F1B needs micro_batches({m}) divisible by pp({p})")
    total = m * v

    def op(kind: str, k: int) -> tuple[str, int, int]:
        chunk = (k % (p * v)) // p
        return (kind, (k // (p * v)) * p + k % p, chunk if kind == "F" else v - 1 - chunk)

    warm = total if m == p else min((p - stage - 1) * 2 + (v - 1) * p, total)
    ops = [op("F", k) for k in range(warm)]
    for k in range(total - warm):
        ops += [op("F", warm + k), op("B", k)]
    return ops + [op("B", k) for k in range(total - warm, total)]


@dataclass(frozen=True)
class PipelineCosts:
    """Durations for one micro-batch, indexed by virtual stage vs = chunk·p + stage.

    forward_s / backward_s: compute (backward includes recomputation);
    forward_tp_s / backward_tp_s: tensor-parallel communication inside those ops;
    p2p_s: one activation or gradient message between stages;
    dp_s: data-parallel gradient reduction of each stage (all buckets); dp_buckets: count;
    optimizer_s: optimizer step of each stage.
    """

    p: int
    v: int
    m: int
    schedule: Schedule
    forward_s: tuple[float, ...]
    backward_s: tuple[float, ...]
    forward_tp_s: tuple[float, ...]
    backward_tp_s: tuple[float, ...]
    p2p_s: float
    dp_s: tuple[float, ...]
    dp_buckets: int = 1
    dp_overlap: bool = False
    optimizer_s: tuple[float, ...] = ()


@dataclass
class PipelineResult:
    """What one iteration took: per-stage totals by category and the event list."""

    iteration_s: float
    critical_stage: int
    by_stage: list[dict[str, float]]
    events: list[tuple[int, str, str, float, float]] = field(default_factory=list)
    simpy_events: int = 0


class _Sim:
    def __init__(self, c: PipelineCosts, record: bool) -> None:
        self.c, self.record = c, record
        self.env = simpy.Environment()
        nvs = c.p * c.v
        self.fwd_ready = [[self.env.event() for _ in range(c.m)] for _ in range(nvs)]
        self.bwd_ready = [[self.env.event() for _ in range(c.m)] for _ in range(nvs)]
        self.links: dict[tuple[int, int], simpy.Resource] = {}
        self.events: list[tuple[int, str, str, float, float]] = []
        self.totals = [
            dict.fromkeys((COMPUTE, TP, PP, DP, OPTIMIZER, BUBBLE), 0.0) for _ in range(c.p)
        ]
        self.end = [0.0] * c.p
        self.n_events = 0

    def _timeout(self, delay: float) -> simpy.Event:
        self.n_events += 1
        return self.env.timeout(delay)

    def _log(self, stage: int, name: str, cat: str, start: float, dur: float) -> None:
        self.totals[stage][cat] += dur
        if self.record and dur > 0:
            self.events.append((stage, name, cat, start, dur))

    def _send(self, src: int, dst: int, name: str, target: simpy.Event):
        link = self.links.setdefault((src, dst), simpy.Resource(self.env, capacity=1))
        with link.request() as req:
            yield req
            start = self.env.now
            yield self._timeout(self.c.p2p_s)
            self._log(src, name, PP, start, self.env.now - start)
        target.succeed()

    def _dp(self, stage: int, buckets: simpy.Store, n: int):
        per = self.c.dp_s[stage] / n
        for _ in range(n):
            yield buckets.get()
            start = self.env.now
            yield self._timeout(per)
            self._log(stage, "dp all-reduce bucket", DP, start, per)

    def stage(self, s: int):
        c, env = self.c, self.env
        ops = schedule_ops(c.schedule, c.p, c.v, c.m, s)
        last_b = {
            ch: max(i for i, o in enumerate(ops) if o[0] == "B" and o[2] == ch) for ch in range(c.v)
        }
        buckets = simpy.Store(env)
        n_b = max(1, c.dp_buckets)
        per_chunk = [n_b // c.v + (1 if ch < n_b % c.v else 0) for ch in range(c.v)]
        dp_proc = env.process(self._dp(s, buckets, sum(per_chunk)))
        for i, (kind, mb, ch) in enumerate(ops):
            vs = ch * c.p + s
            wait = (self.fwd_ready if kind == "F" else self.bwd_ready)[vs][mb]
            first = vs == 0 if kind == "F" else vs == c.p * c.v - 1
            if not first and not wait.triggered:
                idle_from = env.now
                yield wait
                self._log(s, "bubble", BUBBLE, idle_from, env.now - idle_from)
            comp = (c.forward_s if kind == "F" else c.backward_s)[vs]
            tp = (c.forward_tp_s if kind == "F" else c.backward_tp_s)[vs]
            start = env.now
            overlapped = c.dp_overlap and kind == "B" and i == last_b[ch]
            if overlapped:  # buckets become ready as the backward pass proceeds
                k = per_chunk[ch]
                for j in range(k):
                    yield self._timeout((comp + tp) / k)
                    buckets.put(j)
            else:
                yield self._timeout(comp + tp)
            self._log(s, f"{kind}{mb} chunk{ch}", COMPUTE, start, comp)
            self.totals[s][TP] += tp
            yield from self._deliver(kind, mb, vs, s)
        if not c.dp_overlap:
            for j in range(sum(per_chunk)):
                buckets.put(j)
        bwd_end = env.now
        yield dp_proc
        self.totals[s]["dp_exposed"] = env.now - bwd_end
        opt = c.optimizer_s[s] if c.optimizer_s else 0.0
        start = env.now
        yield self._timeout(opt)
        self._log(s, "optimizer step", OPTIMIZER, start, opt)
        self.end[s] = env.now

    def _deliver(self, kind: str, mb: int, vs: int, s: int):
        c = self.c
        nxt = vs + 1 if kind == "F" else vs - 1
        if not 0 <= nxt < c.p * c.v:
            return
        target = (self.fwd_ready if kind == "F" else self.bwd_ready)[nxt][mb]
        dst = nxt % c.p
        if dst == s or c.p2p_s == 0:
            target.succeed()
        else:
            yield from self._send(s, dst, f"send {kind}{mb}", target)


def simulate_pipeline(costs: PipelineCosts, record: bool = False) -> PipelineResult:
    """Run one iteration of every stage; the slowest stage sets the iteration time."""
    c = costs
    nvs = c.p * c.v
    for name in ("forward_s", "backward_s", "forward_tp_s", "backward_tp_s"):
        if len(getattr(c, name)) != nvs:
            raise ValueError(f"{name} has {len(getattr(c, name))} entries, need pp*v = {nvs}")
    if c.m < 1:
        raise ValueError(f"micro_batches({c.m}) must be >= 1")
    sim = _Sim(c, record)
    for s in range(c.p):
        sim.env.process(sim.stage(s))
    sim.env.run()
    crit = max(range(c.p), key=lambda s: sim.end[s])
    return PipelineResult(sim.end[crit], crit, sim.totals, sim.events, simpy_events=sim.n_events)


def bubble_fraction_1f1b(p: int, m: int, v: int = 1) -> float:
    """Closed form: (p−1)/(m·v + p−1) of the iteration is idle for uniform stages
    (Narayanan et al. 2021 §2.2, eq. for the interleaved schedule with v chunks)."""
    return (p - 1) / (m * v + p - 1) if p > 1 else 0.0


def buckets_for(grad_bytes: float, bucket_bytes: float) -> int:
    """Number of DP buckets (PyTorch DDP default bucket 25 MB)."""
    return max(1, math.ceil(grad_bytes / bucket_bytes))
