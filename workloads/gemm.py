"""GEMM: the matrix multiply every other workload is judged against.

A plain ``C = A @ B`` of square ``N x N`` matrices. Its achieved FLOP/s is the practical
ceiling of a device for dense work: the seeds quote A100 "312 TFLOPS" (004 §1.3), which is
NVIDIA's dense BF16/FP16 Tensor Core peak; a large GEMM reaches a fraction of it, and a model
step reaches less. On a CPU, the profiler uses this workload as its calibration matmul to
define "peak" when no data-sheet figure applies.

FLOPs = 2·N³ (one multiply and one add per inner-product term); bytes = 3·N²·itemsize
(read A and B, write C once — the compulsory traffic, a lower bound).
"""

from __future__ import annotations

import torch

from workloads.base import Case, Workload, register

SIZES = {"tiny": {"n": 64}, "cpu": {"n": 1024}, "gpu": {"n": 8192}}


def gemm_flops(n: int) -> float:
    """Floating-point operations of an ``n x n`` by ``n x n`` matmul."""
    return 2.0 * n**3


def build(size: str, device: str = "cpu", dtype: str = "float32") -> Case:
    """Two random ``n x n`` matrices on ``device``; the reference multiplies in float64."""
    n = SIZES[size]["n"]
    torch_dtype = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(0)
    a_NN = torch.randn(n, n, generator=gen).to(device=device, dtype=torch_dtype)
    b_NN = torch.randn(n, n, generator=gen).to(device=device, dtype=torch_dtype)

    def reference() -> torch.Tensor:
        return (a_NN.double() @ b_NN.double()).to(torch_dtype)

    itemsize = a_NN.element_size()
    # fp32 sums of n products carry ~sqrt(n)·eps relative error; scale tolerance with n.
    rtol = 1e-2 if itemsize < 4 else 1e-4
    return Case(
        fn=lambda: a_NN @ b_NN,
        flops=gemm_flops(n),
        bytes_moved=3.0 * n * n * itemsize,
        reference=reference,
        params={"n": n},
        atol=rtol * n**0.5,
        rtol=rtol,
    )


WORKLOAD = register(
    Workload(
        name="gemm",
        claim_ids=("004-fp16-312-tflops",),
        sizes=SIZES,
        build=build,
        description="dense N x N matmul; the device's practical FLOP/s ceiling",
    )
)
