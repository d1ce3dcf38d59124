"""Claims that no local run can settle: not checkable as stated, or needing outside data.

For these the honest verdict is ``vague`` (say why) or ``needs-data`` (name exactly what is
missing). What *can* be computed is computed and stored: whether the claim states any
figure or baseline at all, whether the same figure appears elsewhere in the seeds for a
different quantity, and how the seed's description of "DeepSeek" compares with the
components DeepSeek's own technical reports and open-source releases describe.
"""

from __future__ import annotations

from dataclasses import dataclass

from dsbench.claims.catalogue import Claim, load_catalogue
from dsbench.claims.registry import CheckContext, check
from dsbench.claims.verdicts import Outcome, Verdict

# Components named by DeepSeek's technical reports and releases: DeepSeek-V2 (arXiv:2405.04434),
# DeepSeek-V3 (arXiv:2412.19437), DeepSeekMath (arXiv:2402.03300), DeepSeek-R1
# (arXiv:2501.12948), and the February 2025 open-source week repositories.
DEEPSEEK_PUBLISHED = {
    "multi-head latent attention (MLA)",
    "DeepSeekMoE fine-grained + shared experts",
    "auxiliary-loss-free load balancing",
    "multi-token prediction",
    "FP8 mixed-precision training",
    "DualPipe pipeline schedule",
    "GRPO reinforcement learning",
    "FlashMLA kernels",
    "DeepEP expert-parallel communication",
    "DeepGEMM FP8 GEMM",
    "EPLB expert load balancer",
    "3FS distributed file system",
    "native sparse attention (NSA)",
}
# What seed 000 presents as DeepSeek's breakthroughs (intro, §1-§2, closing remarks).
SEED_000_COMPONENTS = {
    "hybrid CPU-GPU compute architecture",
    "three-level GPU/CPU/disk memory hierarchy",
    "sliding-window attention",
    "sparse query attention",
    "memory-augmented attention",
    "dynamic load balancing by GPU utilisation",
}


def same_figure_elsewhere(claim: Claim) -> list[str]:
    """Other claims stating one of this claim's distinctive figures (same value and unit).

    Only non-integer values count (92.3%, 7.1 points): round numbers like 60% recur by
    coincidence, a figure like 92.3% does not.
    """
    mine = {(f.value, f.unit) for f in claim.figures if f.value != int(f.value)}
    return [
        other.id
        for other in load_catalogue()
        if other.id != claim.id and any((f.value, f.unit) in mine for f in other.figures)
    ]


def _figures_note(claim: Claim) -> str:
    if not claim.figures:
        return "It states no figure."
    texts = ", ".join(dict.fromkeys(f.text for f in claim.figures))
    return f"Its figures ({texts}) have no stated baseline, model or dataset."


@check("000-deepseek-search-framework", "000-industry-benchmark")
def deepseek_components(ctx: CheckContext) -> list[Outcome]:
    overlap = sorted(SEED_000_COMPONENTS & DEEPSEEK_PUBLISHED)
    path = ctx.evidence(
        "seed-000-vs-deepseek-publications",
        {
            "seed_components": (len(SEED_000_COMPONENTS), "count"),
            "published_components": (len(DEEPSEEK_PUBLISHED), "count"),
            "overlap": (len(overlap), "count"),
        },
        {},
        seed=sorted(SEED_000_COMPONENTS),
        published=sorted(DEEPSEEK_PUBLISHED),
    )
    verdict = Verdict.CONTRADICTED if not overlap else Verdict.PARTLY
    described = (
        f"{len(overlap)} of the seed's {len(SEED_000_COMPONENTS)} 'breakthroughs' appear "
        f"among the {len(DEEPSEEK_PUBLISHED)} components of DeepSeek's V2/V3/Math/R1 "
        "reports and open-source releases"
    )
    return [
        Outcome(
            "000-deepseek-search-framework",
            verdict,
            f"DeepSeek is an LLM family, not a search framework; {described} (MLA, "
            "DeepSeekMoE, MTP, FP8 training, DualPipe, GRPO…).",
            measured=len(overlap),
            unit="components in common",
            evidence=(path,),
        ),
        Outcome(
            "000-industry-benchmark",
            verdict,
            f"no DeepSeek release implements the hybrid CPU-GPU architecture or the dynamic "
            f"attention variants: {described}. The 'industry benchmark' part states no "
            "measure.",
            measured=len(overlap),
            unit="components in common",
            evidence=(path,),
        ),
    ]


@dataclass(frozen=True)
class Unverifiable:
    verdict: Verdict
    reason: str
    missing: str | None = None


UNVERIFIABLE: dict[str, Unverifiable] = {
    "000-kg-ner-92.3pct-bert-plus-7.1": Unverifiable(
        Verdict.NEEDS_DATA,
        "the seed names no dataset, and its code scores relations, not entities",
        "a named NER benchmark (e.g. CoNLL-2003) with the seed's model and a BERT baseline",
    ),
    "000-kg-train-cost-60pct": Unverifiable(
        Verdict.VAGUE, "no baseline, model or definition of cost is given"
    ),
    "001-low-resource-requirements": Unverifiable(
        Verdict.VAGUE, "marketing language: no resource figure and no baseline to compare with"
    ),
    "001-layered-modular-architecture": Unverifiable(
        Verdict.VAGUE,
        "it describes every Transformer; nothing DeepSeek-specific (MLA, "
        "DeepSeekMoE, MTP) and no cost figure",
    ),
    "001-few-shot-10-20-samples": Unverifiable(
        Verdict.NEEDS_DATA,
        "'high quality' is undefined and no evaluation is named",
        "an instruction-tuned LLM available offline and a customer-service evaluation set "
        "with an FAQ knowledge base",
    ),
    "001-style-prompt-length": Unverifiable(
        Verdict.NEEDS_DATA,
        "generic instruction-following behaviour with no length figure or model",
        "an instruction-tuned LM available offline and a summarisation set",
    ),
    "001-code-context-static-analysis": Unverifiable(
        Verdict.VAGUE, "a generic capability with no metric"
    ),
    "002-yolov5-map-plus-2.1": Unverifiable(
        Verdict.NEEDS_DATA,
        "no change to the model or recipe is named that would raise accuracy",
        "COCO 2017 and YOLOv5 training runs (GPU-days) with and without the unnamed change",
    ),
    "002-mt-32-pairs-zero-shot": Unverifiable(
        Verdict.VAGUE, "the 32 language pairs are not named and no quality figure is given"
    ),
    "002-wmt14-ende-bleu-30.2": Unverifiable(
        Verdict.NEEDS_DATA,
        "BLEU 30.2 sits inside the published range (Transformer-big 28.4, "
        "Vaswani et al. 2017; 29.3 with larger batches, Ott et al. 2018; 35.0 with "
        "back-translation, Edunov et al. 2018), but no model or setup is given",
        "WMT14 En→De newstest2014, a trained translation model and sacreBLEU",
    ),
    "002-rec-recall-plus-18pct": Unverifiable(
        Verdict.VAGUE, "no baseline, dataset or recall cut-off (recall@k) is given"
    ),
    "002-model-market-200": Unverifiable(
        Verdict.VAGUE, "an unverifiable product claim; no such DeepSeek model market is public"
    ),
    "002-dev-cost-60pct": Unverifiable(Verdict.VAGUE, "no baseline or cost model is given"),
    "003-summary-train-2.8x": Unverifiable(
        Verdict.VAGUE,
        "no baseline configuration is given; gains of recomputation, overlap, "
        "compression and mixed precision compose differently per baseline",
    ),
    "003-summary-infer-latency-62pct": Unverifiable(
        Verdict.VAGUE, "no model, hardware or baseline is given"
    ),
    "004-vqa-92.3pct": Unverifiable(
        Verdict.NEEDS_DATA,
        "92.3% is above the best published VQAv2 scores (about 84–86%: "
        "BEiT-3, PaLI, PaLI-X), and the benchmark is not named",
        "a VQA model and a named benchmark (e.g. VQAv2 test-dev) with its evaluation server",
    ),
    "004-dynamic-graph-3d-or-distilled": Unverifiable(
        Verdict.VAGUE, "switching to a distilled model is a different model, not a graph rewrite"
    ),
    "004-ppo-parameter-efficiency": Unverifiable(
        Verdict.VAGUE,
        "RL fine-tuning does not change the parameter count, and 'parameter "
        "efficiency' is undefined",
    ),
    "004-code-pass-68-to-89": Unverifiable(
        Verdict.NEEDS_DATA,
        "the benchmark and model are not named",
        "a code benchmark with execution-based scoring (e.g. HumanEval pass@1) and the model "
        "before and after the unnamed change",
    ),
    "004-adaptive-engine-cpu-qat": Unverifiable(
        Verdict.VAGUE,
        "quantisation-aware training is a training procedure; a CPU inference path "
        "runs an already-quantised model (post-training or dynamic quantisation)",
    ),
    "004-int8-finance-dynamic-multimodal": Unverifiable(
        Verdict.VAGUE, "generic advice with nothing measurable attached"
    ),
    "003-triton-config": None,  # checked below against Triton's schema
}
del UNVERIFIABLE["003-triton-config"]


def _unverifiable_check(claim_id: str, entry: Unverifiable):
    def run(ctx: CheckContext) -> Outcome:
        claim = ctx.claim()
        twins = same_figure_elsewhere(claim)
        twin_note = f" The same figure also appears in {', '.join(twins)}." if twins else ""
        path = ctx.evidence(
            "claim-checkability",
            {
                "figures": (len(claim.figures), "count"),
                "same_figure_elsewhere": (len(twins), "count"),
            },
            {"claim": claim_id},
            same_figure_in=twins,
        )
        return Outcome(
            claim_id,
            entry.verdict,
            f"{entry.reason}. {_figures_note(claim)}{twin_note}",
            missing=entry.missing,
            evidence=(path,),
        )

    run.__name__ = run.__qualname__ = "unverifiable_" + claim_id.replace("-", "_").replace(".", "_")
    return check(claim_id)(run)


for _claim_id, _entry in UNVERIFIABLE.items():
    _unverifiable_check(_claim_id, _entry)


# Triton Inference Server's model configuration (model_config.proto, ModelConfig message):
# the fields a per-model config.pbtxt may set at top level and in an instance group.
TRITON_MODEL_CONFIG_FIELDS = {
    "name",
    "platform",
    "backend",
    "runtime",
    "version_policy",
    "max_batch_size",
    "input",
    "output",
    "batch_input",
    "batch_output",
    "optimization",
    "dynamic_batching",
    "sequence_batching",
    "ensemble_scheduling",
    "instance_group",
    "default_model_filename",
    "cc_model_filenames",
    "metric_tags",
    "parameters",
    "model_warmup",
    "model_operations",
    "model_transaction_policy",
    "model_repository_agents",
    "response_cache",
}
TRITON_INSTANCE_GROUP_FIELDS = {
    "name",
    "kind",
    "count",
    "rate_limiter",
    "gpus",
    "secondary_devices",
    "profile",
    "passive",
    "host_policy",
}
# The configuration printed in seed 003 §2.2, verbatim.
SEED_003_TRITON_CONFIG = (
    '{"model_repository": "/models","backend_config": {"tensorflow": {"model_version_policy": '
    '{"specific": {"versions": [1]}},"optimization": {"graph_execution_optimizer": '
    '{"enable_cuda_graph": true,"enable_fusion": true}}}},"instance_group": [{"name": '
    '"gpu_instances","kind": "KIND_GPU","count": 4,"gpus": [0,1,2,3],"passive": false}]}'
)


@check("003-triton-config")
def triton_config(ctx: CheckContext) -> Outcome:
    import json

    config = json.loads(SEED_003_TRITON_CONFIG)
    unknown = sorted(set(config) - TRITON_MODEL_CONFIG_FIELDS)
    groups = config.get("instance_group", [])
    unknown_group = sorted({k for g in groups for k in g} - TRITON_INSTANCE_GROUP_FIELDS)
    path = ctx.evidence(
        "triton-config-schema",
        {
            "unknown_top_level_fields": (len(unknown), "count"),
            "unknown_instance_group_fields": (len(unknown_group), "count"),
        },
        {},
        unknown=unknown,
        unknown_instance_group=unknown_group,
    )
    verdict = Verdict.CONTRADICTED if unknown or unknown_group else Verdict.SUPPORTED
    return Outcome(
        "003-triton-config",
        verdict,
        f"against Triton's ModelConfig schema the seed's config has unknown top-level fields "
        f"{unknown or 'none'} (model_repository is a server flag, not a model field; CUDA graphs "
        "are set under optimization.cuda.graphs, and the TensorFlow backend has no "
        "'graph_execution_optimizer'); its instance_group "
        f"{'is valid' if not unknown_group else 'has unknown ' + str(unknown_group)}. Triton reads "
        "a per-model config.pbtxt (protobuf text), not JSON.",
        measured=len(unknown),
        unit="unknown fields",
        evidence=(path,),
    )
