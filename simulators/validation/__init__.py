"""Predicted vs published: the simulator configured as each paper describes its runs.

The published tables live next to this module as CSV files whose header comments cite them.
:func:`validate` returns one dict per (case, metric) with ``case``, ``metric``, ``unit``,
``published``, ``predicted`` and ``error`` (relative: predicted / published − 1). The model
has no per-row constants: every row uses the same hardware table and efficiency model.
"""

from __future__ import annotations

import csv
from pathlib import Path

from simulators.engine import run
from simulators.memory import activation_bytes, model_state_bytes, params_per_gpu
from simulators.model import Recompute, model
from simulators.scenario import ParallelConfig, Scenario, SimConfig, SystemConfig

HERE = Path(__file__).parent
GIB = 2**30


def read_table(name: str) -> list[dict[str, str]]:
    """Rows of ``simulators/validation/NAME.csv`` (``#`` lines are the citation)."""
    with open(HERE / f"{name}.csv", newline="") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def _scenario(
    name: str,
    preset: str,
    gpus: int,
    tp: int,
    pp: int,
    batch: int,
    mbs: int,
    virtual: int,
    **parallel,
) -> Scenario:
    dp = gpus // (tp * pp)
    return Scenario(
        name=name,
        model=model(preset),
        system=SystemConfig(node="dgx-a100", nodes=max(1, gpus // 8)),
        parallel=ParallelConfig(
            tp=tp,
            pp=pp,
            micro_batch=mbs,
            micro_batches=batch // (dp * mbs),
            virtual_stages=virtual,
            **parallel,
        ),
        sim=SimConfig(trace_iterations=1, check_memory=False),
    )


def megatron_table1_scenarios() -> list[tuple[Scenario, float]]:
    """(scenario, published TFLOP/s per GPU) for every row of Narayanan et al. Table 1."""
    out = []
    for r in read_table("megatron_2021_table1"):
        layers, pp = int(r["layers"]), int(r["pipeline_parallel"])
        lpv = int(r["layers_per_virtual_stage"])
        virtual = layers // pp // lpv if lpv else 1
        scn = _scenario(
            f"megatron-2021-{r['params_billion']}B",
            r["model"],
            int(r["gpus"]),
            int(r["tensor_parallel"]),
            pp,
            int(r["batch_size"]),
            int(r["micro_batch"]),
            virtual,
            recompute=Recompute.FULL,
            dp_overlap=r["dp_overlap"] == "true",
        )
        out.append((scn, float(r["tflops_per_gpu"])))
    return out


def korthikanti_table5_scenarios() -> list[tuple[Scenario, float]]:
    """(scenario, published iteration seconds) for full and seq-par + selective modes."""
    out = []
    for r in read_table("korthikanti_2022_table5"):
        for mode, col, kw in (
            ("full", "iter_time_full_recompute_s", {"recompute": Recompute.FULL}),
            (
                "seqsel",
                "iter_time_seqpar_selective_s",
                {"recompute": Recompute.SELECTIVE, "sequence_parallel": True},
            ),
        ):
            scn = _scenario(
                f"korthikanti-2022-{r['model']}-{mode}",
                r["model"],
                int(r["gpus"]),
                int(r["tensor_parallel"]),
                int(r["pipeline_parallel"]),
                int(r["batch_size"]),
                int(r["micro_batch"]),
                int(r["virtual_stages"]),
                **kw,
            )
            out.append((scn, float(r[col])))
    return out


def _row(case: str, metric: str, unit: str, published: float, predicted: float) -> dict:
    return {
        "case": case,
        "metric": metric,
        "unit": unit,
        "published": published,
        "predicted": predicted,
        "error": predicted / published - 1.0,
    }


def memory_rows() -> list[dict]:
    """Korthikanti et al. 2022 Fig. 1 per-GPU memory against :mod:`simulators.memory`."""
    rows = []
    for r in read_table("korthikanti_2022_fig1_memory"):
        m = model(r["model"])
        tp, pp, b, v = (
            int(r[k])
            for k in ("tensor_parallel", "pipeline_parallel", "micro_batch", "virtual_stages")
        )
        case = f"korthikanti-2022-fig1-{r['model']}"
        states = sum(
            model_state_bytes(
                params_per_gpu(m, tp, pp, include_embeddings=False), dp=1, grad_bytes=4
            )
        )
        rows.append(
            _row(
                case, "params_optimizer_gib", "GiB", float(r["params_optimizer_gib"]), states / GIB
            )
        )
        kw = dict(micro_batch=b, tp=tp, pp=pp, micro_batches=8 * pp, virtual_stages=v)
        none = activation_bytes(m, **kw)
        seqsel = activation_bytes(m, sequence_parallel=True, recompute=Recompute.SELECTIVE, **kw)
        rows.append(
            _row(case, "activations_none_gib", "GiB", float(r["activations_none_gib"]), none / GIB)
        )
        rows.append(
            _row(
                case,
                "activations_seqsel_gib",
                "GiB",
                float(r["activations_seqsel_gib"]),
                seqsel / GIB,
            )
        )
    return rows


def validate() -> list[dict]:
    """Every published figure against the simulator's prediction (see module doc)."""
    rows = [
        _row(s.name, "tflops_per_gpu", "TFLOP/s", pub, run(s).tflops_per_gpu)
        for s, pub in megatron_table1_scenarios()
    ]
    rows += [
        _row(s.name, "iteration_s", "s", pub, run(s).iteration_s)
        for s, pub in korthikanti_table5_scenarios()
    ]
    return rows + memory_rows()
