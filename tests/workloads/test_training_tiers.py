"""The tiered store against a plain dict, its byte bounds, and the seed's hierarchy as written."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.training.tiers import (
    ByteLRU,
    Tier,
    TieredStore,
    nbytes,
    seed_gpu_growth,
    top_k_mass,
    zipf_trace,
)


def _values(n, width=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(width * (1 + k % 3), generator=g) for k in range(n)}


@settings(max_examples=25, deadline=None)
@given(
    trace=st.lists(st.integers(0, 11), max_size=60),
    device_bytes=st.integers(0, 200),
    host_bytes=st.integers(0, 200),
)
def test_store_matches_plain_dict_and_respects_bounds(trace, device_bytes, host_bytes):
    values = _values(12)
    with TieredStore(device_bytes, host_bytes) as store:  # temporary disk folder
        for k, v in values.items():
            store.put(k, v)
        for k in trace:
            assert torch.equal(store.get(k), values[k])
            assert store.device_tier.used_bytes <= device_bytes
            assert store.host_tier.used_bytes <= host_bytes
            assert not any(key in store.host_tier for key in store.device_tier._items)
        assert store.stats.accesses == len(trace)


def test_hit_promotes_to_device_and_counts_bytes(tmp_path):
    values = _values(3, width=8)  # 32, 64, 96 bytes
    with TieredStore(device_bytes=100, host_bytes=1000, disk_dir=tmp_path) as store:
        for k, v in values.items():
            store.put(k, v)
        store.get(0)  # disk -> device
        store.get(1)  # disk -> device (96 B used)
        store.get(2)  # evicts 0 then 1 (LRU) to host
        assert 2 in store.device_tier and 0 in store.host_tier and 1 in store.host_tier
        store.get(0)  # host hit: promoted, exclusive
        assert 0 in store.device_tier and 0 not in store.host_tier
        s = store.stats
        assert s.hits == {Tier.DEVICE: 0, Tier.HOST: 1, Tier.DISK: 3}
        assert s.moved_bytes["disk->host"] == 32 + 64 + 96
        assert s.moved_bytes["host->device"] == 32 + 64 + 96 + 32


def test_value_larger_than_device_tier_stays_on_host(tmp_path):
    with TieredStore(device_bytes=8, host_bytes=1000, disk_dir=tmp_path) as store:
        store.put("big", torch.ones(16))
        assert torch.equal(store.get("big"), torch.ones(16))
        assert "big" in store.host_tier and len(store.device_tier) == 0
        assert store.get("big").sum() == 16 and store.stats.hits[Tier.HOST] == 1


def test_put_invalidates_cached_copies(tmp_path):
    with TieredStore(1000, 1000, disk_dir=tmp_path) as store:
        store.put(1, torch.zeros(2))
        store.get(1)
        store.put(1, torch.ones(2))
        assert torch.equal(store.get(1), torch.ones(2))
    with pytest.raises(KeyError):
        TieredStore(10, 10).get("missing")


def test_byte_lru_evicts_oldest_first():
    lru = ByteLRU(16)
    assert lru.put("a", torch.zeros(2)) == []  # 8 B
    lru.put("b", torch.zeros(2))
    lru.get("a")  # b is now oldest
    evicted = lru.put("c", torch.zeros(2))
    assert [k for k, _ in evicted] == ["b"] and lru.used_bytes == 16
    with pytest.raises(ValueError, match="capacity_bytes"):
        ByteLRU(-1)


def test_zipf_trace_is_skewed_and_seeded():
    t = zipf_trace(1000, 20_000, s=1.1, seed=3)
    assert np.array_equal(t, zipf_trace(1000, 20_000, s=1.1, seed=3))
    counts = np.sort(np.bincount(t, minlength=1000))[::-1]
    share_top10 = counts[:10].sum() / counts.sum()
    assert abs(share_top10 - top_k_mass(1000, 10, 1.1)) < 0.02
    with pytest.raises(ValueError, match="n_keys"):
        zipf_trace(0, 10)


def test_device_hit_rate_bounded_by_oracle(tmp_path):
    values = {k: torch.zeros(4) for k in range(200)}  # 16 B each
    trace = zipf_trace(200, 4000, s=1.0, seed=1)
    with TieredStore(20 * 16, 50 * 16, disk_dir=tmp_path) as store:
        for k, v in values.items():
            store.put(k, v)
        for k in trace:
            store.get(int(k))
        rate = store.stats.hit_rate(Tier.DEVICE)
    assert 0.2 < rate <= top_k_mass(200, 20, 1.0) + 0.02


def test_seed_hierarchy_gpu_tier_grows_without_bound():
    values = _values(50)
    trace = np.tile(np.arange(50), 3)  # every key read three times
    held = seed_gpu_growth(trace, values)
    assert held[-1] == sum(nbytes(v) for v in values.values())  # every key ends up on "GPU"
    assert held[49] == 0  # first reads stop at the CPU tier: disk reads are not promoted
