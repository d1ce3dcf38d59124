"""Top-k inner-product retrieval: exact brute force and an IVF (inverted-file) index.

Shape legend: ``Q`` queries, ``N`` items, ``D`` vector width, ``K`` results per query,
``L`` IVF lists (k-means centroids), ``P`` lists probed per query.

Seed 002 §4.3 claims "vector retrieval over tens of millions of items at 120,000 QPS on a
single node". Brute force costs ``2·N·D`` FLOPs per query — 2.56 GFLOP at N = 10M, D = 128 — so
120k QPS needs 307 TFLOP/s of matmul plus the top-k selection: about a third of an H100's dense
FP16 peak, and all of an A100's. An IVF index (Jégou et al. 2011; the faiss ``IndexIVFFlat``)
clusters the items into ``L`` lists with k-means and scans only the ``P`` lists whose centroids
score highest, cutting the work by ``≈ L / P`` at some loss of recall.

* :func:`brute_force_topk` — exact; scores items in chunks and merges per-chunk top-k, so
  memory stays ``Q × chunk``. Tested against one ``topk`` over the full score matrix.
* :class:`IVFIndex` — :meth:`IVFIndex.build` runs seeded Lloyd k-means (spherical init from
  sampled items) and sorts the items by list; :meth:`IVFIndex.search` scores the probed lists
  list by list (each a dense matmul over the queries that probe it) and merges.
* :func:`recall_at_k` — the share of the exact top-k found, averaged over queries.
* :func:`clustered_vectors` — synthetic data with cluster structure (a Gaussian mixture), so
  IVF recall is meaningful; on uniform random vectors no index beats brute force. Real
  embedding sets behave in between; the recall figures are for this data only.

QPS is measured by the caller's timer; :func:`brute_force_flops` and :func:`ivf_flops` give the
work per query so a measured rate can be extrapolated to 10M items by FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def clustered_vectors(
    n: int,
    d: int,
    n_clusters: int = 256,
    noise: float = 0.8,
    seed: int = 0,
    sample_seed: int = 0,
    dtype=torch.float32,
) -> torch.Tensor:
    """(n, d) vectors: a unit-norm centre (one of ``n_clusters``, fixed by ``seed``) plus
    Gaussian noise of norm ≈ ``noise``; ``sample_seed`` draws a different sample (queries)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(n_clusters, d, generator=g), dim=1)
    g.manual_seed(seed * 1_000_003 + sample_seed + 1)
    labels = torch.randint(0, n_clusters, (n,), generator=g)
    x = centres[labels] + noise / d**0.5 * torch.randn(n, d, generator=g)
    return x.to(dtype)


def brute_force_flops(n_items: int, d: int) -> float:
    """Multiply-adds of scoring one query against every item (top-k selection not counted)."""
    return 2.0 * n_items * d


def brute_force_topk(
    queries_QD: torch.Tensor, items_ND: torch.Tensor, k: int, chunk: int = 65_536
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-``k`` inner products: ``(scores_QK, ids_QK)``, best first."""
    if not 1 <= k <= items_ND.shape[0]:
        raise ValueError(f"need 1 <= k({k}) <= n_items({items_ND.shape[0]})")
    best_s, best_i = None, None
    for start in range(0, items_ND.shape[0], chunk):
        scores = queries_QD @ items_ND[start : start + chunk].T
        s, i = scores.topk(min(k, scores.shape[1]), dim=1)
        i = i + start
        if best_s is not None:
            s, pick = torch.cat([best_s, s], 1).topk(k, dim=1)
            i = torch.cat([best_i, i], 1).gather(1, pick)
        best_s, best_i = s, i
    return best_s, best_i


def recall_at_k(found_QK: torch.Tensor, exact_QK: torch.Tensor) -> float:
    """Mean over queries of |found ∩ exact| / K."""
    k = exact_QK.shape[1]
    hits = (found_QK[:, :, None] == exact_QK[:, None, :]).any(dim=2).sum(dim=1)
    return float(hits.float().mean() / k)


@dataclass
class IVFIndex:
    """Items sorted by list; ``offsets[l]:offsets[l+1]`` are list ``l``'s rows."""

    centroids_LD: torch.Tensor
    items_ND: torch.Tensor  # sorted by list
    ids_N: torch.Tensor  # original ids of the sorted items
    offsets: torch.Tensor  # (L + 1,)

    @classmethod
    def build(
        cls,
        items_ND: torch.Tensor,
        n_lists: int,
        iters: int = 10,
        train_per_list: int = 64,
        seed: int = 0,
    ) -> IVFIndex:
        """k-means (inner-product assignment, as faiss's IP metric), trained on a sample of
        ``train_per_list · n_lists`` items (faiss samples 39–256 per centroid), then every item
        is assigned to its best centroid."""
        n = items_ND.shape[0]
        if not 1 <= n_lists <= n:
            raise ValueError(f"need 1 <= n_lists({n_lists}) <= n_items({n})")
        g = torch.Generator().manual_seed(seed)
        x = items_ND[torch.randperm(n, generator=g)[: train_per_list * n_lists]].float()
        centroids = x[:n_lists].clone()
        for _ in range(iters):
            assign = (x @ centroids.T).argmax(1)
            sums = torch.zeros_like(centroids).index_add_(0, assign, x)
            counts = torch.bincount(assign, minlength=n_lists)
            filled = counts > 0
            centroids[filled] = sums[filled] / counts[filled, None]
        assign = torch.cat([(c.float() @ centroids.T).argmax(1) for c in items_ND.split(65_536)])
        order = torch.argsort(assign, stable=True)
        counts = torch.bincount(assign, minlength=n_lists)
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
        return cls(centroids.to(items_ND.dtype), items_ND[order], order, offsets)

    @property
    def n_lists(self) -> int:
        return self.centroids_LD.shape[0]

    def scanned_fraction(self, probe_QP: torch.Tensor) -> float:
        """Mean share of the items a query scans."""
        sizes = (self.offsets[1:] - self.offsets[:-1])[probe_QP]
        return float(sizes.sum(1).float().mean() / self.items_ND.shape[0])

    def search(
        self, queries_QD: torch.Tensor, k: int, n_probe: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Approximate top-``k``: ``(scores_QK, ids_QK)``; ids are -1 where fewer than ``k``
        items were scanned."""
        if not 1 <= n_probe <= self.n_lists:
            raise ValueError(f"need 1 <= n_probe({n_probe}) <= n_lists({self.n_lists})")
        q = queries_QD.shape[0]
        probe_QP = (queries_QD @ self.centroids_LD.T).topk(n_probe, dim=1).indices
        cand_s = torch.full((q, n_probe, k), float("-inf"), dtype=queries_QD.dtype)
        cand_i = torch.full((q, n_probe, k), -1, dtype=torch.long)
        for lst in probe_QP.unique().tolist():
            rows, slots = (probe_QP == lst).nonzero(as_tuple=True)
            lo, hi = int(self.offsets[lst]), int(self.offsets[lst + 1])
            if hi == lo:
                continue
            s, i = (queries_QD[rows] @ self.items_ND[lo:hi].T).topk(min(k, hi - lo), dim=1)
            cand_s[rows, slots, : s.shape[1]] = s
            cand_i[rows, slots, : s.shape[1]] = self.ids_N[lo + i]
        s, pick = cand_s.view(q, -1).topk(k, dim=1)
        return s, cand_i.view(q, -1).gather(1, pick)


def ivf_flops(n_items: int, d: int, n_lists: int, scanned_fraction: float) -> float:
    """Per query: centroid scoring ``2·L·D`` plus the scanned items ``2·f·N·D``."""
    return 2.0 * n_lists * d + 2.0 * scanned_fraction * n_items * d
