"""Weeks of training with failures, checkpoints and restarts, at iteration granularity.

The step time comes from the detailed model (:func:`simulators.engine.run`); this module
adds what happens between steps over days. It follows SimPy's machine-shop example: the
training job is one process, every component class (:class:`simulators.failures.Component`)
is a process that sleeps until its next unit failure and then ``interrupt()``s the job, and
the job works out what the interruption cost.

The job alternates *work* (one ``timeout`` for the k iterations up to the next checkpoint,
so a 30-day run on 1000 nodes is a few thousand events, not 400 000) and *checkpoint stall*.
When a failure interrupts it, the elapsed time is converted to whole iterations: iterations
finished since the last committed checkpoint, the unfinished one and an interrupted stall
are lost work. Then it recovers: detection, a node (rescheduled, hot spare from a SimPy
``Container`` that repaired nodes return to, or the repaired node itself), restart,
checkpoint load, warm-up — any of which a new failure can interrupt again. With the
``shrink`` policy the job drops the DP replica holding the failed node, carries on at the
step time of the smaller layout (recomputed with the engine) and takes the replica back at
a later restart once a node has been repaired; iterations then count as useful in
proportion to the replicas that ran them, the remainder is ``degraded`` time.

Every second of wall time lands in exactly one bucket — useful, checkpoint stall, degraded,
lost work (by cause) or downtime (by cause) — so the buckets add up to the horizon and the
effective training time (ETTR) is useful / wall. Failures are wall-clock processes, so the
number of interruptions over the horizon is Poisson with mean Σ rates × horizon
(exponential lifetimes), whatever the job is doing.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
import simpy

from simulators import engine
from simulators.cost import CostReport, cost_of
from simulators.failures import (
    NEEDS_NODE,
    Component,
    UnitClocks,
    job_rates_per_s,
    poisson_interval,
    units_per_job,
)
from simulators.hardware import node
from simulators.model import param_count
from simulators.recovery import (
    CheckpointCosts,
    CheckpointMode,
    Policy,
    checkpoint_costs,
    daly_interval_s,
    first_order_ettr,
    restart_downtime_s,
    young_interval_s,
)
from simulators.scenario import Scenario

DAY_S = 86400.0
WORK, STALL, DOWN = "work", "stall", "down"


@dataclass
class HorizonResult:
    """Outcome of :func:`run_horizon`; times in seconds, counts by component."""

    wall_s: float
    iteration_s: float
    tokens_per_iteration: float
    mttf_s: float
    interval_s: float  # checkpoint interval used (k iterations)
    young_s: float
    daly_s: float
    checkpoint: CheckpointCosts
    mean_downtime_s: float  # R of the first-order formula, weighted by cause
    useful_s: float
    checkpoint_s: float
    degraded_s: float
    lost_s: dict[str, float]
    downtime_s: dict[str, float]
    interruptions: dict[str, int]
    expected_interruptions: float
    interruption_interval: tuple[int, int]  # 99% Poisson interval of the total
    checkpoints_written: int
    ettr: float
    ettr_first_order: float
    cost: CostReport
    lost_per_failure_s: list[float] = field(repr=False, default_factory=list)
    interruption_log: list[tuple[float, str]] = field(repr=False, default_factory=list)
    simpy_events: int = 0
    wall_clock_s: float = 0.0

    @property
    def useful_tokens(self) -> float:
        return self.useful_s / self.iteration_s * self.tokens_per_iteration

    def to_dict(self) -> dict:
        logs = ("lost_per_failure_s", "interruption_log")
        d = {k: v for k, v in dataclasses.asdict(self).items() if k not in logs}
        d["checkpoint"] = dataclasses.asdict(self.checkpoint)
        d["cost"] = self.cost.as_dict()
        d["interruption_interval"] = list(self.interruption_interval)
        d["useful_tokens"] = self.useful_tokens
        d["total_interruptions"] = sum(self.interruptions.values())
        return d


class _Job:
    """The training job as a SimPy process; see the module docstring."""

    def __init__(
        self, env: simpy.Environment, scn: Scenario, costs: CheckpointCosts, daly_s: float
    ) -> None:
        self.env, self.scn, self.ck, self.daly_s = env, scn, costs, daly_s
        self.rec = scn.recovery
        lay = scn.layout()
        self.full_dp = lay.dp
        # Shrinking drops whole replicas: a node loss takes out max(1, tp·pp/g) nodes and
        # max(1, g/(tp·pp)) replicas. Not offered with expert parallelism (dp % ep).
        replica_gpus = lay.tp * lay.pp
        self.can_shrink = lay.ep == 1
        self.nodes_per_loss = max(1, replica_gpus // lay.gpus_per_node)
        self.replicas_per_loss = max(1, lay.gpus_per_node // replica_gpus)
        self.full_iter_s = step_time_s(scn, scn.system.nodes)
        self.losses = 0  # node losses absorbed by shrinking
        self.missing = 0  # failed nodes not yet replaced
        self.repaired = 0  # nodes back from repair, for the shrink policy
        spares = self.rec.spares if self.rec.policy is Policy.SPARE else 0
        self.pool = simpy.Container(env, init=spares, capacity=math.inf)  # nodes ready to join
        # accounting
        self.useful = self.ckpt = self.degraded = 0.0
        self.lost: defaultdict[str, float] = defaultdict(float)
        self.down: defaultdict[str, float] = defaultdict(float)
        self.count: Counter[str] = Counter()
        self.lost_log: list[float] = []
        self.log: list[tuple[float, str]] = []  # (time, cause) of every interruption
        self.written = 0
        # state
        self.pending_s = self.pending_useful = 0.0  # finished, not yet committed
        self.epoch = 0  # bumps on every failure; voids background writes in flight
        self.commit_due = 0.0
        self.phase, self.phase_start, self.cause = WORK, 0.0, ""
        self.process = env.process(self.run())

    # --- sizes ------------------------------------------------------------------------------
    @property
    def dp(self) -> int:
        return self.full_dp - self.losses * self.replicas_per_loss

    @property
    def iter_s(self) -> float:
        if self.losses == 0:
            return self.full_iter_s
        return step_time_s(self.scn, self.scn.system.nodes - self.losses * self.nodes_per_loss)

    def useful_per_iter(self) -> float:
        return self.full_iter_s * self.dp / self.full_dp

    # --- phases -----------------------------------------------------------------------------
    def run(self):
        while True:
            try:
                yield from self.train()
            except simpy.Interrupt as intr:
                self.fail_during_training(intr.cause)
            while True:
                try:
                    yield from self.recover()
                    break
                except simpy.Interrupt as intr:
                    self.down[self.cause] += self.env.now - self.phase_start
                    self.count[intr.cause] += 1
                    self.log.append((self.env.now, intr.cause))
                    self.node_lost(intr.cause)
                    self.cause = intr.cause
                    self.phase_start = self.env.now

    def train(self):
        env, every = self.env, interval_iterations(self)
        while True:
            self.phase, self.phase_start = WORK, env.now
            yield env.timeout(every * self.iter_s)
            self.pending_s += every * self.iter_s
            self.pending_useful += every * self.useful_per_iter()
            self.phase, self.phase_start = STALL, env.now
            yield env.timeout(self.ck.stall_s + max(0.0, self.commit_due - env.now))
            self.ckpt += env.now - self.phase_start
            if self.rec.checkpoint_mode is CheckpointMode.BLOCKING:
                self.commit(self.pending_s, self.pending_useful)
            else:
                self.commit_due = env.now + self.ck.commit_s
                env.process(self.background_commit(self.epoch, self.pending_s, self.pending_useful))

    def background_commit(self, epoch: int, snap_s: float, snap_useful: float):
        yield self.env.timeout(self.ck.commit_s)
        if epoch == self.epoch:
            self.commit(snap_s, snap_useful)

    def commit(self, snap_s: float, snap_useful: float) -> None:
        self.useful += snap_useful
        self.degraded += snap_s - snap_useful
        self.pending_s -= snap_s
        self.pending_useful -= snap_useful
        self.written += 1

    def fail_during_training(self, cause: str) -> None:
        """Everything since the last committed checkpoint is lost, the running iteration too."""
        elapsed = self.env.now - self.phase_start
        lost = self.pending_s + elapsed
        self.lost[cause] += lost
        self.lost_log.append(lost)
        self.count[cause] += 1
        self.log.append((self.env.now, cause))
        self.node_lost(cause)
        self.pending_s = self.pending_useful = 0.0
        self.epoch += 1
        self.commit_due = 0.0
        self.cause, self.phase, self.phase_start = cause, DOWN, self.env.now

    def recover(self):
        env, rec = self.env, self.rec
        yield env.timeout(rec.detection_s)
        if self.missing:
            yield from self.acquire_nodes()
        if rec.policy is Policy.SHRINK:
            back = min(self.losses, self.repaired)
            self.losses -= back
            self.repaired -= back
        yield env.timeout(rec.restart_s + self.ck.load_s + rec.warmup_s)
        self.down[self.cause] += env.now - self.phase_start

    def node_lost(self, cause: str) -> None:
        """Book a failed node: the job is short of it until a recovery replaces it (an
        interrupted recovery leaves it missing), or, shrinking, runs without its replica."""
        if Component(cause) not in NEEDS_NODE:
            return
        rec = self.rec
        if rec.policy is Policy.RESCHEDULE:
            self.missing += 1  # the wider cluster supplies another node
            return
        shrinkable = self.can_shrink and self.dp - self.replicas_per_loss >= 1
        if rec.policy is Policy.SHRINK and shrinkable:
            self.losses += 1  # its replica's other nodes idle until it is repaired
            self.env.process(self.repair_for_shrink())
            return
        # spare / wait / shrink with nothing left: the node comes back after repair
        self.env.process(self.repair_to_pool())
        self.missing += 1

    def acquire_nodes(self):
        """Replace every missing node: rescheduling brings them all at once; otherwise take
        spares (or, with none left or none configured, repaired nodes) one by one."""
        env, rec = self.env, self.rec
        if rec.policy is Policy.RESCHEDULE:
            yield env.timeout(rec.reschedule_s)
            self.missing = 0
            return
        while self.missing:
            request = self.pool.get(1)
            try:
                yield request
            except simpy.Interrupt:
                request.cancel()
                raise
            self.missing -= 1
            if rec.policy is Policy.SPARE:
                yield env.timeout(rec.spare_swap_s)

    def repair_to_pool(self):
        yield self.env.timeout(self.rec.repair_s)
        yield self.pool.put(1)

    def repair_for_shrink(self):
        yield self.env.timeout(self.rec.repair_s)
        self.repaired += 1

    def close(self, horizon_s: float) -> None:
        """Account the phase in progress at the horizon; work in flight counts as useful."""
        elapsed = horizon_s - self.phase_start
        if self.phase == DOWN:
            self.down[self.cause] += elapsed
        else:
            if self.phase == STALL:
                self.ckpt += elapsed
                elapsed = 0.0
            ratio = self.useful_per_iter() / self.iter_s
            self.useful += self.pending_useful + elapsed * ratio
            self.degraded += self.pending_s - self.pending_useful + elapsed * (1 - ratio)


@functools.lru_cache(maxsize=64)
def step_time_s(scn: Scenario, nodes: int) -> float:
    """Iteration time of ``scn`` on ``nodes`` nodes (cached: shrink asks for few sizes)."""
    if nodes != scn.system.nodes:
        scn = dataclasses.replace(scn, system=dataclasses.replace(scn.system, nodes=nodes))
    return engine.run(scn).iteration_s


def interval_iterations(job: _Job) -> int:
    """Iterations between checkpoints: the configured interval, or Daly's optimum when 0."""
    tau = job.rec.checkpoint_interval_s or job.daly_s
    return max(1, round(tau / job.iter_s))


def _failure_source(env, job: _Job, comp: Component, clocks: UnitClocks):
    while True:
        t = clocks.pop()
        if not math.isfinite(t):
            return
        yield env.timeout(t - env.now)
        job.process.interrupt(comp.value)


def run_horizon(scn: Scenario, days: float, seed: int = 0) -> HorizonResult:
    """Simulate ``days`` of training of ``scn`` with its failure, recovery and cost models.

    Deterministic for a given seed. ValueError for a non-positive horizon.
    """
    if not (days > 0 and math.isfinite(days)):
        raise ValueError(f"days({days}) must be a positive number")
    t0 = time.perf_counter()
    horizon = days * DAY_S
    nd = node(scn.system.node)
    nodes, gpus = scn.system.nodes, scn.system.nodes * nd.gpus_per_node
    costs = checkpoint_costs(
        scn.recovery, param_count(scn.model), gpus, nd.nic_bytes_per_s_per_node
    )
    rates = job_rates_per_s(scn.failures, nodes, nd.gpus_per_node)
    total_rate = sum(rates.values())
    mttf = math.inf if total_rate == 0 else 1.0 / total_rate
    env = simpy.Environment()
    daly = daly_interval_s(costs.stall_s, mttf) if math.isfinite(mttf) else horizon
    job = _Job(env, scn, costs, daly)
    rng = np.random.default_rng(seed)
    units = units_per_job(nodes, nd.gpus_per_node)
    for comp in Component:
        clocks = UnitClocks(units[comp], rates[comp] / units[comp], scn.failures, rng)
        env.process(_failure_source(env, job, comp, clocks))
    events = 0
    while env.peek() < horizon:
        env.step()
        events += 1
    env.run(until=horizon)
    job.close(horizon)
    res = _result(scn, job, costs, rates, horizon, mttf, time.perf_counter() - t0)
    res.simpy_events = events
    return res


def _result(scn, job, costs, rates, horizon, mttf, wall_clock) -> HorizonResult:
    nd = node(scn.system.node)
    it = job.full_iter_s
    tau = interval_iterations(job) * it
    total_rate = sum(rates.values())
    downtime = sum(
        r / total_rate * restart_downtime_s(scn.recovery, costs.load_s, c in NEEDS_NODE)
        for c, r in rates.items()
    ) if total_rate else 0.0  # fmt: skip
    expected = total_rate * horizon
    tokens_per_iter = scn.global_batch * scn.model.seq
    useful_tokens = job.useful / it * tokens_per_iter
    gpus = scn.system.nodes * nd.gpus_per_node
    cost = cost_of(
        scn.cost,
        gpu_name=nd.gpu.name,
        gpu_tdp_w=nd.gpu.power_w,
        gpus=gpus,
        nodes=scn.system.nodes,
        wall_s=horizon,
        useful_s=job.useful,
        tokens=useful_tokens,
    )
    comps = [c.value for c in Component]
    return HorizonResult(
        wall_s=horizon,
        iteration_s=it,
        tokens_per_iteration=tokens_per_iter,
        mttf_s=mttf,
        interval_s=tau,
        young_s=young_interval_s(costs.stall_s, mttf) if math.isfinite(mttf) else math.inf,
        daly_s=job.daly_s,
        checkpoint=costs,
        mean_downtime_s=downtime,
        useful_s=job.useful,
        checkpoint_s=job.ckpt,
        degraded_s=job.degraded,
        lost_s={c: job.lost.get(c, 0.0) for c in comps},
        downtime_s={c: job.down.get(c, 0.0) for c in comps},
        interruptions={c: job.count.get(c, 0) for c in comps},
        expected_interruptions=expected,
        interruption_interval=poisson_interval(expected) if expected > 0 else (0, 0),
        checkpoints_written=job.written,
        ettr=job.useful / horizon,
        ettr_first_order=first_order_ettr(tau, costs.stall_s, downtime, mttf, costs.commit_s),
        cost=cost,
        lost_per_failure_s=job.lost_log,
        interruption_log=job.log,
        wall_clock_s=wall_clock,
    )
