"""Checks for the model-architecture and model-quality claims, from models trained here.

Every quality figure below comes from a byte-level LM (:mod:`workloads.lm`) or a small
encoder trained in the check, at *toy scale*, and each verdict says so: ``--quick`` trains the
``tiny`` preset (2 layers, width 32, ~0.1M parameters) for 300 steps of 8×64 bytes of the
pydoc English text; ``--full`` trains ``cpu-small`` (8 layers, width 256, ~6.4M parameters)
for 600 steps of 16×128 bytes. Where a claimed figure needs a named model or benchmark, the
verdict is ``needs-data`` naming it, with the toy evidence attached.

Models are trained once per verify run and shared between checks through one
:class:`~workloads.lm.train.CachedTrainer` (the dense baseline serves four claims). Training
runs on one thread: on a shared 2-core machine, multi-threaded BLAS with busy neighbours
slows down by orders of magnitude, and a ratio of two runs on one thread is still a fair
A-vs-B comparison.

* ``000-swa-98pct-accuracy`` — dense vs sliding window at equal steps: per-byte likelihood
  retained, and passkey retrieval inside and beyond the ``L·(W − 1)`` receptive field.
* ``000-maa-32k-context`` — kNN-memory attention (Memorizing Transformers) trained on
  passkeys over two segments, tested at longer contexts against a window-only control.
* ``001-dynamic-depth-ffn`` — early-exit FFN stacks: depth used, FLOPs saved, quality, time.
* ``001-curriculum-learning`` — short-to-long vs random order at equal tokens, against the
  seed-to-seed spread.

The mixture-of-experts checks (:mod:`dsbench.claims.checks.models_moe`) and the
knowledge-graph and multimodal checks (:mod:`dsbench.claims.checks.models_encoders`) share
these models and sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from dsbench.claims.registry import CheckContext, check
from dsbench.claims.verdicts import MEASURED, Outcome, Verdict, judge_value
from dsbench.core.results import Kind
from workloads.threads import torch_threads

_TRAINER = None  # one CachedTrainer per process, created on first use (torch import)


@dataclass(frozen=True)
class Scale:
    """Every size a mode runs at, in one place.

    preset / steps / batch / seq_len / eval_windows: the LM runs (all LM checks share them).
    probe_steps / probe_seq / probe_distances: the passkey probe (2-layer, window 8).
    mem_steps / mem_seg / mem_window / mem_contexts / mem_eval: the kNN-memory passkey probe.
    contrastive_steps / contrastive_batch / modality_steps: the multimodal encoders.
    kg_grid: (dim, relations) pairs timed at 10K entities. ffn_dims: (C, F) of the MoE layer
    timed against dense FFNs.
    """

    preset: str
    steps: int
    batch: int
    seq_len: int
    eval_windows: int
    probe_steps: int
    probe_seq: int
    probe_distances: tuple[int, ...]
    mem_steps: int
    mem_seg: int
    mem_window: int
    mem_contexts: tuple[int, ...]
    mem_eval: int
    contrastive_steps: int
    contrastive_batch: int
    modality_steps: int
    kg_grid: tuple[tuple[int, int], ...]
    ffn_dims: tuple[int, int]

    @property
    def label(self) -> str:
        return (
            f"toy scale: the '{self.preset}' byte-level LM, {self.steps} steps of "
            f"{self.batch}x{self.seq_len} bytes"
        )


QUICK = Scale(
    preset="tiny", steps=300, batch=8, seq_len=64, eval_windows=32,
    probe_steps=200, probe_seq=32, probe_distances=(8, 12, 20, 31),
    mem_steps=300, mem_seg=16, mem_window=8, mem_contexts=(64, 256, 1024), mem_eval=32,
    contrastive_steps=60, contrastive_batch=128, modality_steps=150,
    kg_grid=((256, 50),), ffn_dims=(256, 512),
)  # fmt: skip
FULL = Scale(
    preset="cpu-small", steps=600, batch=16, seq_len=128, eval_windows=64,
    probe_steps=400, probe_seq=64, probe_distances=(8, 12, 24, 48, 63),
    mem_steps=600, mem_seg=16, mem_window=8, mem_contexts=(64, 1024, 4096, 32768), mem_eval=32,
    contrastive_steps=300, contrastive_batch=256, modality_steps=600,
    kg_grid=((128, 10), (256, 50), (512, 100)), ffn_dims=(1024, 2048),
)  # fmt: skip
SCALES = {"quick": QUICK, "full": FULL}


def scale(ctx: CheckContext) -> Scale:
    return SCALES[ctx.mode]


def trainer():
    """The process-wide :class:`CachedTrainer` (models trained once per verify run)."""
    global _TRAINER
    if _TRAINER is None:
        from workloads.lm import CachedTrainer

        _TRAINER = CachedTrainer()
    return _TRAINER


def train_config(ctx: CheckContext, **overrides):
    from workloads.lm import TrainConfig

    s = scale(ctx)
    tc = TrainConfig(
        steps=s.steps,
        batch_size=s.batch,
        seq_len=s.seq_len,
        warmup_steps=min(20, s.steps),
        eval_windows=s.eval_windows,
    )
    return replace(tc, **overrides)


one_thread = torch_threads(1)  # run each check with torch on one thread, restored after


def time_s(fn: Callable[[], object], ctx: CheckContext):
    """Median seconds per call with the workbench timer (short budget in quick mode)."""
    from dsbench.core.timing import TimerConfig, time_fn

    config = TimerConfig.quick() if ctx.quick else TimerConfig(budget_s=1.0)
    return time_fn(fn, "cpu", config)


def judge_lost(lost_pct: float, claimed_lost_pct: float = 2.0) -> Verdict:
    """Judge a measured quality loss (percent) against a claimed "keeps (100 − x)%"; a
    variant that is as good or better (loss <= 0) meets the claim."""
    return judge_value(claimed_lost_pct, max(lost_pct, 1e-9), "<=", MEASURED)


def _lm_rows(rows: list[dict], keys: tuple[str, ...]) -> dict[str, dict]:
    return {r["variant"]: {k: r[k] for k in keys if k in r} for r in rows}


# --- sliding window ------------------------------------------------------------------------


@check("000-swa-98pct-accuracy")
@one_thread
def swa_quality(ctx: CheckContext) -> Outcome:
    from dataclasses import replace as dc_replace

    from workloads.lm import AttnKind, AttnSpec
    from workloads.lm.experiments import swa_quality as run_swa
    from workloads.lm.probes import PROBE_CONFIG, passkey_probe

    s = scale(ctx)
    rows = run_swa(s.steps, base=s.preset, train_config=train_config(ctx), trainer=trainer())
    dense, swa = rows
    retained_pct = 100 * swa["quality_retained"]
    # passkey: a 2-layer probe model, dense vs window 8 (receptive field 2·(8 − 1) = 14)
    window = 8
    win_cfg = dc_replace(PROBE_CONFIG, attention=(AttnSpec(AttnKind.WINDOW, window=window),) * 2)
    probe = passkey_probe(
        {"dense": PROBE_CONFIG, "sliding-window": win_cfg},
        seq_len=s.probe_seq,
        steps=s.probe_steps,
        batch=64,
        distances=list(s.probe_distances),
        lr=1e-3,
    )
    beyond = {
        v: [r["accuracy"] for r in probe if r["variant"] == v and r["distance"] > 2 * (window - 1)]
        for v in ("dense", "sliding-window")
    }
    inside = [
        r["accuracy"]
        for r in probe
        if r["variant"] == "sliding-window" and r["distance"] <= 2 * (window - 1)
    ]
    acc_swa_inside = sum(inside) / len(inside)
    acc_dense = sum(beyond["dense"]) / len(beyond["dense"])
    acc_swa = sum(beyond["sliding-window"]) / len(beyond["sliding-window"])
    path = ctx.evidence(
        "swa-vs-dense-quality",
        {
            "dense_val_loss": (dense["val_loss"], "nats/byte"),
            "swa_val_loss": (swa["val_loss"], "nats/byte"),
            "likelihood_retained": (retained_pct, "%"),
            "passkey_beyond_reach_dense": (acc_dense, "1"),
            "passkey_beyond_reach_swa": (acc_swa, "1"),
            "passkey_within_reach_swa": (acc_swa_inside, "1"),
            "passkey_chance": (probe[0]["chance"], "1"),
        },
        {"scale": s.label, "lm_window": swa["window"], "probe_window": window},
        kind=Kind.MEASUREMENT,
        lm_rows=_lm_rows(rows, ("val_loss", "bits_per_byte", "tokens_per_s", "params")),
        passkey=[{k: r[k] for k in ("variant", "distance", "accuracy")} for r in probe],
    )
    # "keeps 98%" = loses at most 2%: judge the loss, so a 90% retention is not "within 25%"
    text = judge_lost(100 - retained_pct)
    learned = acc_dense >= 0.5  # the dense probe solved the task beyond the window
    passkey_retained = 100 * acc_swa / acc_dense if acc_dense > 0 else 0.0
    long_range = judge_lost(100 - passkey_retained)
    if not learned or text is long_range:
        verdict = text  # one task, or both tasks agree
    else:
        verdict = Verdict.PARTLY  # retained on one task, lost on the other
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"At {s.label}, sliding window (w={swa['window']}) keeps {retained_pct:.1f}% of the "
        f"dense model's per-byte likelihood on held-out text (val loss {swa['val_loss']:.3f} vs "
        f"{dense['val_loss']:.3f} nats/byte). On passkey retrieval beyond the 2-layer "
        f"receptive field of {2 * (window - 1)} tokens (w={window}), the dense probe reaches "
        f"{acc_dense:.0%} and the window model {acc_swa:.0%} (chance {probe[0]['chance']:.0%}; "
        f"within reach the window model reaches {acc_swa_inside:.0%})"
        + ("" if learned else "; the dense probe did not learn the task, so only text counts")
        + ". 'Accuracy retained' depends on the task: near-full on local text statistics, "
        "chance for anything beyond L·(W−1) tokens.",
        measured=retained_pct,
        unit="%",
        evidence=(path,),
    )


@check("000-maa-32k-context")
@one_thread
def memory_context(ctx: CheckContext) -> Outcome:
    from dataclasses import replace as dc_replace

    from workloads.lm import AttnKind, AttnSpec
    from workloads.lm.probes import PROBE_CONFIG, memory_passkey_probe

    s = scale(ctx)
    seg_len, contexts, w = s.mem_seg, s.mem_contexts, s.mem_window
    specs = {
        "memory": AttnSpec(AttnKind.MEMORY, window=w, top_m=4),
        "window-only": AttnSpec(AttnKind.WINDOW, window=w),
    }
    configs = {k: dc_replace(PROBE_CONFIG, attention=(v,) * 2) for k, v in specs.items()}
    rows = memory_passkey_probe(
        configs,
        seg_len=seg_len,
        contexts=contexts,
        steps=s.mem_steps,
        batch=64,
        lr=1e-3,  # at 3e-3 or batch 32 the toy model does not learn retrieval in 300 steps
        n_eval=s.mem_eval,
    )
    acc = {(r["variant"], r["context_tokens"]): r["accuracy"] for r in rows}
    chance = rows[0]["chance"]
    # effective context: the longest tested context where retrieval is at least halfway
    # between chance and perfect
    good = [c for c in contexts if acc[("memory", c)] >= (1 + chance) / 2]
    effective = max(good) if good else 0
    longest = max(contexts)
    learned = acc[("memory", longest)] > max(acc[("window-only", longest)], chance) + 0.1
    # bank size a 32K context needs in a 7B-class model (d = 4096, fp16, keys + values, per
    # memory layer): what the memory costs, independent of whether retrieval works
    bank_bytes_32k = 2 * 32768 * 4096 * 2
    path = ctx.evidence(
        "memory-passkey-by-context",
        {
            "effective_context_tested": (float(effective), "tokens"),
            "longest_context_tested": (float(max(contexts)), "tokens"),
            "memory_accuracy_longest": (acc[("memory", max(contexts))], "1"),
            "window_only_accuracy_longest": (acc[("window-only", max(contexts))], "1"),
            "bank_bytes_32k_per_layer_d4096_fp16": (float(bank_bytes_32k), "B"),
        },
        {"seg_len": seg_len, "trained_context": rows[0]["trained_context"]},
        kind=Kind.MEASUREMENT,
        rows=[{k: r[k] for k in ("variant", "context_tokens", "accuracy")} for r in rows],
    )
    by_context = ", ".join(
        f"{c}: {acc[('memory', c)]:.0%} vs {acc[('window-only', c)]:.0%}" for c in contexts
    )
    return Outcome(
        ctx.claim_ids[0],
        Verdict.NEEDS_DATA,
        f"Toy scale: a 2-layer probe model with kNN-memory attention (window {w}, top-4 "
        f"retrieval) trained on passkeys over {rows[0]['trained_context']} tokens retrieves a "
        f"key from the first segment at context (memory vs window-only): {by_context} "
        f"(chance {chance:.0%}); effective context among those tested: {effective} tokens. "
        + (
            "The mechanism extends retrieval past the window; "
            if learned
            else "At this training budget the toy model did not learn retrieval through the "
            "bank (no better than the window-only control), so it shows nothing either way; "
        )
        + "whether a dialogue model uses 32K "
        "tokens of history is a quality question about a real model. A 32K bank costs "
        f"{bank_bytes_32k / 2**20:.0f} MiB per memory layer at d=4096 in fp16.",
        measured=float(effective),
        unit="tokens",
        evidence=(path,),
        missing="a dialogue model with memory-augmented attention and a stated base context, "
        "evaluated on a long-dialogue benchmark (e.g. multi-session chat recall such as MSC, or "
        "passkey/needle retrieval at 4K-32K in the real model)",
    )


# --- dynamic depth and curriculum -----------------------------------------------------------


@check("001-dynamic-depth-ffn")
@one_thread
def dynamic_depth(ctx: CheckContext) -> Outcome:
    import torch

    from workloads.lm import make_variant, preset
    from workloads.lm.experiments import dynamic_depth_quality

    s = scale(ctx)
    rows = {
        r["variant"]: r
        for r in dynamic_depth_quality(
            s.steps, base=s.preset, train_config=train_config(ctx), trainer=trainer()
        )
    }
    dense, dyn = rows["dense"], rows["dynamic-depth"]
    # wall time of inference at batch 1 and 32 (hard early exit vs the dense FFN model)
    from workloads.lm.data import load_split

    split = load_split()
    tc = train_config(ctx)
    times = {}
    for name in ("dense", "dynamic-depth"):
        model, _ = trainer()(make_variant(preset(s.preset), name), tc, split)
        model.eval()
        for b in (1, 32):
            x = split.val[: b * s.seq_len].long().view(b, s.seq_len)
            with torch.no_grad():
                times[(name, b)] = time_s(lambda m=model, x=x: m(x), ctx).median_s
    ratio = {b: times[("dense", b)] / times[("dynamic-depth", b)] for b in (1, 32)}
    saved = dyn["ffn_flops_saved_fraction"]
    cost = dyn["val_loss"] / dense["val_loss"]
    path = ctx.evidence(
        "dynamic-depth-ffn",
        {
            "avg_depth": (dyn["avg_depth"], "sub-layers"),
            "max_depth": (float(dyn["max_depth"]), "sub-layers"),
            "ffn_flops_saved": (100 * saved, "%"),
            "val_loss_ratio_to_dense": (cost, "1"),
            "speedup_batch1": (ratio[1], "x"),
            "speedup_batch32": (ratio[32], "x"),
        },
        {"scale": s.label},
        kind=Kind.MEASUREMENT,
        times_s={f"{k[0]}@b{k[1]}": v for k, v in times.items()},
    )
    if saved >= 0.10 and cost <= 1.02:
        verdict = Verdict.SUPPORTED
    elif saved > 0.0:
        verdict = Verdict.PARTLY
    else:
        verdict = Verdict.CONTRADICTED
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"At {s.label}, FFNs built as 4-sub-layer early-exit stacks (learned halting gate, "
        f"ponder cost 0.01) run {dyn['avg_depth']:.2f} of {dyn['max_depth']} sub-layers on "
        f"average at inference, saving {100 * saved:.0f}% of FFN FLOPs, at val loss "
        f"{cost:.3f}x the dense model's. Wall time, dense / dynamic: {ratio[1]:.2f}x at batch 1, "
        f"{ratio[32]:.2f}x at batch 32 (gathering the running tokens costs time, so FLOPs saved "
        "do not turn into time saved one for one). Depth adapts only as far as the ponder cost "
        "makes it worth it; the claim gives no figure to hold it to.",
        measured=100 * saved,
        unit="% FFN FLOPs saved",
        evidence=(path,),
    )


@check("001-curriculum-learning")
@one_thread
def curriculum(ctx: CheckContext) -> Outcome:
    from workloads.lm import Order, preset
    from workloads.lm.data import load_split

    s = scale(ctx)
    split = load_split()
    cfg = preset(s.preset)
    runs = {}
    for order in Order:
        for seed in (0, 1):
            _, summary = trainer()(cfg, train_config(ctx, order=order, seed=seed), split)
            runs[(order.value, seed)] = summary["val_loss"]
    mean = {o.value: (runs[(o.value, 0)] + runs[(o.value, 1)]) / 2 for o in Order}
    spread = max(abs(runs[(o.value, 0)] - runs[(o.value, 1)]) for o in Order)
    gain = mean["random"] - mean["short-to-long"]  # > 0: the curriculum is better
    path = ctx.evidence(
        "curriculum-vs-random",
        {
            "random_val_loss": (mean["random"], "nats/byte"),
            "curriculum_val_loss": (mean["short-to-long"], "nats/byte"),
            "gain": (gain, "nats/byte"),
            "seed_spread": (spread, "nats/byte"),
        },
        {
            "scale": s.label,
            "seeds": [0, 1],
            "curriculum": "sequence length 16 -> full over "
            "the first half of the steps, equal tokens per step",
        },
        kind=Kind.MEASUREMENT,
        runs={f"{o}-seed{sd}": v for (o, sd), v in runs.items()},
    )
    if gain > spread:
        verdict = Verdict.SUPPORTED
    elif gain < -spread:
        verdict = Verdict.CONTRADICTED
    else:
        verdict = Verdict.PARTLY
    return Outcome(
        ctx.claim_ids[0],
        verdict,
        f"At {s.label}, equal tokens, two seeds each: the short-to-long length curriculum ends "
        f"at val loss {mean['short-to-long']:.4f} nats/byte, random order at "
        f"{mean['random']:.4f} (difference {gain:+.4f}; seed-to-seed spread {spread:.4f}). "
        + {
            Verdict.SUPPORTED: "The curriculum helps by more than the seed noise at this scale.",
            Verdict.CONTRADICTED: "The curriculum hurts by more than the seed noise here.",
            Verdict.PARTLY: "The difference is within the seed noise: no measurable gain, as "
            "is common for LM curricula in the literature.",
        }[verdict],
        measured=gain,
        unit="nats/byte (random - curriculum)",
        evidence=(path,),
    )


def _reset_cache() -> None:
    """Forget trained models (tests use it to keep runs independent)."""
    global _TRAINER
    _TRAINER = None
