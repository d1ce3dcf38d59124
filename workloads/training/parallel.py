"""Tensor parallelism (Megatron-LM) and data parallelism (DDP) applied to a built LM block.

Tensor parallelism (Shoeybi et al. 2019, "Megatron-LM", §3, fig. 3). A linear ``Y = X Aᵀ``
is split either by output features (*column parallel*: each rank holds rows of ``A`` and
computes a slice of ``Y`` from the full ``X``) or by input features (*row parallel*: each rank
holds columns of ``A``, takes a slice of ``X`` and produces a partial sum of ``Y``). An MLP is
column → GELU → row, attention is heads-split qkv (column) → local attention → proj (row), so
one block needs exactly one all-reduce in forward and one in backward per sub-layer. The two
conjugate operators that make autograd right:

* ``f`` (:class:`CopyToTP`): identity forward, all-reduce backward — before a column linear,
  because every rank's slice of ``Y`` depends on the whole ``X``;
* ``g`` (:class:`ReduceFromTP`): all-reduce forward, identity backward — after a row linear.

:func:`apply_tensor_parallel` wraps a built ``workloads.lm.model.Block`` (never edits it):
it copies this rank's shards of the block's weights into the parallel layers, so the TP block
equals the single-device block in forward and backward (tests spawn 2 gloo ranks).

What the seeds got wrong (run as written by :func:`seed_code_job`):

* 001 §2.2 ``tensor_parallel_forward``: ``num_devices`` is undefined (NameError). Supplied, it
  splits the weight by output columns, multiplies the full ``x`` and *all-reduces* the local
  outputs: that sums different output features together (wrong values, and the width is
  ``out / n``). A column split needs an all-gather; an all-reduce needs a row split with
  ``x`` split the same way.
* 003 §1.1 ``ParallelLinear``: all-gathering a replicated ``x`` makes the input ``world``
  times wider than the weight (``F.linear`` raises). Given a feature-sharded ``x`` the forward
  is right, but ``dist.all_gather`` has no autograd: the output does not require grad, so no
  gradient reaches the weights; ``out_features % world`` columns are silently dropped.

Data parallelism (DDP, gradient compression) lives in :mod:`workloads.training.data_parallel`.

Shape legend: ``B`` batch, ``T`` tokens, ``C`` width, ``H`` heads (``h`` local), ``D`` head dim.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from simulators.layout import Layout

# --- the process group a layer is split over -------------------------------------------------


@dataclass(frozen=True)
class TPGroup:
    """This rank's place in its tensor-parallel group; ``group=None`` is the default group."""

    rank: int
    world: int
    group: Any = None

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world:
            raise ValueError(f"tp rank({self.rank}) not in [0, world({self.world}))")

    @classmethod
    def from_layout(cls, layout: Layout, rank: int) -> TPGroup:
        """Create every TP group of ``layout`` (all ranks must call this) and return ours."""
        mine = None
        for ranks in layout.tp_groups():
            group = dist.new_group(ranks) if len(ranks) < dist.get_world_size() else None
            if rank in ranks:
                mine = cls(ranks.index(rank), len(ranks), group)
        if mine is None:
            raise ValueError(f"rank({rank}) is not in layout of size {layout.size}")
        return mine


def _all_reduce(x: torch.Tensor, tp: TPGroup) -> torch.Tensor:
    if tp.world == 1:
        return x
    x = x.clone()
    dist.all_reduce(x, group=tp.group)
    return x


def _all_gather_last(x: torch.Tensor, tp: TPGroup) -> torch.Tensor:
    if tp.world == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(tp.world)]
    dist.all_gather(parts, x.contiguous(), group=tp.group)
    return torch.cat(parts, dim=-1)


def _own_chunk_last(x: torch.Tensor, tp: TPGroup) -> torch.Tensor:
    return x.chunk(tp.world, dim=-1)[tp.rank].contiguous()


class CopyToTP(torch.autograd.Function):
    """Identity forward, all-reduce backward (Megatron ``f``)."""

    @staticmethod
    def forward(ctx, x, tp: TPGroup):
        ctx.tp = tp
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return _all_reduce(grad, ctx.tp), None


class ReduceFromTP(torch.autograd.Function):
    """All-reduce forward, identity backward (Megatron ``g``)."""

    @staticmethod
    def forward(ctx, x, tp: TPGroup):
        return _all_reduce(x, tp)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class GatherFromTP(torch.autograd.Function):
    """All-gather along the last dim forward, keep own slice backward."""

    @staticmethod
    def forward(ctx, x, tp: TPGroup):
        ctx.tp = tp
        return _all_gather_last(x, tp)

    @staticmethod
    def backward(ctx, grad):
        return _own_chunk_last(grad, ctx.tp), None


class ScatterToTP(torch.autograd.Function):
    """Keep own slice of the last dim forward, all-gather backward."""

    @staticmethod
    def forward(ctx, x, tp: TPGroup):
        ctx.tp = tp
        return _own_chunk_last(x, tp)

    @staticmethod
    def backward(ctx, grad):
        return _all_gather_last(grad, ctx.tp), None


def _even_split(n: int, tp: TPGroup, what: str) -> torch.Tensor:
    if n % tp.world:
        raise ValueError(f"{what}({n}) is not divisible by tp world({tp.world})")
    return torch.arange(n).chunk(tp.world)[tp.rank]


# --- parallel linears ------------------------------------------------------------------------


class ColumnParallelLinear(nn.Module):
    """This rank's output features ``rows`` of ``full``: ``f`` → local linear (→ all-gather)."""

    def __init__(self, full: nn.Linear, tp: TPGroup, rows=None, gather_output: bool = False):
        super().__init__()
        rows = _even_split(full.out_features, tp, "out_features") if rows is None else rows
        self.tp, self.gather_output = tp, gather_output
        self.weight = nn.Parameter(full.weight.detach()[rows].clone())
        self.bias = None if full.bias is None else nn.Parameter(full.bias.detach()[rows].clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(CopyToTP.apply(x, self.tp), self.weight, self.bias)
        return GatherFromTP.apply(y, self.tp) if self.gather_output else y


class RowParallelLinear(nn.Module):
    """This rank's input features ``cols`` of ``full``: local partial sum → ``g``; bias once."""

    def __init__(self, full: nn.Linear, tp: TPGroup, cols=None, input_is_parallel: bool = True):
        super().__init__()
        cols = _even_split(full.in_features, tp, "in_features") if cols is None else cols
        self.tp, self.input_is_parallel = tp, input_is_parallel
        self.weight = nn.Parameter(full.weight.detach()[:, cols].clone())
        self.bias = None if full.bias is None else nn.Parameter(full.bias.detach().clone())

    def partial(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's addend of the output (no communication, no bias)."""
        if not self.input_is_parallel:
            x = ScatterToTP.apply(x, self.tp)
        return F.linear(x, self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = ReduceFromTP.apply(self.partial(x), self.tp)
        return y if self.bias is None else y + self.bias


# --- a tensor-parallel transformer block (wraps workloads.lm.model.Block) ---------------------


class TPAttention(nn.Module):
    """Heads split over ranks: qkv column-parallel by head, proj row-parallel."""

    def __init__(self, attn: nn.Module, tp: TPGroup) -> None:
        super().__init__()
        from workloads.lm.attention import AttnKind

        if attn.spec.kind is not AttnKind.DENSE:
            raise ValueError(f"tensor parallelism needs dense attention, got {attn.spec.kind}")
        if attn.dropout.p:
            raise ValueError(f"tensor parallelism here needs dropout 0, got {attn.dropout.p}")
        heads, c = attn.n_heads, attn.qkv.in_features
        head_ids = _even_split(heads, tp, "n_heads")
        d = c // heads
        feat = (head_ids[:, None] * d + torch.arange(d)).flatten()  # this rank's (h, D) columns
        rows = torch.cat([s * c + feat for s in range(3)])  # q, k, v slices of qkv's output
        self.local_heads, self.head_dim = len(head_ids), d
        self.qkv = ColumnParallelLinear(attn.qkv, tp, rows)
        self.proj = RowParallelLinear(attn.proj, tp, feat)
        self.attend = attn.attend

    def partial(self, x_BTC: torch.Tensor) -> torch.Tensor:
        b, t, _ = x_BTC.shape
        h, d = self.local_heads, self.head_dim
        q, k, v = self.qkv(x_BTC).view(b, t, 3, h, d).permute(2, 0, 3, 1, 4)
        y_BhTD = self.attend(q, k, v)
        return self.proj.partial(y_BhTD.transpose(1, 2).reshape(b, t, h * d))

    def forward(self, x_BTC: torch.Tensor) -> torch.Tensor:
        return ReduceFromTP.apply(self.partial(x_BTC), self.proj.tp)


class TPMLP(nn.Module):
    """``up`` column-parallel → GELU → ``down`` row-parallel."""

    def __init__(self, mlp: nn.Module, tp: TPGroup) -> None:
        super().__init__()
        self.up = ColumnParallelLinear(mlp.up, tp)
        self.down = RowParallelLinear(mlp.down, tp)

    def partial(self, x_BTC: torch.Tensor) -> torch.Tensor:
        return self.down.partial(F.gelu(self.up(x_BTC)))

    def forward(self, x_BTC: torch.Tensor) -> torch.Tensor:
        return ReduceFromTP.apply(self.partial(x_BTC), self.down.tp)


class TPBlock(nn.Module):
    """Pre-norm block with replicated LayerNorms and sharded attention / MLP."""

    def __init__(self, block: nn.Module, tp: TPGroup) -> None:
        super().__init__()
        from workloads.lm.model import MLP

        if not isinstance(block.ffn, MLP):
            raise ValueError(f"tensor parallelism needs the dense MLP, got {type(block.ffn)}")
        self.ln_1, self.ln_2 = copy.deepcopy(block.ln_1), copy.deepcopy(block.ln_2)
        self.attn, self.ffn = TPAttention(block.attn, tp), TPMLP(block.ffn, tp)

    def forward(self, x_BTC: torch.Tensor) -> torch.Tensor:
        x_BTC = x_BTC + self.attn(self.ln_1(x_BTC))
        return x_BTC + self.ffn(self.ln_2(x_BTC))


def apply_tensor_parallel(block: nn.Module, tp: TPGroup) -> TPBlock:
    """This rank's shard of a built LM block (the block itself is left unchanged)."""
    return TPBlock(block, tp)


def tp_shards(block: nn.Module, world: int) -> list[TPBlock]:
    """Every rank's shard of ``block`` in one process (no process group needed)."""
    return [TPBlock(block, TPGroup(r, world)) for r in range(world)]


@torch.no_grad()
def emulate_tp_block(shards: list[TPBlock], x_BTC: torch.Tensor) -> torch.Tensor:
    """Forward of a TP block in one process: every shard's addend, summed.

    The same shards and maths as the distributed block, with the all-reduce replaced by a sum
    over shards (used where no process group exists: the workload case, quick checks).
    """
    h = shards[0].ln_1(x_BTC)
    x_BTC = x_BTC + sum(s.attn.partial(h) for s in shards)
    h = shards[0].ln_2(x_BTC)
    return x_BTC + sum(s.ffn.partial(h) for s in shards)


# --- the seeds' code, as written --------------------------------------------------------------


class SeedParallelLinear(nn.Module):
    """003 §1.1 ``ParallelLinear``, verbatim apart from layout."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.world_size = dist.get_world_size()
        self.rank = dist.get_rank()
        self.out_features_per_rank = out_features // self.world_size
        self.weight = nn.Parameter(
            torch.randn(self.out_features_per_rank, in_features) / math.sqrt(in_features)
        )

    def forward(self, x):
        x_list = [torch.zeros_like(x) for _ in range(self.world_size)]
        dist.all_gather(x_list, x)
        x_stacked = torch.cat(x_list, dim=-1)
        output_local = F.linear(x_stacked, self.weight)
        output_list = [torch.zeros_like(output_local) for _ in range(self.world_size)]
        dist.all_gather(output_list, output_local)
        return torch.cat(output_list, dim=-1)


# The seed calls these without defining them; the obvious meanings are supplied here.
def split_weights(weights, n):
    return list(torch.chunk(weights, n, dim=1))  # weights (in, out) for matmul(x, W)


def matmul(a, b):
    return a @ b


def all_reduce(t):
    dist.all_reduce(t)


def seed_tensor_parallel_forward(x, weights, device_id):
    """001 §2.2 ``tensor_parallel_forward``, verbatim (``num_devices`` is undefined there)."""
    partitioned_weights = split_weights(weights, num_devices)  # noqa: F821 - as in the seed
    local_weights = partitioned_weights[device_id]
    local_output = matmul(x, local_weights)
    all_reduce(local_output)
    return local_output


def seed_tensor_parallel_forward_with_n(x, weights, device_id, num_devices):
    """The same body with ``num_devices`` supplied."""
    partitioned_weights = split_weights(weights, num_devices)
    local_weights = partitioned_weights[device_id]
    local_output = matmul(x, local_weights)
    all_reduce(local_output)
    return local_output


# --- jobs run on every rank (by launch.spawn or torchrun); correctness only -------------------


def tiny_block(seed: int = 0, d_model: int = 32, n_heads: int = 4) -> nn.Module:
    """A dense LM block from ``workloads.lm`` (the model this wraps, built unchanged)."""
    from workloads.lm.config import LMConfig
    from workloads.lm.model import Block

    torch.manual_seed(seed)
    cfg = LMConfig(block_size=64, n_layers=1, n_heads=n_heads, d_model=d_model, d_ff=4 * d_model)
    block = Block(cfg, 0)
    for p in block.parameters():  # non-trivial LayerNorm affine too
        nn.init.normal_(p, 0.0, 0.1 if p.dim() > 1 else 1.0)
    return block


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()


def tp_job(rank: int, world: int, device: str = "cpu", seed: int = 0) -> dict[str, float]:
    """TP block and parallel linears against the single-device ones: max abs errors."""
    tp = TPGroup.from_layout(Layout(tp=world, gpus_per_node=max(world, 1)), rank)
    block = tiny_block(seed).to(device)
    torch.manual_seed(seed + 1)
    x = torch.randn(2, 16, 32, device=device)
    out = {}
    # Whole block: forward, input gradient and the shard of every weight gradient.
    x_ref, x_tp = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ref = block(x_ref)
    y_ref.square().sum().backward()
    tp_block = apply_tensor_parallel(block, tp)
    y_tp = tp_block(x_tp)
    y_tp.square().sum().backward()
    out["block_forward_err"] = _max_err(y_tp, y_ref)
    out["block_input_grad_err"] = _max_err(x_tp.grad, x_ref.grad)
    full_grads = {n: p.grad for n, p in block.named_parameters()}
    shard = {
        n: p for n, p in apply_tensor_parallel(_grads_as_weights(block), tp).named_parameters()
    }
    out["block_weight_grad_err"] = max(
        _max_err(p.grad, shard[n]) for n, p in tp_block.named_parameters()
    )
    out["block_ln_grad_err"] = _max_err(tp_block.ln_1.weight.grad, full_grads["ln_1.weight"])
    # Standalone linears with bias: column (gathered output) and row (scattered input).
    torch.manual_seed(seed + 2)
    lin = nn.Linear(32, 64).to(device)
    for name, layer in (
        ("column", ColumnParallelLinear(lin, tp, gather_output=True)),
        ("row", RowParallelLinear(lin, tp, input_is_parallel=False)),
    ):
        xr, xp = x.clone().requires_grad_(), x.clone().requires_grad_()
        lin.zero_grad()
        lin(xr).sin().sum().backward()
        yp = layer(xp)
        yp.sin().sum().backward()
        out[f"{name}_forward_err"] = _max_err(yp, lin(x))
        out[f"{name}_input_grad_err"] = _max_err(xp.grad, xr.grad)
        ref_w = lin.weight.grad[_even_split(64, tp, "out")] if name == "column" else None
        if ref_w is None:
            ref_w = lin.weight.grad[:, _even_split(32, tp, "in")]
        out[f"{name}_weight_grad_err"] = _max_err(layer.weight.grad, ref_w)
    return out


def _grads_as_weights(block: nn.Module) -> nn.Module:
    """A copy of ``block`` whose weights are its gradients (to shard them the same way)."""
    twin = copy.deepcopy(block)
    with torch.no_grad():
        for p, q in zip(twin.parameters(), block.parameters(), strict=True):
            p.copy_(q.grad)
    return twin


def seed_code_job(rank: int, world: int, device: str = "cpu") -> dict[str, Any]:
    """Run the seeds' TP code as written and record what happens (errors as text)."""
    torch.manual_seed(0)
    ref = nn.Linear(8, 6, bias=False).to(device)
    x = torch.randn(4, 8, device=device)
    out: dict[str, Any] = {}
    layer = SeedParallelLinear(8, 6).to(device)
    try:
        layer(x)
        out["parallel_linear_replicated_x"] = "ran"
    except RuntimeError as exc:
        out["parallel_linear_replicated_x"] = f"RuntimeError: {str(exc).splitlines()[0]}"
    # Give it what its shapes need: a feature shard of x, and the reference's rows as weight.
    x_shard = x.chunk(world, dim=-1)[rank].contiguous()
    with torch.no_grad():
        layer.weight.copy_(ref.weight.chunk(world)[rank])
    y = layer(x_shard)
    out["parallel_linear_sharded_x_forward_err"] = _max_err(y, ref(x))
    out["parallel_linear_output_requires_grad"] = bool(y.requires_grad)
    out["parallel_linear_out7_width"] = SeedParallelLinear(8, 7).to(device)(x_shard).shape[-1]
    weights = ref.weight.t().contiguous()  # (in, out): matmul(x, W) == ref(x)
    try:
        seed_tensor_parallel_forward(x, weights, rank)
        out["tp_forward_as_written"] = "ran"
    except NameError as exc:
        out["tp_forward_as_written"] = f"NameError: {exc}"
    y = seed_tensor_parallel_forward_with_n(x, weights, rank, world)
    full = ref(x).detach()
    out["tp_forward_output_shape"] = list(y.shape)
    out["tp_forward_reference_shape"] = list(full.shape)
    out["tp_forward_err_vs_own_slice"] = _max_err(y, full.chunk(world, dim=-1)[rank])
    out["tp_forward_rel_err_vs_own_slice"] = out["tp_forward_err_vs_own_slice"] / (
        full.abs().max().item()
    )
    return out
