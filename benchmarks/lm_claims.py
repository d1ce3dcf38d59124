"""Run the model-architecture experiments behind issue 5's claims and write their rows as JSON.

    python benchmarks/lm_claims.py --out lm_claims.json                  # tiny preset, minutes
    python benchmarks/lm_claims.py --only kg multimodal --out kg.json
    python benchmarks/lm_claims.py --preset cpu-small --steps 300 --only moe swa

Each experiment is a library function returning plain rows; this script only picks the
arguments, times nothing itself, and prints a one-line summary per experiment.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import torch

from workloads import kg, multimodal
from workloads.lm import AttnKind, AttnSpec, TrainConfig, make_variant, preset, probes
from workloads.lm import experiments as ex


def _passkey(args, cfg, tc):
    window = 16  # direct reach 15 > N_QUERIES, two-layer receptive field 30 < 63
    cfg = probes.PROBE_CONFIG
    configs = {"dense": cfg, "sliding-window": make_variant(cfg, "sliding-window", window=window)}
    return probes.passkey_probe(configs, seq_len=64, steps=args.probe_steps)


def _memory(args, cfg, tc):
    cfg = probes.PROBE_CONFIG
    window = AttnSpec(AttnKind.WINDOW, window=16)
    configs = {
        "memory": replace(cfg, attention=(window, AttnSpec(AttnKind.MEMORY, window=16, top_m=4))),
        "window-only": replace(cfg, attention=(window, window)),
    }
    return probes.memory_passkey_probe(
        configs, seg_len=32, train_segments=2, contexts=tuple(args.contexts), steps=600, lr=3e-3
    )


EXPERIMENTS = {
    "swa": lambda a, c, t: ex.swa_quality(a.steps, base=c, train_config=t),
    "passkey": _passkey,
    "memory": _memory,
    "moe": lambda a, c, t: ex.moe_vs_dense(a.steps, base=c, train_config=t),
    "aux": lambda a, c, t: ex.aux_coef_sweep(steps=a.steps, base=c, train_config=t),
    "domains": lambda a, c, t: ex.expert_specialisation(a.steps, base=c, train_config=t),
    "depth": lambda a, c, t: ex.dynamic_depth_quality(a.steps, base=c, train_config=t),
    "curriculum": lambda a, c, t: ex.curriculum_comparison(a.steps, base=c, train_config=t),
    "kg": lambda a, c, t: kg.kg_latency(),
    "multimodal": lambda a, c, t: multimodal.compare_objectives(),
    "modality": lambda a, c, t: multimodal.modality_weight_experiment(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--probe-steps", type=int, default=400)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--contexts", nargs="+", type=int, default=[64, 512, 4096])
    parser.add_argument(
        "--only", nargs="+", choices=sorted(EXPERIMENTS), default=sorted(EXPERIMENTS)
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = preset(args.preset)
    tc = TrainConfig(
        batch_size=args.batch_size, seq_len=min(args.seq_len, cfg.block_size), warmup_steps=20
    )
    results = {}
    for name in args.only:
        results[name] = EXPERIMENTS[name](args, cfg, tc)
        print(name, json.dumps(results[name][:2], default=str)[:400], flush=True)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=1, default=str)


if __name__ == "__main__":
    main()
