"""The DP × PP × TP (× EP) rank grid, shared by the simulator and real process groups.

Pure Python (no torch): ``workloads`` builds ``torch.distributed`` groups from
:meth:`Layout.tp_groups` and friends, and the simulator costs the same groups, so both agree
on who talks to whom.

Rank order. Ranks are numbered with tensor parallelism fastest so that a TP group is a run
of consecutive ranks inside one node (its all-reduces ride NVLink). Megatron-LM's
``initialize_model_parallel`` then varies data parallelism and finally pipeline stages
(order ``tp-dp-pp``; e.g. 16 GPUs, t=2, p=4, d=2: TP groups [0,1] [2,3] …, DP groups [0,2]
[1,3] [4,6] …, PP groups [0,4,8,12] …). ``tp-pp-dp`` puts the stages of one pipeline next to
each other instead (pipeline sends stay inside a node when t·p ≤ G).

Expert parallelism (MoE) splits each DP group into ``dp / ep`` groups of ``ep`` consecutive
DP ranks that exchange tokens with all-to-all; it does not change the world size.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class RankOrder(StrEnum):
    """Which axis varies fastest after TP."""

    TP_DP_PP = "tp-dp-pp"  # Megatron-LM default
    TP_PP_DP = "tp-pp-dp"


class Coord(NamedTuple):
    """A rank's position in the grid."""

    dp: int
    pp: int
    tp: int


@dataclass(frozen=True)
class Layout:
    """A DP × PP × TP layout of ``world_size`` GPUs on nodes of ``gpus_per_node``.

    world_size: number of GPUs; None means dp·pp·tp.
    ep: expert-parallel size (divides dp; 1 for dense models).
    allow_tp_across_nodes: permit a TP group larger than a node (slow; off by default).
    """

    tp: int = 1
    pp: int = 1
    dp: int = 1
    ep: int = 1
    gpus_per_node: int = 8
    world_size: int | None = None
    order: RankOrder = RankOrder.TP_DP_PP
    allow_tp_across_nodes: bool = False

    def __post_init__(self) -> None:
        for f in ("tp", "pp", "dp", "ep", "gpus_per_node"):
            if getattr(self, f) < 1:
                raise ValueError(f"layout: {f}({getattr(self, f)}) must be >= 1")
        object.__setattr__(self, "order", RankOrder(self.order))
        product = self.dp * self.pp * self.tp
        if self.world_size is not None and product != self.world_size:
            raise ValueError(
                f"layout: dp({self.dp}) * pp({self.pp}) * tp({self.tp}) = "
                f"{product} != world_size({self.world_size})"
            )
        if self.dp % self.ep:
            raise ValueError(f"layout: dp({self.dp}) is not divisible by ep({self.ep})")
        g = self.gpus_per_node
        if self.tp <= g and g % self.tp:
            raise ValueError(
                f"layout: gpus_per_node({g}) is not divisible by tp({self.tp}); "
                f"a TP group would straddle two nodes"
            )
        if self.tp > g and not self.allow_tp_across_nodes:
            raise ValueError(
                f"layout: tp({self.tp}) > gpus_per_node({g}); TP across nodes "
                f"needs allow_tp_across_nodes=True"
            )
        if self.tp > g and self.tp % g:
            raise ValueError(f"layout: tp({self.tp}) is not a multiple of gpus_per_node({g})")

    @classmethod
    def for_world(cls, world_size: int, tp: int = 1, pp: int = 1, **kwargs) -> Layout:
        """The layout with dp = world_size / (tp·pp); ValueError when it does not divide."""
        if world_size < 1 or world_size % (tp * pp):
            raise ValueError(
                f"layout: world_size({world_size}) is not divisible by "
                f"tp({tp}) * pp({pp}) = {tp * pp}"
            )
        return cls(tp=tp, pp=pp, dp=world_size // (tp * pp), world_size=world_size, **kwargs)

    # --- sizes -------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.dp * self.pp * self.tp

    @property
    def num_nodes(self) -> int:
        return -(-self.size // self.gpus_per_node)

    # --- coordinates -------------------------------------------------------------------
    def coords(self, rank: int) -> Coord:
        """(dp, pp, tp) of ``rank``."""
        if not 0 <= rank < self.size:
            raise ValueError(f"layout: rank({rank}) not in [0, {self.size})")
        tp, rest = rank % self.tp, rank // self.tp
        if self.order is RankOrder.TP_DP_PP:
            return Coord(dp=rest % self.dp, pp=rest // self.dp, tp=tp)
        return Coord(dp=rest // self.pp, pp=rest % self.pp, tp=tp)

    def rank(self, dp: int, pp: int, tp: int) -> int:
        """Inverse of :meth:`coords`."""
        if not (0 <= dp < self.dp and 0 <= pp < self.pp and 0 <= tp < self.tp):
            raise ValueError(
                f"layout: coordinate (dp={dp}, pp={pp}, tp={tp}) outside "
                f"dp({self.dp}) x pp({self.pp}) x tp({self.tp})"
            )
        if self.order is RankOrder.TP_DP_PP:
            return tp + self.tp * (dp + self.dp * pp)
        return tp + self.tp * (pp + self.pp * dp)

    def node_of(self, rank: int) -> int:
        self.coords(rank)
        return rank // self.gpus_per_node

    # --- groups ------------------------------------------------------------------------
    def tp_groups(self) -> list[list[int]]:
        """Ranks that share a layer's shards, one list per (dp, pp)."""
        return [
            [self.rank(d, p, t) for t in range(self.tp)]
            for p in range(self.pp)
            for d in range(self.dp)
        ]

    def pp_groups(self) -> list[list[int]]:
        """The stages of one pipeline in stage order, one list per (dp, tp)."""
        return [
            [self.rank(d, p, t) for p in range(self.pp)]
            for d in range(self.dp)
            for t in range(self.tp)
        ]

    def dp_groups(self) -> list[list[int]]:
        """Replicas of the same shard, which all-reduce gradients, one list per (pp, tp)."""
        return [
            [self.rank(d, p, t) for d in range(self.dp)]
            for p in range(self.pp)
            for t in range(self.tp)
        ]

    def ep_groups(self) -> list[list[int]]:
        """Expert-parallel groups: ``ep`` consecutive DP ranks of each DP group."""
        return [g[i : i + self.ep] for g in self.dp_groups() for i in range(0, self.dp, self.ep)]

    def nodes_spanned(self, group: list[int]) -> int:
        """How many distinct nodes a group touches."""
        return len({r // self.gpus_per_node for r in group})

    def ranks_per_node_in(self, group: list[int]) -> int:
        """The most members of ``group`` that share one node."""
        counts: dict[int, int] = {}
        for r in group:
            counts[r // self.gpus_per_node] = counts.get(r // self.gpus_per_node, 0) + 1
        return max(counts.values())

    # --- checks against a model --------------------------------------------------------
    def check_layers(self, layers: int, virtual_stages: int = 1) -> None:
        """ValueError unless ``layers`` splits evenly into pp·v pipeline chunks."""
        chunks = self.pp * virtual_stages
        if layers % chunks:
            raise ValueError(
                f"layout: layers({layers}) is not divisible by pp({self.pp}) * "
                f"virtual_stages({virtual_stages}) = {chunks}"
            )

    def check_heads(self, heads: int, kv_heads: int | None = None) -> None:
        """ValueError unless attention heads (and KV heads) split evenly over tp."""
        if heads % self.tp:
            raise ValueError(f"layout: heads({heads}) is not divisible by tp({self.tp})")
        if kv_heads is not None and kv_heads % self.tp and self.tp % kv_heads:
            raise ValueError(f"layout: kv_heads({kv_heads}) and tp({self.tp}) do not divide")

    def check_experts(self, experts: int) -> None:
        if experts % self.ep:
            raise ValueError(f"layout: experts({experts}) is not divisible by ep({self.ep})")
