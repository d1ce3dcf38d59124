"""KV caches, the kNN memory bank and weight pruning: state, accounting and outputs."""

from __future__ import annotations

import pytest
import torch

from workloads.attention import (
    ContiguousKVCache,
    Eviction,
    KNNMemory,
    MemoryAugmentedAttention,
    PagedKVCache,
    decode_attention,
    decode_step,
    kv_footprint,
    memory_attention_reference,
    naive_attention,
    prune_report,
    prune_sweep,
    pruned_attention,
)

H, D = 3, 8


def _caches(lengths, max_len=40, block=8):
    gen = torch.Generator().manual_seed(0)
    kvs = [torch.randn(2, H, n, D, generator=gen) for n in lengths]
    contiguous = ContiguousKVCache(len(lengths), max_len, H, D)
    paged = PagedKVCache(32, H, D, block_size=block)
    for i, kv in enumerate(kvs):
        for lo, hi in ((0, 3), (3, kv.shape[2])):  # two appends: a prefix and the rest
            contiguous.append(i, kv[0, :, lo:hi], kv[1, :, lo:hi])
            paged.append(i, kv[0, :, lo:hi], kv[1, :, lo:hi])
    return kvs, contiguous, paged


def test_paged_and_contiguous_decode_match_per_sequence_reference():
    lengths = [5, 17, 3, 33, 8]
    kvs, contiguous, paged = _caches(lengths)
    q = torch.randn(len(lengths), H, D)
    seqs = list(range(len(lengths)))
    ref = torch.stack(
        [
            naive_attention(q[i, :, None][None], kv[0][None], kv[1][None], causal=False)[0, :, 0]
            for i, kv in enumerate(kvs)
        ]
    )
    torch.testing.assert_close(decode_attention(q, contiguous, seqs), ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(decode_attention(q, paged, seqs), ref, atol=1e-5, rtol=1e-4)
    k_new, v_new = torch.randn(2, len(lengths), H, D)
    torch.testing.assert_close(
        decode_step(q, k_new, v_new, contiguous, seqs),
        decode_step(q, k_new, v_new, paged, seqs),
        atol=1e-5,
        rtol=1e-4,
    )
    assert paged.lengths[3] == contiguous.lengths[3] == 34


def test_reserved_vs_used_bytes():
    lengths = [5, 17, 3, 33, 8]
    _, contiguous, paged = _caches(lengths)
    per_token = 2 * H * D * 4
    expected = kv_footprint(lengths, 40, 8, per_token)
    assert (
        contiguous.used_bytes()
        == paged.used_bytes()
        == expected["used_bytes"]
        == sum(lengths) * per_token
    )
    assert (
        contiguous.reserved_bytes() == expected["contiguous_reserved_bytes"] == 5 * 40 * per_token
    )
    assert (
        paged.reserved_bytes()
        == expected["paged_reserved_bytes"]
        == (8 + 24 + 8 + 40 + 8) * per_token
    )
    paged.release(3)
    assert (
        paged.reserved_bytes() == (8 + 24 + 8 + 8) * per_token and len(paged.free_blocks) == 32 - 6
    )


def test_single_full_sequence_saves_nothing_with_blocks():
    f = kv_footprint([16384], 16384, 512, 1)
    assert f["paged_reserved_bytes"] == f["contiguous_reserved_bytes"]


@pytest.mark.parametrize("eviction", list(Eviction))
def test_memory_bank_is_bounded(eviction):
    bank = KNNMemory(50, eviction)
    for _ in range(4):
        bank.add(*torch.randn(2, 2, H, 23, D))
    assert len(bank) == 50 and bank.nbytes() == 2 * 2 * H * 50 * D * 4


def test_fifo_keeps_newest_and_lru_keeps_retrieved():
    k_old = torch.zeros(1, 1, 4, 2)
    k_old[0, 0, 0] = torch.tensor([10.0, 0.0])  # the entry every query will retrieve
    fifo, lru = KNNMemory(4, Eviction.FIFO), KNNMemory(4, Eviction.LRU)
    for bank in (fifo, lru):
        bank.add(k_old, k_old)
        bank.search(torch.tensor([[[[1.0, 0.0]]]]), 1)
        bank.add(torch.ones(1, 1, 3, 2), torch.ones(1, 1, 3, 2))
    assert not (fifo.keys[..., 0] == 10).any()  # the oldest went first
    assert (lru.keys[..., 0] == 10).sum() == 1  # the recently retrieved entry stayed


def test_memory_attention_matches_reference_over_segments():
    torch.manual_seed(0)
    bank = KNNMemory(50)
    layer = MemoryAugmentedAttention(H, 8, 5, gate_init=0.3)
    history = []
    for _ in range(4):
        q, k, v = (x.requires_grad_() for x in torch.randn(3, 2, H, 23, D))
        if history:
            past = torch.cat(history, dim=3)[:, :, :, -50:]  # FIFO: the last 50 keys and values
            torch.testing.assert_close(bank.keys, past[0])
            out = layer(q, k, v, bank)
            ref = memory_attention_reference(q, k, v, past[0], past[1], 8, 5, layer.gate_logit_H)
            torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
            g = torch.randn_like(out)
            params = (q, k, v, layer.gate_logit_H)
            for a, b in zip(
                torch.autograd.grad(out, params, g),
                torch.autograd.grad(ref, params, g),
                strict=True,
            ):
                torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)
        else:
            layer(q, k, v, bank)
        history.append(torch.stack([k.detach(), v.detach()]))


def test_pruning_keeps_less_as_t_grows_and_saves_no_compute():
    reports = prune_sweep([16, 256], heads=2, head_dim=16)
    short, long = reports[0], reports[2]
    assert long.kept_fraction < short.kept_fraction < 1
    assert long.dense_pairs_computed == 2 * 256 * 256
    assert reports[1].renormalize is False and reports[1].kept_fraction == short.kept_fraction


def test_pruning_at_zero_threshold_is_dense():
    q, k, v = torch.randn(3, 1, 2, 20, 8)
    torch.testing.assert_close(pruned_attention(q, k, v, 0.0), naive_attention(q, k, v))
    assert prune_report(q, k, v, 0.0).kept_fraction == 1.0
