"""Brute-force top-k against the obvious reference; IVF recall against brute force."""

from __future__ import annotations

import pytest
import torch

from workloads.inference.retrieval import (
    IVFIndex,
    brute_force_flops,
    brute_force_topk,
    clustered_vectors,
    ivf_flops,
    recall_at_k,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    items = clustered_vectors(3_000, 16, n_clusters=32, seed=0)
    queries = clustered_vectors(64, 16, n_clusters=32, seed=0, sample_seed=1)
    return items, queries


def test_chunked_brute_force_equals_full_topk(data):
    items, queries = data
    scores, ids = brute_force_topk(queries, items, 10, chunk=700)
    ref = (queries @ items.T).topk(10, dim=1)
    torch.testing.assert_close(scores, ref.values)
    assert recall_at_k(ids, ref.indices) == 1.0


def test_ivf_recall_rises_with_probes_and_is_exact_when_probing_all(data):
    items, queries = data
    exact = brute_force_topk(queries, items, 10)[1]
    index = IVFIndex.build(items, 16, iters=5)
    assert torch.equal(torch.sort(index.ids_N).values, torch.arange(3_000))
    recalls = [recall_at_k(index.search(queries, 10, p)[1], exact) for p in (1, 4, 16)]
    assert recalls[0] <= recalls[1] <= recalls[2] == 1.0
    probe = torch.arange(16).expand(64, 16)
    assert index.scanned_fraction(probe) == pytest.approx(1.0)


def test_recall_counts_overlap():
    exact = torch.tensor([[1, 2, 3, 4]])
    assert recall_at_k(torch.tensor([[4, 3, 9, 8]]), exact) == 0.5


def test_flop_counts_and_the_claims_arithmetic():
    assert brute_force_flops(10_000_000, 128) == 2.56e9  # per query
    assert ivf_flops(1000, 8, 10, 0.1) == 2 * 10 * 8 + 2 * 0.1 * 1000 * 8


def test_bad_arguments(data):
    items, queries = data
    with pytest.raises(ValueError):
        brute_force_topk(queries, items, 0)
    with pytest.raises(ValueError):
        IVFIndex.build(items, 0)
    with pytest.raises(ValueError):
        IVFIndex.build(items, 4, iters=1).search(queries, 10, 5)
