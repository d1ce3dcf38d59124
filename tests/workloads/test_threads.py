"""The one thread-count helper: sets, restores (also on errors and when nested), decorates."""

from __future__ import annotations

import pytest
import torch

from workloads.threads import one_thread, torch_threads


def test_sets_and_restores_even_on_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), one_thread():
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_nested_and_shared_decorator_instance():
    before = torch.get_num_threads()
    shared = torch_threads(1)

    @shared
    def inner() -> int:
        return torch.get_num_threads()

    @shared
    def outer() -> tuple[int, int]:
        return inner(), torch.get_num_threads()

    assert outer() == (1, 1)
    assert torch.get_num_threads() == before


def test_none_leaves_the_setting_and_bad_counts_are_refused():
    before = torch.get_num_threads()
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match=">= 1"):
        torch_threads(0)
