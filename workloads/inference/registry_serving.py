"""Registered serving, latency and retrieval workloads (the fast path and its unoptimised twin).

* ``serving-batched-forward`` — one LM forward over a batch of requests; reference: the same
  requests one at a time (what an unbatched server does), outputs concatenated.
* ``lm-decode-kv-cache`` — greedy decoding with the KV cache of :mod:`.latency`; reference:
  recomputing the whole prefix every step. Outputs are the generated token ids (exact match).
* ``mt-translate-greedy`` — encoder-decoder greedy translation with self- and cross-attention
  caches; reference: the uncached decoder.
* ``retrieval-brute-force`` — chunked exact top-k inner product; reference: one ``topk`` over
  the full score matrix. Output: the top-k scores.

Sizes: ``tiny`` for tests, ``cpu`` for a 2-core CPU, ``gpu`` for one data-centre GPU.
"""

from __future__ import annotations

import torch

from ..base import Case, Workload, register
from . import latency, retrieval

_LM_PRESET = {"tiny": "tiny", "cpu": "cpu-small", "gpu": "gpt-125m"}


def _lm(size: str, device: str, dtype: str):
    from workloads.lm.config import preset
    from workloads.lm.model import LM, param_counts

    cfg = preset(_LM_PRESET[size])
    torch.manual_seed(0)
    return LM(cfg).to(device, getattr(torch, dtype)).eval(), cfg, param_counts(cfg)


_BATCH_SIZES = {
    "tiny": {"batch": 4, "seq_len": 16},
    "cpu": {"batch": 16, "seq_len": 64},
    "gpu": {"batch": 64, "seq_len": 256},
}


def _build_batched(size: str, device: str, dtype: str) -> Case:
    from workloads.lm.model import flops_per_token

    p = _BATCH_SIZES[size]
    model, cfg, counts = _lm(size, device, dtype)
    x = torch.randint(
        0, cfg.vocab_size, (p["batch"], p["seq_len"]), generator=torch.Generator().manual_seed(1)
    ).to(device)
    run = torch.no_grad()(lambda: model(x)[0])
    one_by_one = torch.no_grad()(
        lambda: torch.cat([model(x[i : i + 1])[0] for i in range(x.shape[0])])
    )
    return Case(
        fn=run,
        flops=flops_per_token(cfg, p["seq_len"], training=False) * x.numel(),
        bytes_moved=counts["params"] * x.element_size(),
        reference=one_by_one,
        params={**p, "preset": _LM_PRESET[size]},
        atol=1e-4 if dtype == "float32" else 5e-2,
        rtol=1e-4 if dtype == "float32" else 5e-2,
    )


_DECODE_SIZES = {
    "tiny": {"prompt": 8, "new_tokens": 8},
    "cpu": {"prompt": 32, "new_tokens": 32},
    "gpu": {"prompt": 128, "new_tokens": 128},
}


def _build_decode(size: str, device: str, dtype: str) -> Case:
    p = _DECODE_SIZES[size]
    model, cfg, counts = _lm(size, device, dtype)
    prompt = torch.randint(
        0, cfg.vocab_size, (1, p["prompt"]), generator=torch.Generator().manual_seed(2)
    ).to(device)
    elem = torch.empty(0, dtype=getattr(torch, dtype)).element_size()
    return Case(
        fn=lambda: latency.lm_greedy(model, prompt, p["new_tokens"]),
        flops=2.0 * counts["params"] * (p["prompt"] + p["new_tokens"]),
        bytes_moved=counts["params"] * elem * p["new_tokens"],  # weights read once per step
        reference=lambda: latency.lm_greedy(model, prompt, p["new_tokens"], cached=False),
        params={**p, "preset": _LM_PRESET[size], "batch": 1, **counts},
        atol=0.0,
        rtol=0.0,
    )


_MT_SIZES = {
    "tiny": {"preset": "tiny", "src_len": 8, "new_tokens": 8},
    "cpu": {"preset": "transformer-base", "src_len": 30, "new_tokens": 30},
    "gpu": {"preset": "transformer-base", "src_len": 30, "new_tokens": 30},
}


def _build_mt(size: str, device: str, dtype: str) -> Case:
    p = _MT_SIZES[size]
    cfg = latency.seq2seq_preset(p["preset"])
    torch.manual_seed(0)
    model = latency.Seq2Seq(cfg).to(device, getattr(torch, dtype)).eval()
    src = torch.randint(
        2, cfg.vocab_size, (1, p["src_len"]), generator=torch.Generator().manual_seed(3)
    ).to(device)
    counts = latency.seq2seq_decode_counts(cfg, p["src_len"], p["new_tokens"])
    elem = torch.empty(0, dtype=getattr(torch, dtype)).element_size()
    return Case(
        fn=lambda: latency.translate(model, src, p["new_tokens"]),
        flops=counts["flops"],
        bytes_moved=elem
        * (counts["encoder_weights"] + counts["decoder_weights_per_step"] * p["new_tokens"]),
        reference=lambda: latency.translate(model, src, p["new_tokens"], cached=False),
        params={**p, "batch": 1, "params": counts["params"]},
        atol=0.0,
        rtol=0.0,
    )


_RETRIEVAL_SIZES = {
    "tiny": {"items": 2_000, "dim": 16, "queries": 32, "k": 10},
    "cpu": {"items": 100_000, "dim": 128, "queries": 256, "k": 10},
    "gpu": {"items": 10_000_000, "dim": 128, "queries": 512, "k": 10},  # reference: 20 GB fp32
}


def _build_retrieval(size: str, device: str, dtype: str) -> Case:
    p = _RETRIEVAL_SIZES[size]
    dt = getattr(torch, dtype)
    items = retrieval.clustered_vectors(p["items"], p["dim"], seed=0, dtype=dt).to(device)
    queries = retrieval.clustered_vectors(
        p["queries"], p["dim"], seed=0, sample_seed=1, dtype=dt
    ).to(device)
    chunk = max(1, min(p["items"] // 8, 1 << 18))  # scores stay <= Q x 262144
    return Case(
        fn=lambda: retrieval.brute_force_topk(queries, items, p["k"], chunk=chunk)[0],
        flops=retrieval.brute_force_flops(p["items"], p["dim"]) * p["queries"],
        bytes_moved=float(items.numel() * items.element_size()),
        reference=lambda: (queries @ items.T).topk(p["k"], dim=1).values,
        params=p,
        atol=1e-4 if dtype == "float32" else 5e-2,
        rtol=1e-4 if dtype == "float32" else 5e-2,
    )


WORKLOADS = (
    Workload(
        "serving-batched-forward",
        ("001-dynamic-batching-latency-15-20pct", "004-async-service-code"),
        _BATCH_SIZES,
        _build_batched,
        "LM forward over a batch of requests vs one request at a time",
    ),
    Workload(
        "lm-decode-kv-cache",
        ("004-a100-latency-8.3ms-37pct",),
        _DECODE_SIZES,
        _build_decode,
        "batch-1 greedy decoding of the LM with a KV cache vs recomputing the prefix",
    ),
    Workload(
        "mt-translate-greedy",
        ("002-mt-latency-150ms",),
        _MT_SIZES,
        _build_mt,
        "encoder-decoder greedy translation with K/V caches vs without",
    ),
    Workload(
        "retrieval-brute-force",
        ("002-rec-120k-qps-10m-items",),
        _RETRIEVAL_SIZES,
        _build_retrieval,
        "chunked exact top-k inner-product retrieval vs one full score matrix",
    ),
)

for _workload in WORKLOADS:
    register(_workload)
