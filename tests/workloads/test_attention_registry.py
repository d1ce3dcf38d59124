"""Every registered attention workload builds at the tiny size and matches its reference."""

from __future__ import annotations

import pytest
import torch

from workloads.attention.fused import Backend, available_backends
from workloads.attention.registry import ATTENTION_WORKLOADS as WORKLOADS
from workloads.base import WORKLOAD_MODULES

CLAIMS_OF_ISSUE = {
    "000-swa-linear-complexity",
    "000-swa-pseudocode",
    "000-sqa-topk-6x-at-1024",
    "000-swa-threshold-2k",
    "001-sparse-attn-n-log-n",
    "001-sparse-attn-sum-outputs",
    "003-kv-block-512-peak-40pct",
    "003-flashattn2-3x",
    "004-progressive-attn-2.3x",
    "004-progressive-attn-16k-mem-58pct",
    "004-attn-weight-prune-0.1",
    "004-kv-block-fragmentation",
}


def test_registry_module_is_listed_for_load_all():
    assert "workloads.attention.registry" in WORKLOAD_MODULES


def test_unknown_size_is_a_value_error():
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        WORKLOADS["attention-dense-sdpa"].build("huge", "cpu", "float32")


def test_every_claim_of_the_issue_has_a_workload():
    served = {c for w in WORKLOADS.values() for c in w.claim_ids}
    assert CLAIMS_OF_ISSUE.issubset(served)


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_tiny_case_matches_reference(name):
    workload = WORKLOADS[name]
    assert set(workload.sizes) == {"tiny", "cpu", "gpu"}
    if "efficient" in name and Backend.EFFICIENT not in available_backends("cpu"):
        with pytest.raises(ValueError, match="efficient"):
            workload.build("tiny", "cpu", "float32")
        return
    case = workload.build("tiny", "cpu", "float32")
    assert case.flops and case.flops > 0
    out = case.fn()
    if case.reference is None:
        return
    ref = case.reference()
    for a, b in zip(
        out if isinstance(out, tuple) else (out,),
        ref if isinstance(ref, tuple) else (ref,),
        strict=True,
    ):
        torch.testing.assert_close(a, b, atol=case.atol, rtol=case.rtol)
