"""``dsbench quantize``: quantise a named model (or one this command saved) and save it so it
loads back and runs — the seed's ``ds-quantize``, done with the library's functions.

MODEL is ``lm-tiny``, ``lm-small`` or ``cnn-digits`` (trained here from a fixed seed for
``--train-steps``; :mod:`workloads.inference.zoo`), or a folder an earlier ``dsbench quantize``
wrote (its float model is reused). Methods: ``dynamic`` (torch.ao int8, CPU int8 GEMMs; 8 bits
only — there is no dynamic int4 kernel) and ``weight-only`` (int8 per channel or int4 group-wise,
packed two per byte). The LM's head shares its weight with the embedding and stays float.

The output folder holds ``quantized.pt`` and ``float.pt`` (state dicts plus the spec that
rebuilds the architecture; both load with ``torch.load(weights_only=True)``) and
``summary.json``. It is written to a hidden temporary folder and renamed into place, so a
crash leaves no half-written model; an existing folder is replaced only with ``--force``.
Printed: bytes before/after, speed ratio fp32/quantised (same batch, interleaved timing) and the
validation-loss change.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

import click

from dsbench.core.errors import DsbenchError

FORMAT = "dsbench-quantized/1"
METHODS = ("dynamic", "weight-only")


def _convert(model, method: str, bits: int, group_size: int):
    from workloads.inference import quantize as qz

    if method == "dynamic":
        return qz.quantize_dynamic_int8(model)
    fmt = qz.WeightFormat.INT8 if bits == 8 else qz.WeightFormat.INT4
    return qz.quantize_weight_only(model, fmt, group_size)


def _load_float(model: str, train_steps: int | None):
    """(float model, spec) from a built-in name or a folder this command wrote."""
    import torch

    from workloads.inference import zoo

    path = Path(model)
    if (path / "float.pt").is_file():
        with warnings.catch_warnings():  # TypedStorage deprecation notices from torch.load
            warnings.simplefilter("ignore")
            saved = torch.load(path / "float.pt", weights_only=True)
        net = zoo.rebuild(saved["spec"])
        net.load_state_dict(saved["state_dict"])
        return net.eval(), saved["spec"]
    if model not in zoo.MODELS:
        raise DsbenchError(
            f"unknown model {model!r}; use one of {', '.join(zoo.MODELS)} or a folder "
            "written by dsbench quantize"
        )
    return zoo.build(model, train_steps)


def load_quantized(folder: Path):
    """The quantised model saved in ``folder`` (rebuilt, converted, state loaded) and its meta."""
    import torch

    from workloads.inference import zoo

    path = Path(folder) / "quantized.pt"
    if not path.is_file():
        raise DsbenchError(f"{folder} holds no quantized.pt; write one with dsbench quantize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved = torch.load(path, weights_only=True)
    if saved.get("format") != FORMAT:
        raise DsbenchError(f"{path}: format {saved.get('format')!r} is not {FORMAT!r}")
    net = _convert(zoo.rebuild(saved["spec"]), saved["method"], saved["bits"], saved["group_size"])
    net.load_state_dict(saved["state_dict"])
    return net.eval(), saved


def _write_atomic(out: Path, files: dict[str, Any], summary: dict, force: bool) -> None:
    import torch

    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for name, obj in files.items():
            torch.save(obj, tmp / name)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        old = None
        if out.exists():
            if not force:
                raise DsbenchError(f"{out} exists; pass --force to replace it")
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(out, old)
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def quantize_to(model: str, method: str, bits: int, group_size: int, out: Path, force: bool,
                train_steps: int | None = None, batch: int = 8) -> dict:  # fmt: skip
    """Quantise, measure, save and reload-check; return the summary dict."""
    import torch
    from torch import nn

    from dsbench.core.timing import TimerConfig, time_fn
    from workloads.inference import comparisons, zoo
    from workloads.inference.quantize import (
        quantizable_convs,
        quantizable_linears,
        state_dict_bytes,
    )

    net, spec = _load_float(model, train_steps)
    qnet = _convert(net, method, bits, group_size)
    group = group_size if method == "weight-only" and bits == 4 else 0
    n_quantized = len(quantizable_linears(net, group_size=group))
    if method == "weight-only":  # torch.ao's dynamic quantisation has no conv
        n_quantized += len(quantizable_convs(net, group))
    n_layers = sum(isinstance(m, nn.Linear | nn.Conv2d) for m in net.modules())
    x = zoo.example_input(spec, batch)
    cfg = TimerConfig(warmup_s=0.02, budget_s=0.2, min_samples=5, max_time_s=10.0)
    with torch.no_grad():
        base_s, q_s = comparisons.time_pair(
            lambda fn: time_fn(fn, config=cfg).samples_s, lambda: net(x), lambda: qnet(x)
        )
    before, after = zoo.evaluate(net, spec), zoo.evaluate(qnet, spec)
    summary = {
        "model": spec["name"], "method": method, "bits": bits,
        "group_size": group_size if method == "weight-only" and bits == 4 else None,
        "bytes_before": state_dict_bytes(net), "bytes_after": state_dict_bytes(qnet),
        "speed_ratio": _median(base_s) / _median(q_s), "batch": batch,
        "val_loss_before": before["val_loss"], "val_loss_after": after["val_loss"],
        "val_loss_change_pct": 100 * (after["val_loss"] / before["val_loss"] - 1),
        **({"accuracy_before": before["accuracy"], "accuracy_after": after["accuracy"]}
           if "accuracy" in before else {}),
        "threads": torch.get_num_threads(),
        "quantized_layers": n_quantized, "float_layers": n_layers - n_quantized,
    }  # fmt: skip
    meta = {"spec": spec, "method": method, "bits": bits, "group_size": group_size}
    files = {
        "quantized.pt": {"format": FORMAT, **meta, "state_dict": qnet.state_dict()},
        "float.pt": {"format": "dsbench-float/1", "spec": spec, "state_dict": net.state_dict()},
    }
    _write_atomic(out, files, summary, force)
    reloaded, _ = load_quantized(out)
    with torch.no_grad():
        diff = (zoo.forward(reloaded, spec, x) - zoo.forward(qnet, spec, x)).abs().max()
    summary["reload_max_abs_diff"] = float(diff)
    return summary


def _median(samples) -> float:
    import statistics

    return statistics.median(samples)


@click.command("quantize")
@click.argument("model")
@click.option("--method", type=click.Choice(METHODS), required=True, help="dynamic: torch.ao int8")
@click.option("--bits", type=click.Choice(["8", "4"]), default="8", show_default=True)
@click.option("--group-size", type=click.IntRange(min=2), default=32, show_default=True,
              help="int4 weights per scale")  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="folder to write (must not exist unless --force)")  # fmt: skip
@click.option("--force", is_flag=True, help="replace an existing --out folder")
@click.option("--train-steps", type=click.IntRange(min=0), default=None,
              help="training steps (LM) or epochs (CNN) for a built-in model [model default]")  # fmt: skip
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="intra-op threads while training and timing (1 is steadiest on a shared CPU)")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def quantize(model: str, method: str, bits: str, group_size: int, out: Path, force: bool,
             train_steps: int | None, threads: int, as_json: bool) -> None:  # fmt: skip
    """Quantise MODEL and write a model that loads back and runs to --out.

    MODEL: lm-tiny, lm-small, cnn-digits, or a folder written by this command.
    """
    n_bits = int(bits)
    if method == "dynamic" and n_bits != 8:
        raise click.UsageError(
            "--method dynamic supports only --bits 8 (no dynamic int4 kernel); "
            "use --method weight-only --bits 4"
        )
    if out.exists() and not force:
        raise click.UsageError(f"{out} exists; pass --force to replace it")
    known = ("lm-tiny", "lm-small", "cnn-digits")
    if model not in known and not (Path(model) / "float.pt").is_file():
        raise click.UsageError(
            f"unknown model {model!r}; use one of {', '.join(known)} or a folder written by "
            "dsbench quantize"
        )
    from workloads.inference.zoo import torch_threads

    with torch_threads(threads):
        summary = quantize_to(model, method, n_bits, group_size, out, force, train_steps)
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    click.echo(_format(summary, out))


def _format(s: dict, out: Path) -> str:
    label = f"{s['method']} int{s['bits']}" + (
        f" (group {s['group_size']})" if s["group_size"] else ""
    )
    lines = [
        f"{s['model']}: {label}; {s['quantized_layers']} layers quantised, {s['float_layers']} "
        "left float (tied LM head; convs under dynamic; widths not splitting into groups)",
        f"  bytes     {s['bytes_before']:,} -> {s['bytes_after']:,} "
        f"({s['bytes_before'] / s['bytes_after']:.2f}x smaller)",
        f"  speed     {s['speed_ratio']:.2f}x fp32 (batch {s['batch']}, {s['threads']} threads)",
        f"  val loss  {s['val_loss_before']:.4f} -> {s['val_loss_after']:.4f} "
        f"({s['val_loss_change_pct']:+.2f}%)",
    ]
    if "accuracy_before" in s:
        lines.append(
            f"  accuracy  {100 * s['accuracy_before']:.1f}% -> {100 * s['accuracy_after']:.1f}%"
        )
    lines.append(
        f"wrote {out} (reloaded: max |output difference| = {s['reload_max_abs_diff']:.3g})"
    )
    return "\n".join(lines)
