"""Shared test settings: benchmark and GPU markers, deterministic seeds."""

from __future__ import annotations

import importlib.util

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-benchmarks",
        action="store_true",
        help="also run tests marked 'benchmark' (speed/memory targets; slow, machine-dependent)",
    )


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_bench = pytest.mark.skip(reason="benchmark: pass --run-benchmarks to run")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU; none on this machine")
    run_bench = config.getoption("--run-benchmarks")
    has_gpu = None
    for item in items:
        if "benchmark" in item.keywords and not run_bench:
            item.add_marker(skip_bench)
        if "gpu" in item.keywords:
            has_gpu = _cuda_available() if has_gpu is None else has_gpu
            if not has_gpu:
                item.add_marker(skip_gpu)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one intra-op thread for a whole test module (``pytestmark`` below uses it):
    tiny tensors gain nothing from more, and on a shared CPU several threads only stall."""
    from workloads.threads import torch_threads

    with torch_threads(1):
        yield
