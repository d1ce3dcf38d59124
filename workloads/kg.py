"""Knowledge-graph relation scoring: the seed's per-relation loop against one batched einsum.

Shape legend: ``N`` entities, ``R`` relations, ``D`` embedding dim, ``P`` (head, tail) pairs.

Seed 000 §4's ``FinancialKG.infer_relation(head, tail)`` scores every relation with the bilinear
form ``sigmoid((h @ M_r) @ t)`` (RESCAL, Nickel et al. 2011) in a Python loop over a dict of
relation matrices, calling ``.item()`` on each score (a device sync per relation on a GPU), and
returns the best ``(relation, score)``. The claim: "real-time inference latency < 200 ms on a
10K-node graph". Batched here:

- :func:`score_relations`: all R relations of P pairs in one einsum, (P, R);
- :func:`rank_tails`: one head and one relation against all N entities, ``(h M_r) E^T``, (N,);
- :func:`score_all_tails`: one head, all relations, all entities, (R, N).

:func:`kg_latency` times each of them and the seed's loop at the claimed graph size, with a
timer passed in (so the workbench's timer can be used), and returns plain rows.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from workloads.base import Case, Workload, register

Timer = Callable[[Callable[[], Any]], float]


def seed_infer_relation(
    entity_emb: torch.Tensor, relation_mat: Mapping[str, torch.Tensor], head: int, tail: int
) -> tuple[str, float]:
    """The seed's code, verbatim in structure: loop over relations, ``.item()`` each score."""
    scores = {}
    for rel, mat in relation_mat.items():
        head_emb = entity_emb[head]
        tail_emb = entity_emb[tail]
        score = torch.sigmoid((head_emb @ mat) @ tail_emb.T)
        scores[rel] = score.item()
    return max(scores.items(), key=lambda x: x[1])


def score_relations(
    entity_emb_ND: torch.Tensor, rel_RDD: torch.Tensor, head_P: torch.Tensor, tail_P: torch.Tensor
) -> torch.Tensor:
    """``sigmoid(h_p M_r t_p)`` for every pair and relation: (P, R). Contracted as
    ``(h M_r)`` first — one (P, D) × (R, D, D) product — then a dot with ``t``; a three-operand
    einsum can pick a worse order."""
    h_PD, t_PD = entity_emb_ND[head_P], entity_emb_ND[tail_P]
    hm_RPD = torch.matmul(h_PD, rel_RDD)  # (R, P, D), batched over relations
    return torch.sigmoid((hm_RPD * t_PD).sum(-1).T)


def infer_relation(
    entity_emb_ND: torch.Tensor, rel_RDD: torch.Tensor, head: int, tail: int
) -> tuple[int, float]:
    """Batched equivalent of the seed: (best relation index, its score), one sync."""
    scores_R = score_relations(entity_emb_ND, rel_RDD, torch.tensor([head]), torch.tensor([tail]))[
        0
    ]
    best = int(scores_R.argmax())
    return best, float(scores_R[best])


def rank_tails(
    entity_emb_ND: torch.Tensor, rel_RDD: torch.Tensor, head: int, rel: int
) -> torch.Tensor:
    """Scores of ``(head, rel, e)`` for every entity ``e``: (N,)."""
    return torch.sigmoid((entity_emb_ND[head] @ rel_RDD[rel]) @ entity_emb_ND.T)


def score_all_tails(entity_emb_ND: torch.Tensor, rel_RDD: torch.Tensor, head: int) -> torch.Tensor:
    """Scores of ``(head, r, e)`` for every relation and entity: (R, N)."""
    hm_RD = torch.matmul(entity_emb_ND[head], rel_RDD)  # (R, D)
    return torch.sigmoid(hm_RD @ entity_emb_ND.T)


def random_graph(
    n_entities: int,
    dim: int,
    n_relations: int,
    *,
    seed: int = 0,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random embeddings (N, D) and relation matrices (R, D, D), scaled so scores are O(1)."""
    for name, v in (("n_entities", n_entities), ("dim", dim), ("n_relations", n_relations)):
        if v <= 0:
            raise ValueError(f"{name} must be > 0, got {name}={v}")
    gen = torch.Generator().manual_seed(seed)
    emb = torch.randn(n_entities, dim, generator=gen) * dim**-0.5
    rel = torch.randn(n_relations, dim, dim, generator=gen) * dim**-0.5
    return emb.to(device, dtype), rel.to(device, dtype)


def median_timer(fn: Callable[[], Any], *, repeats: int = 7) -> float:
    """Median seconds of ``fn`` after one warm-up (CUDA synchronised). The workbench has the
    canonical timer; pass it to :func:`kg_latency` instead of this one."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    fn()
    sync()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def kg_latency(
    n_entities: int = 10_000,
    dim: int = 256,
    n_relations: int = 50,
    *,
    device: str = "cpu",
    timer: Timer = median_timer,
    budget_s: float = 0.2,
) -> list[dict]:
    """Latency of each operation at the given graph size.

    Returns rows: operation, n_entities, dim, n_relations, latency_s, under_budget (latency
    below ``budget_s``, the seed's 200 ms), scores_computed. Operations: ``seed-loop`` (one pair,
    all relations, the seed's code), ``batched-pair`` (the same, one einsum), ``rank-tails``
    (one head and relation vs all entities), ``all-tails-all-relations`` (one head vs all
    entities and relations), ``seed-loop-all-tails-est`` (the seed's loop applied to every
    tail: N × the seed-loop latency, an estimate, not run).
    """
    emb, rel = random_graph(n_entities, dim, n_relations, device=device)
    rel_dict = {f"r{i}": rel[i] for i in range(n_relations)}
    ops = {
        "seed-loop": (lambda: seed_infer_relation(emb, rel_dict, 0, 1), n_relations),
        "batched-pair": (lambda: infer_relation(emb, rel, 0, 1), n_relations),
        "rank-tails": (lambda: rank_tails(emb, rel, 0, 0), n_entities),
        "all-tails-all-relations": (lambda: score_all_tails(emb, rel, 0), n_entities * n_relations),
    }
    rows = []
    for op, (fn, n_scores) in ops.items():
        rows.append({"operation": op, "latency_s": timer(fn), "scores_computed": n_scores})
    seed = rows[0]["latency_s"]
    rows.append(
        {
            "operation": "seed-loop-all-tails-est",
            "latency_s": seed * n_entities,
            "scores_computed": n_entities * n_relations,
        }
    )
    base = {"n_entities": n_entities, "dim": dim, "n_relations": n_relations, "device": device}
    return [{**base, **r, "under_budget": r["latency_s"] < budget_s} for r in rows]


# --- registered workloads ----------------------------------------------------------------

_SIZES = {
    "tiny": {"n_entities": 50, "dim": 8, "n_relations": 4},
    "cpu": {"n_entities": 10_000, "dim": 256, "n_relations": 50},
    "gpu": {"n_entities": 10_000, "dim": 512, "n_relations": 100},
}


def _build_all_tails(size: str, device: str, dtype: str) -> Case:
    p = _SIZES[size]
    emb, rel = random_graph(
        p["n_entities"], p["dim"], p["n_relations"], device=device, dtype=getattr(torch, dtype)
    )
    n, d, r = p["n_entities"], p["dim"], p["n_relations"]

    def loop() -> torch.Tensor:
        return torch.stack([rank_tails(emb, rel, 0, i) for i in range(r)])

    return Case(
        fn=lambda: score_all_tails(emb, rel, 0),
        flops=2.0 * r * d * d + 2.0 * r * d * n,
        bytes_moved=(r * d * d + n * d + r * n) * emb.element_size(),
        reference=loop,
        params=dict(p),
        atol=1e-5 if dtype == "float32" else 2e-2,
        rtol=1e-4 if dtype == "float32" else 2e-2,
    )


def _build_pair(size: str, device: str, dtype: str, *, seed_loop: bool) -> Case:
    p = _SIZES[size]
    emb, rel = random_graph(
        p["n_entities"], p["dim"], p["n_relations"], device=device, dtype=getattr(torch, dtype)
    )
    rel_dict = {f"r{i}": rel[i] for i in range(p["n_relations"])}
    d, r = p["dim"], p["n_relations"]
    batched = lambda: infer_relation(emb, rel, 0, 1)  # noqa: E731
    seed = lambda: seed_infer_relation(emb, rel_dict, 0, 1)  # noqa: E731
    return Case(
        fn=seed if seed_loop else batched,
        flops=2.0 * r * (d * d + d),
        bytes_moved=(r * d * d + 2 * d) * emb.element_size(),
        reference=(lambda: (int(seed()[0][1:]), seed()[1])) if not seed_loop else None,
        params=dict(p),
        atol=1e-5 if dtype == "float32" else 2e-2,
        rtol=1e-4 if dtype == "float32" else 2e-2,
    )


def _sized(build):
    def run(size: str, device: str, dtype: str) -> Case:
        if size not in _SIZES:
            raise ValueError(f"unknown size {size!r}; use one of {sorted(_SIZES)}")
        return build(size, device, dtype)

    return run


_CLAIMS = ("000-kg-10k-latency-200ms",)
register(
    Workload(
        "kg-all-tails",
        _CLAIMS,
        _SIZES,
        _sized(_build_all_tails),
        "one head vs all entities and relations, one einsum + matmul",
    )
)
register(
    Workload(
        "kg-pair-batched",
        _CLAIMS,
        _SIZES,
        _sized(lambda s, d, t: _build_pair(s, d, t, seed_loop=False)),
        "best relation of one pair, batched over relations",
    )
)
register(
    Workload(
        "kg-pair-seed-loop",
        _CLAIMS,
        _SIZES,
        _sized(lambda s, d, t: _build_pair(s, d, t, seed_loop=True)),
        "the seed's per-relation loop with .item()",
    )
)
