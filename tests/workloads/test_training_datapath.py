"""Memory-mapped tokens against in-RAM ones, and the split pipeline against the serial one."""

import numpy as np
import pytest
import torch

from workloads.training.datapath import (
    InRAMTokens,
    MemoryBudgetError,
    MmapTokens,
    feature_net,
    overlap_bound,
    post_process,
    random_starts,
    run_overlapped,
    run_serial,
    write_token_file,
)


@pytest.fixture
def token_file(tmp_path):
    return write_token_file(tmp_path / "train.bin", 10_000, vocab=1000, seed=1)


def test_mmap_and_in_ram_give_the_same_windows(token_file):
    mm, ram = MmapTokens(token_file, 16), InRAMTokens(token_file, 16)
    starts = random_starts(len(mm), 32, seed=2)
    a, b = mm.batch(starts), ram.batch(starts)
    assert a.shape == (32, 17) and a.dtype == torch.int64
    assert torch.equal(a, b)
    assert int(a.max()) < 1000 and len(mm) == 10_000 - 16
    assert token_file.stat().st_size == 2 * 10_000
    mm.drop_page_cache()
    assert torch.equal(mm.batch(starts), b)


def test_in_ram_refuses_a_file_over_budget_mmap_does_not(token_file):
    with pytest.raises(MemoryBudgetError, match="20000 B > memory budget 4096 B"):
        InRAMTokens(token_file, 16, budget_bytes=4096)
    assert MmapTokens(token_file, 16).batch([0]).shape == (1, 17)


def test_write_validates_and_is_seeded(tmp_path):
    a = write_token_file(tmp_path / "a.bin", 100, seed=5)
    b = write_token_file(tmp_path / "b.bin", 100, seed=5)
    assert np.array_equal(np.fromfile(a, np.uint16), np.fromfile(b, np.uint16))
    with pytest.raises(ValueError, match="vocab"):
        write_token_file(tmp_path / "c.bin", 100, vocab=70_000)
    with pytest.raises(ValueError, match="seq_len"):
        MmapTokens(a, 100)


def test_overlapped_pipeline_equals_serial():
    net = feature_net(width=4)
    torch.manual_seed(0)
    batches = [torch.randn(3, 3, 8, 8) for _ in range(5)]
    serial = run_serial(net, batches, rounds=10)
    assert len(serial) == 15
    assert run_overlapped(net, batches, rounds=10, depth=1) == serial
    assert {d for _, d, _ in serial} <= {"accept", "review", "reject"}


def test_overlapped_pipeline_reraises_consumer_errors():
    with pytest.raises(TypeError):  # 1-D scores: post_process fails in the consumer thread
        run_overlapped(lambda x: torch.zeros(3), [torch.zeros(1, 3, 4, 4)] * 3, depth=1)


def test_post_process_and_bound():
    out = post_process(torch.tensor([[0.0, 1.0, 0.5]]), rounds=3)
    assert out[0][:2] == (1, "accept")
    assert overlap_bound(1.0, 0.37) == pytest.approx(1.37)
    assert overlap_bound(1.0, 1.0) == 2.0
