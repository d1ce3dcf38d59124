"""KG relation scoring: batched einsum paths against the seed's loop; latency rows."""

from __future__ import annotations

import pytest
import torch

from workloads.base import get
from workloads.kg import (
    infer_relation,
    kg_latency,
    random_graph,
    rank_tails,
    score_all_tails,
    score_relations,
    seed_infer_relation,
)

# the seed's code calls ``.T`` on a 1-D tensor, which torch deprecates; kept verbatim
pytestmark = pytest.mark.filterwarnings("ignore:The use of `x.T`:UserWarning")


def test_batched_matches_seed_loop():
    emb, rel = random_graph(40, 8, 5)
    rel_dict = {f"r{i}": rel[i] for i in range(5)}
    for head, tail in [(0, 1), (3, 17), (39, 2)]:
        name, score = seed_infer_relation(emb, rel_dict, head, tail)
        best, best_score = infer_relation(emb, rel, head, tail)
        assert name == f"r{best}" and best_score == pytest.approx(score, rel=1e-5)
        loop = torch.stack([torch.sigmoid(emb[head] @ rel[i] @ emb[tail]) for i in range(5)])
        got = score_relations(emb, rel, torch.tensor([head]), torch.tensor([tail]))[0]
        torch.testing.assert_close(got, loop)


def test_all_tails_match_per_entity_loop():
    emb, rel = random_graph(30, 6, 3, seed=2)
    all_RN = score_all_tails(emb, rel, 4)
    for r in range(3):
        torch.testing.assert_close(all_RN[r], rank_tails(emb, rel, 4, r))
        for e in (0, 11, 29):
            assert float(all_RN[r, e]) == pytest.approx(
                float(torch.sigmoid(emb[4] @ rel[r] @ emb[e])), rel=1e-5
            )


def test_latency_rows():
    rows = kg_latency(200, 16, 4, timer=lambda fn: (fn(), 0.001)[1])
    ops = [r["operation"] for r in rows]
    assert ops == [
        "seed-loop",
        "batched-pair",
        "rank-tails",
        "all-tails-all-relations",
        "seed-loop-all-tails-est",
    ]
    assert rows[-1]["latency_s"] == pytest.approx(0.2) and rows[-1]["under_budget"] is False
    assert all(r["n_entities"] == 200 for r in rows)


def test_bad_graph():
    with pytest.raises(ValueError, match="n_relations=0"):
        random_graph(10, 4, 0)


@pytest.mark.parametrize("name", ["kg-all-tails", "kg-pair-batched", "kg-pair-seed-loop"])
def test_registered_cases(name):
    case = get(name).build("tiny", "cpu", "float32")
    out = case.fn()
    if case.reference is not None:
        ref = case.reference()
        if isinstance(out, tuple):
            assert out[0] == ref[0] and out[1] == pytest.approx(ref[1], rel=1e-5)
        else:
            torch.testing.assert_close(out, ref)
