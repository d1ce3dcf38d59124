"""Checks answered by the cluster simulator: collectives, overlap, layouts, published runs.

Every number here comes from :mod:`simulators` — the α–β collective costs, the SimPy
pipeline of :func:`simulators.engine.run`, the published tables of
:mod:`simulators.validation` — and is stored as a ``simulation`` record. Claimed figures are
read from the catalogue; verdicts come from the shared rules of
:mod:`dsbench.claims.verdicts`. Claims that state no figure ("reduces all-reduce overhead")
are judged as the rule for "any speed-up" or "hides all of it", stated where it is used.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

from dsbench.claims.checks.analytic import figure
from dsbench.claims.registry import CheckContext, check
from dsbench.claims.verdicts import (
    ANALYTIC,
    SEVERITY,
    Outcome,
    Verdict,
    judge_reduction,
    judge_speedup,
    judge_value,
)
from dsbench.core.results import Kind

SIM = Kind.SIMULATION
MB, GB = 1e6, 1e9
ANY_SPEEDUP_X = 1.0  # "reduces the overhead" with no figure: any speed-up > 1 supports it
HIDES_ALL_PCT = 100.0  # "hides communication" with no figure: all of it, exposed time -> 0


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """One verdict over several comparisons: a unanimous verdict stands; a mixture of
    supported, partly and contradicted (true at some sizes, false at others) is ``partly``."""
    found = set(verdicts)
    if len(found) == 1:
        return found.pop()
    if found <= {Verdict.SUPPORTED, Verdict.PARTLY, Verdict.CONTRADICTED}:
        return Verdict.PARTLY
    return min(found, key=SEVERITY.index)


def _dgx_links(nodes: int):
    """(g, intra B/s, intra α, inter B/s per GPU, inter α) of DGX-A100 nodes."""
    from simulators.hardware import ClusterSpec, node

    nd = node("dgx-a100")
    cl = ClusterSpec(nd, nodes)
    return (
        nd.gpus_per_node,
        nd.intra_link.achievable_bytes_per_s,
        nd.intra_link.latency_s,
        cl.inter_node_bytes_per_s_per_gpu(nodes),
        cl.inter_node_latency_s(nodes),
    )


# --- hierarchical all-reduce -----------------------------------------------------------------


@check("000-hierarchical-comm-nvlink-rdma")
def hierarchical_all_reduce(ctx: CheckContext) -> Outcome:
    """Flat NCCL-style ring over all GPUs vs NVLink reduce-scatter / RDMA all-reduce /
    NVLink all-gather, on DGX-A100 nodes, over a grid of node counts and message sizes."""
    from simulators import collectives as co

    nodes = [2, 8, 32, 128] if ctx.quick else [2, 4, 8, 16, 32, 64, 128]
    sizes = [1 * MB, 16 * MB, 256 * MB, 1 * GB]
    speedup = {}
    for n in nodes:
        for size in sizes:
            args = (size, n, *_dgx_links(n)[1:])
            g = _dgx_links(n)[0]
            flat = co.flat_ring_all_reduce_s(size, g, *args[1:])
            hier = co.hierarchical_all_reduce_s(size, g, *args[1:])
            speedup[(n, size)] = flat / hier
    median = statistics.median(speedup.values())
    wins = [k for k, v in speedup.items() if v > 1]
    path = ctx.evidence(
        "hierarchical-vs-flat-all-reduce",
        {
            **{f"speedup_{n}nodes_{s / MB:g}MB": (v, "x") for (n, s), v in speedup.items()},
            "median_speedup": (median, "x"),
        },
        {"node": "dgx-a100", "nodes": nodes, "sizes_bytes": sizes},
        kind=SIM,
        model="simulators.collectives: flat_ring_all_reduce_s vs hierarchical_all_reduce_s",
    )
    verdict = combine(judge_speedup(ANY_SPEEDUP_X, v, True, ANALYTIC) for v in speedup.values())
    small, big = speedup[(nodes[-1], sizes[0])], speedup[(nodes[1], sizes[-1])]
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"α–β model on DGX-A100 (NVLink3 in a node, 8x HDR between): hierarchical all-reduce is "
        f"faster at {len(wins)} of {len(speedup)} (nodes, size) points — {small:.1f}x for "
        f"{sizes[0] / MB:g} MB on {nodes[-1]} nodes, where the flat ring pays 2(8n−1) inter-node "
        f"α — but {big:.2f}x for {sizes[-1] / GB:g} GB on {nodes[1]} nodes, where NCCL's flat "
        "ring already streams NVLink and NIC together and the extra NVLink phases cost time; "
        "it reduces overhead for latency-bound messages only.",
        measured=median,
        unit="x",
        evidence=(path,),
    )


# --- gradient compression --------------------------------------------------------------------


@check("000-grad-compress-fp32-to-int8")
def int8_gradient_all_reduce(ctx: CheckContext) -> Outcome:
    """FP32 ring all-reduce vs INT8 with per-bucket scales, dequantise-add-requantise per hop
    and quantisation passes over HBM; plus one training step with and without it."""
    from simulators import collectives as co
    from simulators.hardware import node

    claim = ctx.claim()
    before, after = figure(claim, "before", "bits"), figure(claim, "after", "bits")
    volume_x = before / after
    hbm = node("dgx-a100").gpu.hbm_bandwidth_bytes_per_s
    speedup = {}
    for n in [2, 16, 128]:
        g, intra, _, inter, alpha = _dgx_links(n)
        bw = min(intra, g * inter)  # the flat ring's bus bandwidth, as in the simulator
        for size in (25 * MB, 1 * GB):
            fp32 = co.ring_all_reduce_s(size, g * n, bw, alpha)
            int8 = co.compressed_ring_all_reduce_s(size, g * n, bw, alpha, int(after), hbm)
            speedup[(n, size)] = fp32 / int8
    step = _dp_scenario_steps(
        ["parallel.dp_overlap=false"],
        {
            "fp32": [],
            "fp32_ring": ["parallel.dp_algorithm=ring"],
            "int8": [f"parallel.grad_compression_bits={int(after)}"],
        },
    )
    median = statistics.median(speedup.values())
    path = ctx.evidence(
        "int8-vs-fp32-all-reduce",
        {
            **{f"speedup_{n}nodes_{s / MB:g}MB": (v, "x") for (n, s), v in speedup.items()},
            "median_speedup": (median, "x"),
            "volume_ratio": (volume_x, "x"),
            **{f"dp_comm_{k}": (r.breakdown_s["dp_comm_exposed_s"], "s") for k, r in step.items()},
            **{f"iteration_{k}": (r.iteration_s, "s") for k, r in step.items()},
        },
        {"node": "dgx-a100", "scenario": "dp-1.7b-allreduce", "dp_overlap": False},
        kind=SIM,
    )
    dp32, ring32, dp8 = (
        step[k].breakdown_s["dp_comm_exposed_s"] * 1e3 for k in ("fp32", "fp32_ring", "int8")
    )
    return Outcome(
        ctx.claim_ids[0],
        judge_speedup(volume_x, median, True, ANALYTIC),
        f"{before:g}→{after:g} bits cuts the bytes {volume_x:g}x, but the all-reduce gets only "
        f"{min(speedup.values()):.2f}–{max(speedup.values()):.2f}x faster (median {median:.2f}x "
        "over 2–128 DGX-A100 nodes, 25 MB–1 GB): the α term does not shrink and every ring hop "
        f"dequantises, adds and requantises. In a 1.7B data-parallel step on 128 GPUs the "
        f"gradient all-reduce takes {dp8:.0f} ms in INT8 against {ring32:.0f} ms for an FP32 "
        f"ring and {dp32:.0f} ms for the FP32 tree NCCL would pick (an INT8 ring cannot use "
        "the tree's log-depth); error feedback is still needed for convergence.",
        measured=median,
        unit="x",
        evidence=(path,),
    )


def _dp_scenario_steps(common: list[str], variants: dict[str, list[str]]):
    """Run the ``dp-1.7b-allreduce`` scenario once per variant of overrides."""
    from simulators.engine import run
    from simulators.scenario import apply_overrides, load_scenario

    base = load_scenario("dp-1.7b-allreduce")
    return {k: run(apply_overrides(base, common + v)) for k, v in variants.items()}


# --- overlap of backward and gradient all-reduce --------------------------------------------


@check("000-overlap-comm-compute", "003-overlap-backward-allreduce")
def overlap_backward_all_reduce(ctx: CheckContext) -> list[Outcome]:
    """Exposed DP communication vs bucket size, with and without overlapping the backward."""
    buckets = (
        [0.25, 1, 5, 25, 100, 1000]
        if ctx.quick
        else [0.1, 0.25, 1, 2, 5, 10, 25, 50, 100, 250, 1000, 10000]
    )
    variants = {
        f"{b:g}MB-{mode}": [f"parallel.dp_bucket_mb={b}", f"parallel.dp_overlap={flag}"]
        for b in buckets
        for mode, flag in (("overlap", "true"), ("serial", "false"))
    }
    steps = _dp_scenario_steps([], variants)
    exposed = {k: r.breakdown_s["dp_comm_exposed_s"] for k, r in steps.items()}
    hidden = {
        b: 100 * (1 - exposed[f"{b:g}MB-overlap"] / exposed[f"{b:g}MB-serial"]) for b in buckets
    }
    default_mb = 25
    ref = steps[f"{default_mb}MB-overlap"]
    path = ctx.evidence(
        "dp-overlap-vs-bucket",
        {
            **{f"dp_exposed_{k}": (v, "s") for k, v in exposed.items()},
            **{f"hidden_{b:g}MB": (v, "%") for b, v in hidden.items()},
            "iteration_overlap": (ref.iteration_s, "s"),
            "iteration_serial": (steps[f"{default_mb}MB-serial"].iteration_s, "s"),
        },
        {"scenario": "dp-1.7b-allreduce", "buckets_mb": buckets},
        kind=SIM,
    )
    measured = hidden[default_mb]
    verdict = judge_reduction(HIDES_ALL_PCT, measured)
    lo, hi = buckets[0], buckets[-1]
    curve = (
        f"with {lo:g} MB buckets the per-bucket α leaves "
        f"{exposed[f'{lo:g}MB-overlap'] * 1e3:.0f} ms exposed and with "
        f"{hi:g} MB buckets {exposed[f'{hi:g}MB-overlap'] * 1e3:.0f} ms (the last bucket "
        "is ready only when the backward ends), so the bucket size matters and only "
        "backward compute can hide it"
    )
    serial_ms = exposed[f"{default_mb}MB-serial"] * 1e3
    overlap_ms = exposed[f"{default_mb}MB-overlap"] * 1e3
    return [
        Outcome(
            "000-overlap-comm-compute",
            verdict,
            f"1.7B model, data parallel over 128 A100s: with {default_mb} MB buckets "
            f"overlapping the backward pass {measured:.1f}% of the {serial_ms:.0f} ms gradient "
            f"all-reduce is hidden ({overlap_ms:.1f} ms exposed); {curve}.",
            measured=measured,
            unit="%",
            evidence=(path,),
        ),
        Outcome(
            "003-overlap-backward-allreduce",
            verdict,
            f"in the simulated step each {default_mb} MB bucket's all-reduce starts while the "
            f"backward pass continues, so {measured:.1f}% of the gradient aggregation runs in "
            f"parallel with it ({overlap_ms:.1f} of {serial_ms:.0f} ms remains after the last "
            f"backward); {curve}.",
            measured=measured,
            unit="%",
            evidence=(path,),
        ),
    ]


# --- which parallelism for which model size --------------------------------------------------

SIZE_GPUS_NODES = 32  # 256 A100-80GB: enough for a 310B model with ZeRO-1
SIZE_BATCH = 512  # sequences per iteration, the same for every layout
SIZE_PRESETS = (
    "megatron-1.7b",
    "megatron-3.6b",
    "megatron-7.5b",
    "megatron-18b",
    "megatron-39b",
    "megatron-76b",
    "megatron-145b",
    "megatron-310b",
)


def layout_family(tp: int, pp: int, dp: int) -> str:
    """The parallelism a layout uses: ``dp``, ``dp+tp``, ``dp+pp``, ``tp+pp`` or ``3d``."""
    if tp > 1 and pp > 1:
        return "3d" if dp > 1 else "tp+pp"
    if tp > 1:
        return "dp+tp"
    return "dp+pp" if pp > 1 else "dp"


def best_layout(preset: str, nodes: int = SIZE_GPUS_NODES, batch: int = SIZE_BATCH):
    """Fastest layout of a dense model that fits in 80 GB, over tp, pp and recomputation.

    Returns (tokens/s, family, overrides) of the winner, or None when nothing fits. Every
    layout runs the same global batch on the same GPUs, so fastest = cheapest per token.
    """
    from simulators.engine import check_fits, memory_of, run
    from simulators.scenario import apply_overrides, from_dict

    base = from_dict(
        {
            "model": {"preset": preset},
            "system": {"nodes": nodes},
            "parallel": {"tp": 1, "pp": 1, "micro_batches": batch // (nodes * 8)},
        },
        preset,
    )
    best = None
    for tp in (1, 2, 4, 8):
        for pp in (1, 2, 4, 8, 16):
            dp = nodes * 8 // (tp * pp)
            if base.model.layers % pp or batch % dp or base.model.heads % tp:
                continue
            for recompute in ("selective", "full"):
                sets = [
                    f"parallel.tp={tp}",
                    f"parallel.pp={pp}",
                    f"parallel.recompute={recompute}",
                    f"parallel.micro_batches={batch // dp}",
                    f"parallel.zero_stage={int(dp > 1)}",
                    f"parallel.sequence_parallel={'true' if tp > 1 else 'false'}",
                ]
                scn = apply_overrides(base, sets)
                try:
                    check_fits(scn, memory_of(scn))
                except ValueError:
                    continue
                tokens = run(scn).tokens_per_s
                if best is None or tokens > best[0]:
                    best = (tokens, layout_family(tp, pp, dp), sets)
                break  # selective fits: full recomputation can only be slower
    return best


@check("000-parallel-by-model-size")
def parallelism_by_model_size(ctx: CheckContext) -> Outcome:
    """The fastest layout on 256 A100-80GB for dense GPTs of 1.7B–310B, against the seed's rule.

    Each size band of the rule is judged by the share of its models whose fastest layout
    uses the parallelism the rule names (every one, ideally); the bands are then combined.
    """
    from simulators.model import model, param_count

    claim = ctx.claim()
    small, large = figure(claim, "below which"), figure(claim, "above which")
    rows = []
    for preset in SIZE_PRESETS:
        params = param_count(model(preset))
        # Above `large` the rule adds expert parallelism, which a dense model cannot use
        # (it has no experts): judge that band on the 3D layout the rule keeps.
        band = "small" if params < small else ("middle" if params <= large else "large")
        advised = {"small": "dp+tp", "middle": "3d", "large": "3d"}[band]
        tokens, family, sets = best_layout(preset)
        rows.append((preset, params, band, advised, family, tokens, sets))
    band_pct = {
        b: 100 * statistics.mean(r[3] == r[4] for r in rows if r[2] == b)
        for b in ("small", "middle", "large")
    }
    agree = 100 * statistics.mean(r[3] == r[4] for r in rows)
    path = ctx.evidence(
        "parallelism-by-model-size",
        {
            **{f"tokens_per_s_{r[0]}": (r[5], "tokens/s") for r in rows},
            **{f"rule_agreement_{b}": (v, "%") for b, v in band_pct.items()},
            "rule_agreement": (agree, "%"),
        },
        {"gpus": SIZE_GPUS_NODES * 8, "global_batch": SIZE_BATCH, "node": "dgx-a100"},
        kind=SIM,
        best={r[0]: {"family": r[4], "advised": r[3], "overrides": r[6]} for r in rows},
    )
    verdict = combine(judge_value(100.0, v, ">=") for v in band_pct.values())
    table = ", ".join(f"{r[1] / 1e9:.0f}B {r[4]}" for r in rows)
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"the fastest layout that fits in 80 GB on 256 A100s (batch {SIZE_BATCH}, ZeRO-1, "
        f"tp ≤ 8 inside a node) is: {table}; the rule names it for {agree:.0f}% of these models "
        f"({band_pct['small']:.0f}% below {small / 1e9:g}B, {band_pct['middle']:.0f}% in "
        f"{small / 1e9:g}–{large / 1e9:g}B, {band_pct['large']:.0f}% above). Small models need "
        "no tensor parallelism, 3D only pays near 100B, and above it a dense model needs 3D, "
        "not expert parallelism, which exists only for mixture-of-experts models.",
        measured=agree,
        unit="%",
        evidence=(path,),
    )


# --- GPT-3 175B with TP 8 x PP 8 against Korthikanti et al. 2022 ----------------------------


def korthikanti_175b() -> list[tuple[str, float, object]]:
    """(mode, published s, SimResult) for GPT-3 175B in Korthikanti et al. 2022 Table 5,
    run from the ``gpt3-175b-korthikanti`` scenario (seq-par + selective) and its full-
    recomputation variant."""
    from simulators.engine import run
    from simulators.scenario import apply_overrides, load_scenario
    from simulators.validation import read_table

    (row,) = [r for r in read_table("korthikanti_2022_table5") if r["model"] == "gpt3-175b"]
    scn = load_scenario("gpt3-175b-korthikanti")
    full = apply_overrides(scn, ["parallel.recompute=full", "parallel.sequence_parallel=false"])
    return [
        ("full", float(row["iter_time_full_recompute_s"]), run(full)),
        ("seqsel", float(row["iter_time_seqpar_selective_s"]), run(scn)),
    ]


def _korthikanti_evidence(ctx: CheckContext, runs) -> str:
    metrics = {}
    for mode, published, r in runs:
        metrics |= {
            f"iteration_{mode}": (r.iteration_s, "s"),
            f"published_{mode}": (published, "s"),
            f"tflops_per_gpu_{mode}": (r.tflops_per_gpu, "TFLOP/s"),
            f"mfu_{mode}": (100 * r.mfu, "%"),
            **{f"{k.removesuffix('_s')}_{mode}": (v, "s") for k, v in r.breakdown_s.items()},
        }
    return ctx.evidence(
        "gpt3-175b-tp8-pp8-korthikanti",
        metrics,
        {"scenario": "gpt3-175b-korthikanti", "gpus": 64, "batch": 64},
        kind=SIM,
        source="Korthikanti et al. 2022 (arXiv 2205.05198) Table 5",
    )


def _agreement(runs) -> Verdict:
    return combine(judge_value(pub, r.iteration_s, "=", ANALYTIC) for _, pub, r in runs)


@check("001-tp-pp-hundred-billion")
def tp_pp_hundred_billion(ctx: CheckContext) -> Outcome:
    """Does TP 8 x PP 8 train a >= 100B model as efficiently as the published run says?"""
    from simulators.model import model, param_count

    runs = korthikanti_175b()
    path = _korthikanti_evidence(ctx, runs)
    params = param_count(model("gpt3-175b"))
    claimed = figure(ctx.claim(), "model size")
    verdict = combine([_agreement(runs), judge_value(claimed, params, ">=")])
    (_, pub_f, full), (_, pub_s, sel) = runs
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"GPT-3 ({params / 1e9:.1f}B) with TP 8 × PP 8 on 64 A100-80GB, batch 64: the simulator "
        f"gives {full.iteration_s:.2f} s per iteration with full recomputation (published "
        f"{pub_f:g} s) and {sel.iteration_s:.2f} s with sequence parallelism + selective "
        f"recomputation (published {pub_s:g} s), i.e. {sel.tflops_per_gpu:.0f} TFLOP/s per GPU, "
        f"MFU {sel.mfu:.0%}: the layout does train a hundred-billion model efficiently.",
        measured=params,
        unit="params",
        evidence=(path,),
    )


@check("003-hybrid-dp-tp-pp-175b")
def hybrid_175b(ctx: CheckContext) -> Outcome:
    """The same published run, read for what the claim says about communication and pipelining."""
    from simulators.model import model, param_count

    runs = korthikanti_175b()
    path = _korthikanti_evidence(ctx, runs)
    params = param_count(model("gpt3-175b"))
    verdict = combine([_agreement(runs), judge_value(figure(ctx.claim(), "parameters"), params)])
    _, pub, sel = runs[1]
    b = sel.breakdown_s
    comm = b["tp_comm_s"] + b["pp_comm_s"] + b["dp_comm_exposed_s"]
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"TP 8 (inside a node) × PP 8 for {params / 1e9:.1f}B parameters reproduces Korthikanti "
        f"2022 ({sel.iteration_s:.2f} s simulated vs {pub:g} s published). Communication is "
        f"reduced, not removed: {comm:.2f} s ({comm / sel.iteration_s:.0%}) of the step is "
        f"exposed TP/PP communication; and the 1F1B pipeline is synchronous, not asynchronous — "
        f"it flushes every iteration and idles {b['bubble_s']:.2f} s "
        f"({b['bubble_s'] / sel.iteration_s:.0%}) in its bubble.",
        measured=params,
        unit="params",
        evidence=(path,),
    )


# --- gossip -----------------------------------------------------------------------------------

GOSSIP_EPSILON = 1e-3  # consensus error contracted 1000x: parameters agree to 0.1%
GOSSIP_GRAPHS = ("ring", "exponential", "complete")


def sync_times(size_bytes: float, n: int, epsilon: float = GOSSIP_EPSILON) -> dict[str, float]:
    """Seconds to synchronise ``size_bytes`` of parameters across ``n`` DGX-A100 nodes (one
    model replica per node, the node's NICs as one link): gossip to ε-consensus on each
    graph, one inexact gossip round on the exponential graph, a single and a sharded
    parameter server (push + pull), ring and tree all-reduce."""
    from simulators import collectives as co
    from simulators.hardware import node

    nd = node("dgx-a100")
    bw, alpha = nd.nic_bytes_per_s_per_node * nd.nic.efficiency, nd.nic.latency_s
    out = {
        f"gossip_{g}": co.gossip_consensus_s(size_bytes, n, g, bw, alpha, epsilon)
        for g in GOSSIP_GRAPHS
    }
    out["gossip_one_round"] = co.gossip_round_s(
        size_bytes, co.gossip_degree("exponential", n), bw, alpha
    )
    out["ps_single"] = co.parameter_server_s(size_bytes, n, bw, bw, alpha)
    out["ps_sharded"] = co.parameter_server_s(size_bytes, n, bw, bw, alpha, servers=n)
    out["ring_all_reduce"] = co.ring_all_reduce_s(size_bytes, n, bw, alpha)
    out["tree_all_reduce"] = co.tree_all_reduce_s(size_bytes, n, bw, alpha)
    return out


def _gossip_evidence(ctx: CheckContext, name: str, times: dict, n: int, size: float) -> str:
    from simulators import collectives as co

    gaps = {g: co.spectral_gap(co.mixing_matrix(g, n)) for g in GOSSIP_GRAPHS}
    rounds = {
        g: co.gossip_rounds_to_consensus(co.mixing_matrix(g, n), GOSSIP_EPSILON)
        for g in GOSSIP_GRAPHS
    }
    return ctx.evidence(
        name,
        {
            **{f"{k}_time": (v, "s") for k, v in times.items()},
            **{f"spectral_gap_{g}": (v, "1") for g, v in gaps.items()},
            **{f"rounds_{g}": (v, "rounds") for g, v in rounds.items()},
        },
        {"nodes": n, "size_bytes": size, "epsilon": GOSSIP_EPSILON, "node": "dgx-a100"},
        kind=SIM,
        model="simulators.collectives gossip/parameter-server/all-reduce α–β costs",
    )


@check("002-gossip-ms-to-us")
def gossip_latency(ctx: CheckContext) -> Outcome:
    """Per-message latency is the link's α for any protocol; what gossip changes is how many
    messages and rounds it takes to agree. Synchronise a 1 KB message across 100 nodes."""
    from simulators.hardware import LINKS

    claim = ctx.claim()
    n = int(figure_of("002-gossip-2.4x-100-nodes", "cluster size"))
    before_s = figure(claim, "before") * 1e-3  # ms
    after_s = figure(claim, "after") * 1e-6  # us
    size = 1e3
    times = sync_times(size, n)
    best = min(v for k, v in times.items() if k.startswith("gossip_") and k != "gossip_one_round")
    path = _gossip_evidence(ctx, "gossip-latency-1kB", times, n, size)
    claimed_pct = 100 * (1 - after_s / before_s)
    # the RPC baseline on the same network: a parameter-server push + pull
    measured_pct = 100 * (1 - best / times["ps_single"])
    alphas = ", ".join(
        f"{k} {v.latency_s * 1e6:g} µs" for k, v in LINKS.items() if v.kind == "inter"
    )
    return Outcome(
        ctx.claim_ids[0],
        judge_reduction(claimed_pct, measured_pct),
        f"one message costs the link's α whoever sends it ({alphas}); gossip only changes who "
        f"talks to whom. Averaging 1 KB across {n} nodes to ε = {GOSSIP_EPSILON:g} takes "
        f"{best * 1e6:.0f} µs on the best graph, against {times['ps_single'] * 1e6:.0f} µs for "
        f"an RPC parameter-server push + pull and {times['tree_all_reduce'] * 1e6:.0f} µs for a "
        "tree all-reduce on the same network: gossip is slower, and ms → µs is the difference "
        "between TCP and RDMA transports, not a protocol.",
        measured=best * 1e6,
        unit="us",
        evidence=(path,),
    )


def figure_of(claim_id: str, contains: str) -> float:
    """A figure of another claim of the same seed passage (the cluster it talks about)."""
    from dsbench.claims.catalogue import get_claim

    return figure(get_claim(claim_id), contains)


@check("002-gossip-2.4x-100-nodes")
def gossip_vs_rpc(ctx: CheckContext) -> Outcome:
    """Gossip vs an RPC parameter server vs all-reduce on 100 nodes, 100 MB–10 GB."""
    claim = ctx.claim()
    claimed_x, n = figure(claim, "efficiency"), int(figure(claim, "cluster size"))
    sizes = [100 * MB, 1 * GB] if ctx.quick else [100 * MB, 1 * GB, 10 * GB]
    per_size = {s: sync_times(s, n) for s in sizes}
    size = 1 * GB
    t = per_size[size]
    gossip = min(t[f"gossip_{g}"] for g in GOSSIP_GRAPHS)
    best_graph = min(GOSSIP_GRAPHS, key=lambda g: t[f"gossip_{g}"])
    vs = {k: t[k] / gossip for k in ("ps_single", "ps_sharded", "ring_all_reduce")}
    one_round_x = t["ps_single"] / t["gossip_one_round"]
    path = _gossip_evidence(ctx, "gossip-vs-rpc-100-nodes", t, n, size)
    ctx.evidence(
        "gossip-vs-rpc-sizes",
        {
            f"speedup_vs_ps_single_{s / MB:g}MB": (
                ts["ps_single"] / min(ts[f"gossip_{g}"] for g in GOSSIP_GRAPHS),
                "x",
            )
            for s, ts in per_size.items()
        },
        {"nodes": n, "epsilon": GOSSIP_EPSILON},
        kind=SIM,
    )
    return Outcome(
        ctx.claim_ids[0],
        judge_speedup(claimed_x, vs["ps_single"], True, ANALYTIC),
        f"'efficiency' and 'RPC framework' are undefined, so every reading is computed for "
        f"1 GB on {n} nodes: gossip averaging to ε = {GOSSIP_EPSILON:g} (best graph: "
        f"{best_graph}) is {vs['ps_single']:.2f}x a single-server RPC parameter server, "
        f"{vs['ps_sharded']:.3f}x a sharded one and {vs['ring_all_reduce']:.3f}x ring "
        f"all-reduce; only one inexact gossip round ({one_round_x:.1f}x the single server) "
        f"beats {claimed_x:g}x, and it leaves the replicas unequal. The verdict uses the most "
        "favourable exact reading, the single server.",
        measured=vs["ps_single"],
        unit="x",
        evidence=(path,),
    )


# --- 92% of NIC bandwidth on p4d ------------------------------------------------------------


def p4d_nic_utilisation(size_bytes: float, nodes: int, ideal: bool = False) -> float:
    """Fraction of a p4d.24xlarge node's EFA line rate (4 x 100 Gb/s) that the inter-node
    phase of a hierarchical all-reduce uses: 2(n−1)/n·N bytes leave each node while the 8
    per-GPU rings run. ``ideal``: links at line rate instead of the table's efficiency."""
    from simulators import collectives as co
    from simulators.hardware import ClusterSpec, node

    nd = node("p4d.24xlarge")
    cl = ClusterSpec(nd, nodes)
    g = nd.gpus_per_node
    bw = nd.nic_bytes_per_s_per_gpu if ideal else cl.inter_node_bytes_per_s_per_gpu(nodes)
    t = co.ring_all_reduce_s(size_bytes / g, nodes, bw, cl.inter_node_latency_s(nodes))
    return 2 * (nodes - 1) / nodes * size_bytes / t / nd.nic_bytes_per_s_per_node


@check("003-topology-aware-92pct-nic")
def p4d_nic_bandwidth(ctx: CheckContext) -> Outcome:
    """The α–β bound on EFA utilisation for NVLink-then-EFA routing on p4d, and a 3D step."""
    from simulators.engine import run
    from simulators.scenario import load_scenario

    claimed = figure(ctx.claim(), unit="%")
    nodes = [2, 16, 128]
    util = {(n, s): 100 * p4d_nic_utilisation(s, n) for n in nodes for s in (25 * MB, 1 * GB)}
    ideal = 100 * p4d_nic_utilisation(1 * GB, 16, ideal=True)
    step = run(load_scenario("p4d-gpt3-3d"))
    path = ctx.evidence(
        "p4d-efa-utilisation",
        {
            **{f"nic_utilisation_{n}nodes_{s / MB:g}MB": (v, "%") for (n, s), v in util.items()},
            "nic_utilisation_ideal_links_16nodes_1GB": (ideal, "%"),
            "p4d_gpt3_iteration": (step.iteration_s, "s"),
            "p4d_gpt3_dp_comm_exposed": (step.breakdown_s["dp_comm_exposed_s"], "s"),
        },
        {"node": "p4d.24xlarge", "routing": "hierarchical (NVLink, then EFA per GPU)"},
        kind=SIM,
    )
    predicted = util[(16, 1 * GB)]
    return Outcome(
        ctx.claim_ids[0],
        Verdict.NEEDS_DATA,
        f"on p4d.24xlarge (4 × 100 Gb/s EFA = 50 GB/s per node) the α–β model of NVLink-then-EFA "
        f"routing uses {predicted:.0f}% of the EFA line rate for a 1 GB all-reduce on 16 nodes "
        f"({util[(2, 25 * MB)]:.0f}% for 25 MB on 2 nodes) with the efficiency nccl-tests "
        f"reaches, and at most {ideal:.0f}% on ideal links; {claimed:g}% sits between and only "
        "a measurement on the cluster can say which.",
        measured=predicted,
        unit="%",
        evidence=(path,),
        prediction=f"{predicted:.0f}% of EFA line rate (1 GB, 16 nodes, table efficiency); "
        f"bound {ideal:.0f}% on ideal links",
        missing="nccl-tests all_reduce_perf bus bandwidth on a multi-node p4d.24xlarge "
        "cluster with the seed's topology-aware routing",
    )
