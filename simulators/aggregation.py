"""Gradient aggregation strategies and how often each synchronises globally.

Three ways to aggregate data-parallel gradients on nodes of g GPUs:

* ``flat`` — one ring all-reduce over all g·n GPUs every step (one global sync per step).
* ``hierarchical`` — intra-node reduce-scatter, inter-node all-reduce of N/g, intra-node
  all-gather, every step (:func:`simulators.collectives.hierarchical_all_reduce_s`). It
  changes *how* the global sync runs (fewer inter-node α steps, N/g bytes per NIC share),
  not *how often*: still one global sync per step.
* ``two-level`` — hierarchical local SGD (Lin et al. 2020, "Don't use large mini-batches,
  use local SGD", ICLR): gradients are all-reduced inside the node every step, and the
  nodes average their models with a hierarchical all-reduce only every ``every`` steps.
  Global syncs per step = 1/every (every = 2.5 ⇒ −60%). This is a different optimiser:
  replicas drift apart between syncs, so convergence must be checked separately.

Times are the α–β costs of :mod:`simulators.collectives`, per training step.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulators import collectives as co


@dataclass(frozen=True)
class SyncCost:
    """Communication per step and global synchronisations per step."""

    strategy: str
    comm_s: float
    global_syncs_per_step: float


def aggregation_costs(
    size_bytes: float,
    gpus_per_node: int,
    nodes: int,
    intra_bytes_per_s: float,
    intra_alpha_s: float,
    inter_bytes_per_s_per_gpu: float,
    inter_alpha_s: float,
    every: float = 2.5,
) -> dict[str, SyncCost]:
    """Flat, hierarchical and two-level (global sync every ``every`` steps) aggregation."""
    if every < 1:
        raise ValueError(f"every({every}) must be >= 1 step")
    args = (
        size_bytes,
        gpus_per_node,
        nodes,
        intra_bytes_per_s,
        intra_alpha_s,
        inter_bytes_per_s_per_gpu,
        inter_alpha_s,
    )
    flat = co.flat_ring_all_reduce_s(*args)
    hier = co.hierarchical_all_reduce_s(*args)
    intra = co.ring_all_reduce_s(size_bytes, gpus_per_node, intra_bytes_per_s, intra_alpha_s)
    return {
        "flat": SyncCost("flat", flat, 1.0),
        "hierarchical": SyncCost("hierarchical", hier, 1.0),
        "two-level": SyncCost("two-level", intra + hier / every, 1.0 / every),
    }
