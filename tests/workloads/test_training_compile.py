"""Fusion and compilation of one LM block: the unfused and fused versions are equal, fused
runs fewer ops and holds less memory; the seed's @deepseek.jit example changes its output
every call; registered workloads match their references. (torch.compile itself is too slow
to compile in unit tests; ``dsbench bench training --technique compile --full`` runs it.)"""

from __future__ import annotations

import pytest
import torch

from workloads.training import compile as fu
from workloads.training.live_memory import LiveBytes

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_unfused_block_equals_fused_block():
    block, x = fu.build_block("tiny")
    with torch.no_grad():
        torch.testing.assert_close(
            fu.unfused_block_forward(block, x), block(x), rtol=1e-5, atol=1e-5
        )


def test_fused_kernels_run_fewer_ops_and_hold_less():
    block, x = fu.build_block("tiny")
    fused = fu.count_ops(lambda: block(x))
    unfused = fu.count_ops(lambda: fu.unfused_block_forward(block, x))
    assert sum(fused.values()) < sum(unfused.values()) / 3
    assert fu.extern_count(fused) == 5  # four linears and one attention
    assert "_unsafe_view" not in fused
    peaks = []
    for fn in (lambda: block(x), lambda: fu.unfused_block_forward(block, x)):
        with torch.no_grad(), LiveBytes() as mem:
            fn()
        peaks.append(mem.peak_bytes)
    assert peaks[0] < peaks[1]


def test_build_block_rejects_unknown_size():
    with pytest.raises(ValueError, match="unknown size"):
        fu.build_block("huge")


def test_seed_jit_example_rebuilds_weights_every_call():
    x = torch.randn(1, 4, 512, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert not torch.allclose(fu.seed_transformer_block(x), fu.seed_transformer_block(x))
        once = fu.seed_block_built_once()
        assert torch.equal(once(x), once(x))


def test_inductor_availability_is_reported():
    ok, why = fu.inductor_available()
    assert isinstance(ok, bool) and why


@pytest.mark.parametrize(
    "name", ["training-recompute", "training-amp-bf16", "training-amp-fp16", "training-fused-block"]
)
def test_registered_workloads_match_their_reference(name):
    from dsbench.profiler.measure import _allclose
    from workloads import base
    from workloads.training import registry  # noqa: F401 - registers

    workload = base._REGISTRY[name]
    assert set(workload.sizes) == {"tiny", "cpu", "gpu"} and workload.claim_ids
    case = workload.build("tiny", "cpu", "float32")
    assert _allclose(case.fn(), case.reference(), case.atol, case.rtol)
