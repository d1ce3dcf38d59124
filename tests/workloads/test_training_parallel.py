"""Tensor and data parallelism on 2 gloo ranks (127.0.0.1) against single-device references.

All distributed jobs run in one spawn (process start-up dominates); each test reads its part.
"""

import pytest
import torch
from torch import nn

from workloads.training import data_parallel as DP
from workloads.training import parallel as P
from workloads.training.launch import RankError, free_port, spawn, suite_job


@pytest.fixture(scope="module")
def ranks():
    return spawn(suite_job, ("cpu", 20), world_size=2, timeout_s=120)


def test_tp_block_equals_single_device_forward_and_backward(ranks):
    for r in ranks:
        tp = r["tp"]
        assert tp["block_forward_err"] < 1e-5
        assert tp["block_input_grad_err"] < 1e-4
        assert tp["block_weight_grad_err"] < 1e-4
        assert tp["block_ln_grad_err"] < 1e-4


def test_column_and_row_parallel_linears_equal_nn_linear(ranks):
    for r in ranks:
        for name in ("column", "row"):
            for what in ("forward", "input_grad", "weight_grad"):
                assert r["tp"][f"{name}_{what}_err"] < 1e-5, (name, what)


def test_seed_parallel_linear_is_wrong(ranks):
    seed = ranks[0]["seed"]
    # replicated x: the gathered input is world times wider than the weight
    assert "cannot be multiplied (4x16 and 8x3)" in seed["parallel_linear_replicated_x"]
    # with a feature-sharded x the values are right, but no gradient can flow
    assert seed["parallel_linear_sharded_x_forward_err"] < 1e-6
    assert seed["parallel_linear_output_requires_grad"] is False
    assert seed["parallel_linear_out7_width"] == 6  # out_features=7 silently loses a column


def test_seed_tensor_parallel_forward_is_wrong(ranks):
    seed = ranks[0]["seed"]
    assert seed["tp_forward_as_written"] == "NameError: name 'num_devices' is not defined"
    assert seed["tp_forward_output_shape"] == [4, 3] != seed["tp_forward_reference_shape"]
    # all-reducing a column split sums different output features
    assert seed["tp_forward_rel_err_vs_own_slice"] > 0.1


def test_ddp_gradients_equal_full_batch(ranks):
    for r in ranks:
        ddp = r["ddp"]
        assert ddp["grad_err"] < 1e-6
        assert ddp["buckets"] > 1  # bucket_cap_mb=0.01 splits the tiny LM's gradients
        assert ddp["allreduce_bytes"] == ddp["param_bytes"]


def test_int8_hook_bytes_and_convergence(ranks):
    comp = ranks[0]["compression"]
    fp32, ef = comp["fp32"], comp["int8-ef"]
    assert ef["payload_bytes"] / ef["fp32_bytes"] < 0.3  # ~1/4 plus scales and padding
    assert ef["losses"][-1] < 0.5 * ef["losses"][0]
    assert abs(ef["losses"][-1] - fp32["losses"][-1]) < 0.1 * fp32["losses"][-1]
    for mode in ("fp32", "int8-ef", "int8"):
        assert comp[mode]["rank_param_diff"] == 0.0  # every rank applies the same update


def test_quantize_roundtrip_error_is_bounded():
    torch.manual_seed(0)
    v = torch.randn(1000)
    q, scale = DP.quantize_int8(v, 128)
    assert q.dtype == torch.int8 and q.numel() == 1024 and scale.numel() == 8
    err = (DP.dequantize_int8(q, scale, 1000) - v).abs()
    assert (err <= scale.repeat_interleave(128)[:1000] / 2 + 1e-7).all()


def test_emulated_tp_block_equals_block():
    block = P.tiny_block(0)
    x = torch.randn(2, 8, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            P.emulate_tp_block(P.tp_shards(block, 4), x), block(x), atol=1e-5, rtol=0
        )


def test_tp_validation_names_values():
    block = P.tiny_block(0, n_heads=4)
    with pytest.raises(ValueError, match=r"n_heads\(4\) is not divisible by tp world\(3\)"):
        P.TPBlock(block, P.TPGroup(0, 3))
    with pytest.raises(ValueError, match="tp rank"):
        P.TPGroup(2, 2)
    with pytest.raises(ValueError, match="out_features"):
        P.ColumnParallelLinear(nn.Linear(4, 5), P.TPGroup(0, 2))


def _boom(rank, world):
    raise ValueError(f"rank {rank} fails")


def test_spawn_reports_rank_failures():
    with pytest.raises(RankError, match="rank 0 fails"):
        spawn(_boom, world_size=1, timeout_s=60)
    assert 0 < free_port() < 65536


def test_registered_workloads_match_their_references_at_tiny():
    from workloads import base
    from workloads.training import registry_parallel as reg

    for w in reg.WORKLOADS:
        assert base.register(w) is w and set(w.sizes) == {"tiny", "cpu", "gpu"}  # idempotent
        case = w.build("tiny", "cpu", "float32")
        out, ref = case.fn(), case.reference()
        assert out.shape == ref.shape, w.name
        torch.testing.assert_close(out, ref, atol=case.atol, rtol=case.rtol, msg=w.name)
    claims = {c for w in reg.WORKLOADS for c in w.claim_ids}
    assert "003-parallel-linear-code" in claims and "002-mmap-loader-tb" in claims
