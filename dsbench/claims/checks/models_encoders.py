"""Checks for the knowledge-graph and multimodal claims, from encoders built and trained here.

Sizes come from the shared :class:`~dsbench.claims.checks.models.Scale` of the model checks.

* ``000-kg-10k-latency-200ms`` — the seed's relation loop and the batched forms, timed at
  10K entities with the workbench timer.
* ``001-dynamic-modality-weights`` — the seed's constant table vs a learned softmax gate.
* ``004-multimodal-512d-contrastive`` — the seed's ``CosineEmbeddingLoss`` vs CLIP's InfoNCE.
"""

from __future__ import annotations

import warnings

from dsbench.claims.checks.models import one_thread, scale, time_s
from dsbench.claims.registry import CheckContext, check
from dsbench.claims.verdicts import MEASURED, Outcome, Verdict, judge_value
from dsbench.core.results import Kind

# --- knowledge graph ----------------------------------------------------------------------


@check("000-kg-10k-latency-200ms")
def kg_latency(ctx: CheckContext) -> Outcome:
    from workloads.kg import kg_latency as run

    timer = lambda fn: time_s(fn, ctx).median_s  # noqa: E731
    grid = list(scale(ctx).kg_grid)
    with warnings.catch_warnings():  # the seed's `tail_emb.T` on a 1-D tensor warns
        warnings.simplefilter("ignore", UserWarning)
        rows = [r for d, n_rel in grid for r in run(10_000, d, n_rel, timer=timer)]
    worst = max(
        (r for r in rows if r["operation"] == "all-tails-all-relations"),
        key=lambda r: r["latency_s"],
    )
    by_op = {(r["operation"], r["dim"], r["n_relations"]): r["latency_s"] for r in rows}
    path = ctx.evidence(
        "kg-latency-10k",
        {f"{op}_d{d}_r{r}": (v * 1e3, "ms") for (op, d, r), v in by_op.items()},
        {"n_entities": 10_000, "grid": grid, "device": "cpu"},
        kind=Kind.MEASUREMENT,
    )
    ms = worst["latency_s"] * 1e3
    seed_all = by_op[("seed-loop-all-tails-est", worst["dim"], worst["n_relations"])] * 1e3
    seed_pair = by_op[("seed-loop", worst["dim"], worst["n_relations"])] * 1e3
    return Outcome(
        ctx.claim_ids[0],
        judge_value(200.0, ms, "<", MEASURED),
        f"On this CPU, scoring one head against all 10,000 entities under all "
        f"{worst['n_relations']} relations (d={worst['dim']}, one batched matmul) takes "
        f"{ms:.1f} ms; the seed's per-relation loop with .item() takes {seed_pair:.2f} ms for "
        f"one pair, and applied to every tail it would take ~{seed_all / 1e3:.1f} s. "
        "Bilinear scoring is far under 200 ms at this size when batched, so the claim holds but "
        "says little: 'inference' on the graph is not defined beyond scoring.",
        measured=ms,
        unit="ms",
        evidence=(path,),
    )


# --- multimodal ---------------------------------------------------------------------------


@check("001-dynamic-modality-weights")
@one_thread
def modality_weights(ctx: CheckContext) -> Outcome:
    from workloads.multimodal import modality_weight_experiment

    rows = {r["fusion"]: r for r in modality_weight_experiment(scale(ctx).modality_steps)}
    table, gate = rows["seed-constant-table"], rows["learned-gate"]
    path = ctx.evidence(
        "modality-weights",
        {
            "table_accuracy": (table["accuracy"], "1"),
            "gate_accuracy": (gate["accuracy"], "1"),
            "table_weight_std_across_inputs": (table["weight_std_across_inputs"], "1"),
            "gate_weight_std_across_inputs": (gate["weight_std_across_inputs"], "1"),
            "gate_weight_on_informative": (gate["mean_weight_on_informative"], "1"),
            "seed_table_sum_with_default": (table["seed_table_sum_with_default"], "1"),
        },
        {"task": "10 classes; per example one of text/image/audio is clean, the others noised"},
        kind=Kind.MEASUREMENT,
    )
    static = table["weight_std_across_inputs"] < 1e-9
    dynamic_works = gate["weight_std_across_inputs"] > 0.01 and gate["accuracy"] > table["accuracy"]
    verdict = Verdict.CONTRADICTED if static else Verdict.PARTLY
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"The seed's weights are a table lookup: across inputs they vary by "
        f"{table['weight_std_across_inputs']:.3f} (not dynamic), and with the 0.5 default for a "
        f"fourth modality they sum to {table['seed_table_sum_with_default']:.1f}, not 1. On a "
        f"task where the informative modality changes per example, that table reaches "
        f"{table['accuracy']:.0%} accuracy; a learned softmax gate over modalities reaches "
        f"{gate['accuracy']:.0%}, its weights vary by {gate['weight_std_across_inputs']:.3f} "
        f"across inputs and put {gate['mean_weight_on_informative']:.2f} on the informative one"
        + (
            " — dynamic weighting works when learned, not as the seed codes it."
            if dynamic_works
            else "."
        ),
        measured=table["weight_std_across_inputs"],
        unit="std of weights across inputs",
        evidence=(path,),
    )


@check("004-multimodal-512d-contrastive")
@one_thread
def contrastive(ctx: CheckContext) -> Outcome:
    import torch

    from workloads.multimodal import (
        Objective,
        make_paired_data,
        run_seed_encoder,
        train_contrastive,
    )

    error = run_seed_encoder()
    data = make_paired_data(noise=4.0)
    steps, batch = scale(ctx).contrastive_steps, scale(ctx).contrastive_batch
    rows = {
        o.value: train_contrastive(o, steps=steps, batch=batch, data=data, n_eval=500)
        for o in Objective
    }
    nce, cos = rows["infonce"], rows["seed-cosine"]
    # the collapsed solution: every input mapped to the same unit vector
    const = torch.nn.functional.normalize(torch.ones(8, 512), dim=-1)
    collapsed_loss = float(torch.nn.CosineEmbeddingLoss()(const, const, torch.ones(1)))
    path = ctx.evidence(
        "contrastive-objectives",
        {
            "infonce_recall_at_1": (nce["recall_at_1"], "1"),
            "seed_cosine_recall_at_1": (cos["recall_at_1"], "1"),
            "seed_cosine_final_loss": (cos["final_loss"], "1"),
            "collapsed_solution_seed_loss": (collapsed_loss, "1"),
            "chance_recall_at_1": (nce["chance_recall_at_1"], "1"),
            "seed_cosine_offdiag_cosine": (cos["text_offdiag_cosine"], "1"),
        },
        {"steps": steps, "batch": batch, "noise": 4.0, "d_shared": 512},
        kind=Kind.MEASUREMENT,
        seed_encoder_error=error,
        rows=list(rows.values()),
    )
    collapse_optimal = collapsed_loss <= cos["final_loss"]
    return Outcome(
        ctx.claim_ids[0],
        Verdict.CONTRADICTED if (collapse_optimal or error) else Verdict.PARTLY,
        f"The seed's MultimodalEncoder cannot be built ({error or 'it builds'}). Fixed and "
        f"trained on paired synthetic 768-d text / 2048-d image features ({steps} steps), its "
        f"CosineEmbeddingLoss(target=1) reaches loss {cos['final_loss']:.3f} and recall@1 "
        f"{cos['recall_at_1']:.1%}; CLIP's symmetric InfoNCE on the same data reaches recall@1 "
        f"{nce['recall_at_1']:.1%} (chance {nce['chance_recall_at_1']:.1%}). Mapping everything "
        f"to one vector scores the seed's loss {collapsed_loss:.3f} — lower than training "
        "reached — with chance retrieval: a positives-only loss has a collapsed global "
        "optimum, so it does not define a shared space; that short training from a random "
        "start has not fallen into it says nothing about longer runs. The 512-d projections "
        "are fine; the objective is not contrastive.",
        measured=cos["recall_at_1"],
        unit="recall@1 (seed objective)",
        evidence=(path,),
    )
