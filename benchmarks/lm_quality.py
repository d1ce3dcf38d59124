"""Quality table of LM variants at equal steps and equal tokens (byte-level, pydoc English text).

    python benchmarks/lm_quality.py                                   # cpu-small, 300 steps
    python benchmarks/lm_quality.py --preset tiny --steps 50 --variants dense moe
    python benchmarks/lm_quality.py --out lm_quality.json             # also write the rows
    python benchmarks/lm_quality.py --records results/runs            # one Record per variant

Prints one row per variant (val loss, bits/byte, tokens/s, parameters, active parameters,
training FLOPs/token and achieved FLOP/s) and the ratios to the dense baseline. The rows are
the plain dicts of :func:`workloads.lm.compare_variants`; ``--out`` writes them as JSON and
``--records`` stores each as a workbench measurement record named ``lm-quality``, with the
variant, preset, steps, batch and sequence length as parameters.
"""

from __future__ import annotations

import argparse
import json

import torch

from workloads.lm import VARIANTS, TrainConfig, compare_variants, preset, relative_quality

_UNITS = {
    "val_loss": "nats/byte",
    "bits_per_byte": "bits/byte",
    "tokens_per_s": "tokens/s",
    "train_loss": "nats/byte",
    "train_s": "s",
    "tokens": "tokens",
    "params": "params",
    "active_params": "params",
    "flops_per_token": "FLOP/token",
}


def save_records(rows: list[dict], folder: str) -> list[str]:
    """One measurement record per row (the workbench's store; imported here, never in
    ``workloads``)."""
    from dsbench.core.environment import capture
    from dsbench.core.results import Kind, Metric, Record, save

    env = capture()
    paths = []
    for r in rows:
        params = {k: r[k] for k in ("variant", "preset", "steps", "batch_size", "seq_len", "seed")}
        metrics = {k: Metric(float(r[k]), unit) for k, unit in _UNITS.items()}
        record = Record(Kind.MEASUREMENT, "lm-quality", params, metrics, environment=env)
        paths.append(str(save(record, folder)))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-small")
    parser.add_argument(
        "--variants", nargs="+", default=["dense", "sliding-window", "moe"], choices=VARIANTS
    )
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--records", default=None, help="folder for workbench records")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = preset(args.preset)
    tc = TrainConfig(
        batch_size=args.batch_size,
        seq_len=min(args.seq_len, cfg.block_size),
        lr=args.lr,
        seed=args.seed,
        warmup_steps=min(30, args.steps),
    )
    rows = compare_variants(args.variants, args.steps, base=args.preset, train_config=tc)
    print(
        f"{'variant':<16}{'val_loss':>9}{'bpb':>7}{'tok/s':>9}{'params':>10}{'active':>10}{'GFLOP/s':>9}"
    )
    for r in rows:
        gflops = r["flops_per_token"] * r["tokens_per_s"] / 1e9
        print(
            f"{r['variant']:<16}{r['val_loss']:>9.4f}{r['bits_per_byte']:>7.3f}{r['tokens_per_s']:>9.0f}"
            f"{r['params']:>10}{r['active_params']:>10}{gflops:>9.2f}"
        )
    if "dense" in args.variants:
        for q in relative_quality(rows):
            print(
                f"{q['variant']:<16} val_loss x{q['val_loss_ratio']:.4f}  tokens/s x{q['tokens_per_s_ratio']:.3f}"
            )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)
    if args.records:
        for path in save_records(rows, args.records):
            print("record:", path)


if __name__ == "__main__":
    main()
