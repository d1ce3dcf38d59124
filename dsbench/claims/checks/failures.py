"""Checks answered by the long-horizon simulator: failures, recovery, balancing, autoscaling.

Seed 002 §2.3 describes an "elastic training" system — hierarchical aggregation, minute-level
recovery from checkpoints, Kubernetes autoscaling above 85% utilisation, effective training
time raised from 72% to 94% on 1000 nodes — and seed 000 §1.2 a dynamic load balancer worth
+40% throughput. Each number here comes from :mod:`simulators`: the SimPy horizon run with
failure processes (:mod:`simulators.horizon`), the gang-scheduling cluster with an
autoscaler (:mod:`simulators.autoscale`), the heterogeneous synchronous step
(:mod:`simulators.balance`) and the α–β aggregation costs (:mod:`simulators.aggregation`).
Scenarios: ``gpt3-1000n-baseline``, ``gpt3-1000n-elastic``, ``hier-agg-1.7b``.
Verdicts use the shared rules of :mod:`dsbench.claims.verdicts`; where a claim has no
baseline or workload the check sweeps the missing parameter and the verdict says over
which part of the sweep the claim holds.
"""

from __future__ import annotations

import statistics

from dsbench.claims.checks.analytic import figure
from dsbench.claims.checks.simulator import combine
from dsbench.claims.registry import CheckContext, check
from dsbench.claims.verdicts import (
    ANALYTIC,
    SEVERITY,
    Outcome,
    Tolerance,
    judge_reduction,
    judge_value,
)
from dsbench.core.results import Kind

SIM = Kind.SIMULATION
MIN = 60.0


# --- dynamic load balancing ------------------------------------------------------------------


def balance_sweep(quick: bool) -> tuple[dict[str, float], dict]:
    """Throughput gain (%) of dynamic over static splits on the default GPT-3 job (DP 125,
    16 sequences per replica), for persistent speed spreads and transient stragglers."""
    from simulators.balance import Heterogeneity, simulate_balance
    from simulators.engine import run
    from simulators.scenario import load_scenario

    step = run(load_scenario("default"))
    b = step.breakdown_s
    comm = b["dp_comm_exposed_s"] + b["optimizer_s"]  # does not shrink with a replica's share
    dp, batch = step.scenario.layout().dp, step.scenario.global_batch
    points = {f"spread_{s:g}": Heterogeneity(spread=s) for s in (0, 0.02, 0.05, 0.1, 0.2, 0.3)}
    points |= {f"stragglers_{p:g}": Heterogeneity(straggler_prob=p) for p in (0.01, 0.05)}
    steps = 100 if quick else 400
    gains = {
        k: 100 * simulate_balance(
            h, replicas=dp, batch=batch, compute_s=step.iteration_s - comm, comm_s=comm,
            steps=steps, seed=1,
        ).gain
        for k, h in points.items()
    }  # fmt: skip
    return gains, {"replicas": dp, "global_batch": batch, "comm_s": comm, "steps": steps}


@check("000-dynamic-lb-throughput-40pct")
def dynamic_load_balancing(ctx: CheckContext) -> Outcome:
    """Static equal split vs re-partitioning by last step's measured speed, synchronous DP."""
    claimed = figure(ctx.claim(), unit="%")
    gains, params = balance_sweep(ctx.quick)
    path = ctx.evidence(
        "dynamic-vs-static-balancing",
        {f"gain_{k}": (v, "%") for k, v in gains.items()},
        params,
        kind=SIM,
        model="simulators.balance.simulate_balance on the default scenario's step",
    )
    verdicts = [
        judge_reduction(claimed, g) if g <= 0 else judge_value(claimed, g, ">=", ANALYTIC)
        for g in gains.values()
    ]
    needed = next((k for k, g in gains.items() if k.startswith("spread") and g >= claimed), None)
    g = gains
    return Outcome(
        ctx.claim_ids[0],
        combine(verdicts),
        f"Synchronous DP on the default GPT-3 job (125 replicas x 16 sequences): balancing by "
        f"measured speed gains {g['spread_0']:+.0f}% on a homogeneous cluster, "
        f"{g['spread_0.02']:+.0f}% / {g['spread_0.05']:+.0f}% / {g['spread_0.1']:+.0f}% / "
        f"{g['spread_0.2']:+.0f}% for a persistent speed spread (CV) of 2/5/10/20%, and "
        f"{g['stragglers_0.05']:+.0f}% with 5% transient 2x stragglers, which last step's speed "
        f"cannot predict. +{claimed:g}% needs a spread of at least "
        f"{needed.removeprefix('spread_') if needed else '>0.3'} (slowest replicas well under "
        "0.7x the mean); the seed names no such cluster.",
        measured=gains["spread_0.05"],
        unit="%",
        evidence=(path,),
    )


# --- hierarchical aggregation ----------------------------------------------------------------


@check("002-hierarchical-agg-sync-60pct")
def hierarchical_aggregation(ctx: CheckContext) -> Outcome:
    """Flat vs hierarchical all-reduce vs two-level local SGD (global sync every 2.5 steps)
    on the ``hier-agg-1.7b`` scenario's gradients and DGX-A100 links."""
    from simulators.aggregation import aggregation_costs
    from simulators.engine import cluster_of, run
    from simulators.memory import params_per_gpu
    from simulators.scenario import apply_overrides, load_scenario

    claimed = figure(ctx.claim(), unit="%")
    every = 1 / (1 - claimed / 100)  # 60% fewer global syncs = one every 2.5 steps
    scn = load_scenario("hier-agg-1.7b")
    cl, nd = cluster_of(scn), cluster_of(scn).node
    n = scn.system.nodes
    size = params_per_gpu(scn.model, 1, 1) * scn.parallel.grad_bytes
    costs = aggregation_costs(
        size, nd.gpus_per_node, n, nd.intra_link.achievable_bytes_per_s, nd.intra_link.latency_s,
        cl.inter_node_bytes_per_s_per_gpu(n), cl.inter_node_latency_s(n), every,
    )  # fmt: skip
    steps = {
        alg: run(apply_overrides(scn, [f"parallel.dp_algorithm={alg}"]))
        for alg in ("ring", "hierarchical")
    }
    sync_cut = {k: 100 * (1 - c.global_syncs_per_step) for k, c in costs.items()}
    comm_cut = {k: 100 * (1 - c.comm_s / costs["flat"].comm_s) for k, c in costs.items()}
    path = ctx.evidence(
        "hierarchical-aggregation",
        {
            **{f"comm_{k}": (c.comm_s, "s") for k, c in costs.items()},
            **{f"global_sync_reduction_{k}": (v, "%") for k, v in sync_cut.items()},
            **{f"comm_reduction_{k}": (v, "%") for k, v in comm_cut.items()},
            **{f"step_{k}": (r.iteration_s, "s") for k, r in steps.items()},
        },
        {"scenario": "hier-agg-1.7b", "gradient_bytes": size, "sync_every_steps": every},
        kind=SIM,
        model="simulators.aggregation.aggregation_costs; simulators.engine.run",
    )
    verdict = combine(
        [
            judge_reduction(claimed, sync_cut["hierarchical"]),
            judge_reduction(claimed, sync_cut["two-level"]),
        ]
    )
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"Hierarchical all-reduce (NVLink reduce-scatter, inter-node all-reduce of 1/8, "
        f"all-gather) still synchronises globally every step: 0% fewer global syncs, and "
        f"{-comm_cut['hierarchical']:+.0f}% communication time against NCCL's flat ring for the "
        f"{size / 1e9:.1f} GB FP32 gradients on 16 DGX-A100 (the flat ring already streams "
        f"NVLink and all NICs at once). −{claimed:g}% global syncs means syncing every "
        f"{every:g} steps (hierarchical local SGD, intra-node all-reduce every step): "
        f"{-comm_cut['two-level']:+.0f}% communication time against the flat ring, "
        f"{100 * (costs['two-level'].comm_s / costs['hierarchical'].comm_s - 1):+.0f}% against "
        "hierarchical every step — and a different optimiser whose convergence the seed does "
        "not show.",
        measured=sync_cut["hierarchical"],
        unit="%",
        evidence=(path,),
    )


# --- recovery time and effective training time -----------------------------------------------


def horizon_runs(quick: bool) -> dict[tuple[str, str], list]:
    """(scenario, failure preset) -> HorizonResults of the 1000-node GPT-3 job."""
    from simulators.horizon import run_horizon
    from simulators.scenario import apply_overrides, load_scenario

    days, seeds = (30, [0]) if quick else (90, [0, 1, 2])
    out = {}
    for name in ("gpt3-1000n-baseline", "gpt3-1000n-elastic"):
        for preset in ("llama3-2024", "kokolis-2025"):
            scn = apply_overrides(load_scenario(name), [f"failures.preset={preset}"])
            out[(name, preset)] = [run_horizon(scn, days, seed=s) for s in seeds]
    return out


def _mean(runs: list, attr: str) -> float:
    return statistics.fmean(getattr(r, attr) for r in runs)


@check("002-fault-recovery-minutes")
def recovery_minutes(ctx: CheckContext) -> Outcome:
    """Downtime per interruption (detection, node, relaunch, checkpoint load, warm-up) of
    the conventional and the fault-tolerant 1000-node setups, against "minutes"."""
    from simulators.horizon import run_horizon
    from simulators.scenario import load_scenario

    runs = {
        n: run_horizon(load_scenario(n), 30, seed=0)
        for n in ("gpt3-1000n-baseline", "gpt3-1000n-elastic")
    }
    base, fast = runs["gpt3-1000n-baseline"], runs["gpt3-1000n-elastic"]
    r_min = fast.mean_downtime_s / MIN
    with_rework = (fast.mean_downtime_s + (fast.interval_s + fast.checkpoint.stall_s) / 2) / MIN
    path = ctx.evidence(
        "recovery-time",
        {
            "elastic_downtime": (r_min, "min"),
            "elastic_downtime_with_rework": (with_rework, "min"),
            "elastic_checkpoint_load": (fast.checkpoint.load_s, "s"),
            "baseline_downtime": (base.mean_downtime_s / MIN, "min"),
            "baseline_checkpoint_load": (base.checkpoint.load_s, "s"),
            "checkpoint_size": (base.checkpoint.size_bytes, "B"),
        },
        {"scenarios": list(runs), "days": 30},
        kind=SIM,
        model="simulators.recovery.restart_downtime_s weighted by failure cause",
    )
    # "minute-level": at least a minute and under ten (one order of magnitude); tens of
    # minutes (up to an hour) is partly, hours contradict it.
    order = Tolerance(support=ANALYTIC.support, partly=6.0)
    verdict = min(
        (judge_value(1.0, r_min, ">=", order), judge_value(10.0, r_min, "<", order)),
        key=SEVERITY.index,
    )
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"GPT-3 175B on 1000 DGX-A100: a {base.checkpoint.size_bytes / 1e12:.2f} TB checkpoint "
        f"(14 B/parameter). With in-memory peer checkpoints, 1-min detection and hot spares "
        f"a restart takes {r_min:.1f} min on average ({with_rework:.1f} min with the re-done "
        f"work); the conventional setup (file-system checkpoints, 10-min NCCL timeout, requeue) "
        f"takes {base.mean_downtime_s / MIN:.0f} min — published restart overheads are "
        "5-20 min (Kokolis et al. 2025). Minute-level recovery is reachable, not automatic.",
        measured=r_min,
        unit="min",
        evidence=(path,),
    )


@check("002-gpt3-1000-nodes-ettr-72-to-94")
def ettr_1000_nodes(ctx: CheckContext) -> Outcome:
    """30 (full: 90) days of the 1000-node job, conventional vs fault-tolerant recovery, at
    Llama 3 failure rates (and Kokolis et al.'s research-cluster rates as a sensitivity)."""
    claim = ctx.claim()
    before, after = figure(claim, "before", "%"), figure(claim, "after", "%")
    runs = horizon_runs(ctx.quick)
    ettr = {k: 100 * _mean(v, "ettr") for k, v in runs.items()}
    first = {k: 100 * _mean(v, "ettr_first_order") for k, v in runs.items()}
    metrics = {}
    for (name, preset), value in ettr.items():
        tag = f"{name.removeprefix('gpt3-1000n-')}_{preset}"
        metrics[f"ettr_{tag}"] = (value, "%")
        metrics[f"ettr_first_order_{tag}"] = (first[(name, preset)], "%")
        metrics[f"mttf_{tag}"] = (_mean(runs[(name, preset)], "mttf_s") / 3600, "h")
        metrics[f"interruptions_{tag}"] = (
            statistics.fmean(sum(r.interruptions.values()) for r in runs[(name, preset)]),
            "1",
        )
    path = ctx.evidence(
        "ettr-1000-nodes", metrics, {"runs": len(next(iter(runs.values())))}, kind=SIM,
        model="simulators.horizon.run_horizon",
    )  # fmt: skip
    b, e = ettr[("gpt3-1000n-baseline", "llama3-2024")], ettr[("gpt3-1000n-elastic", "llama3-2024")]
    kb = ettr[("gpt3-1000n-baseline", "kokolis-2025")]
    ke = ettr[("gpt3-1000n-elastic", "kokolis-2025")]
    in_repair = nodes_in_repair("gpt3-1000n-elastic", "kokolis-2025")
    verdict = combine([judge_value(before, b), judge_value(after, e)])
    fo = {k[0]: v for k, v in first.items() if k[1] == "llama3-2024"}
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"GPT-3 175B on 1000 x 8 A100 at Llama 3 failure rates (MTTF 6.3 h): hourly blocking "
        f"checkpoints to a file system with ~50-min restarts give {b:.1f}% effective training "
        f"time, in-memory checkpoints every 5 min with 16 hot spares and ~6-min restarts "
        f"{e:.1f}% (first-order formula: {fo['gpt3-1000n-baseline']:.1f}% and "
        f"{fo['gpt3-1000n-elastic']:.1f}%). At research-cluster rates (Kokolis 2025, MTTF 1 h) "
        f"the same setups give {kb:.0f}% and {ke:.0f}%: about {in_repair:.0f} nodes are in "
        f"repair at any time, more than the 16 spares, so the job waits for repairs. "
        f"{before:g}% -> {after:g}% is reproducible with such recovery parameters; the seed "
        "gives none, and the GPT-3 attribution is not sourced.",
        measured=e,
        unit="%",
        evidence=(path,),
    )


def nodes_in_repair(scenario: str, preset: str) -> float:
    """Little's law: node-losing failures per second × repair time."""
    from simulators.failures import NEEDS_NODE, job_rates_per_s
    from simulators.scenario import apply_overrides, load_scenario

    scn = apply_overrides(load_scenario(scenario), [f"failures.preset={preset}"])
    rates = job_rates_per_s(scn.failures, scn.system.nodes, scn.layout().gpus_per_node)
    return sum(r for c, r in rates.items() if c in NEEDS_NODE) * scn.recovery.repair_s


# --- autoscaling utilisation -----------------------------------------------------------------


def job_mixes():
    from simulators.autoscale import JobMix

    return [
        JobMix("one-node-1h", 30, (1,), 1.0),
        JobMix("mixed-1-16-nodes-2h", 6, (1, 2, 4, 8, 16), 2.0),
        JobMix("gang-64-128-nodes-12h", 0.5, (64, 128), 12.0),
        JobMix("bursty-8-nodes-15min", 20, (8,), 0.25, 1.5),
        JobMix("one-node-5min", 120, (1,), 5 / 60),
    ]


@check("002-k8s-util-85pct")
def autoscaling_utilisation(ctx: CheckContext) -> Outcome:
    """Node utilisation, day by day, of a cluster-autoscaler-managed cluster vs a fixed one
    sized for 70% load, over five job mixes (the seed names none)."""
    from simulators.autoscale import AutoscalerConfig, fixed_size_for_load, utilisation

    claimed = figure(ctx.claim(), unit="%")
    days = 3 if ctx.quick else 14
    auto, fixed = {}, {}
    for mix in job_mixes():
        auto[mix.name] = utilisation(mix, days=days, auto=AutoscalerConfig(), seed=1)
        fixed[mix.name] = utilisation(mix, days=days, nodes=fixed_size_for_load(mix, 0.7), seed=1)
    path = ctx.evidence(
        "autoscaling-utilisation",
        {
            **{f"auto_{k}": (100 * u.overall, "%") for k, u in auto.items()},
            **{f"auto_min_daily_{k}": (100 * min(u.daily), "%") for k, u in auto.items()},
            **{f"fixed_{k}": (100 * u.overall, "%") for k, u in fixed.items()},
        },
        {"days": days, "provision_s": 300, "scale_down_after_s": 600, "fixed_load": 0.7},
        kind=SIM,
        model="simulators.autoscale.utilisation",
    )
    lows = {k: 100 * min(u.daily) for k, u in auto.items()}
    verdict = combine(judge_value(claimed, v, ">", ANALYTIC) for v in lows.values())
    below = [f"{k} ({v:.0f}%)" for k, v in lows.items() if v < claimed]
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        "Gang-scheduled jobs, nodes booting in 5 min and removed after 10 idle min: the "
        "autoscaled cluster's lowest daily utilisation is "
        + ", ".join(f"{v:.0f}% ({k})" for k, v in lows.items())
        + f"; a fixed cluster sized for 70% load runs at "
        f"{min(100 * u.overall for u in fixed.values()):.0f}-"
        f"{max(100 * u.overall for u in fixed.values()):.0f}%. Utilisation falls as jobs get "
        f"short against boot and scale-down times: under {claimed:g}% for "
        f"{', '.join(below) or 'none of these mixes'} (verdicts use the 10% band). Utilisation "
        "here is node-time busy / node-time paid; the seed defines neither it nor the workload.",
        measured=statistics.median(lows.values()),
        unit="%",
        evidence=(path,),
    )
