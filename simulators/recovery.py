"""Checkpoints and recovery: what a failure costs and how often to checkpoint.

**Checkpoint size.** Mixed-precision Adam saves 16-bit weights plus FP32 master weights and
the two Adam moments: 2 + 4 + 4 + 4 = 14 bytes per parameter (gradients are not saved), so
GPT-3 175B writes 2.45 TB. (The claims table's "≈ 2.8 TB" counts 16 B, gradients included.)

**Modes** (:class:`CheckpointMode`):

* ``blocking`` — training stops while every rank writes its shard to the shared file system:
  stall δ = size / storage write bandwidth; restart reads it back at the read bandwidth.
* ``async`` — training stops only to copy the shard to host memory over PCIe (CheckFreq,
  Mohan et al. FAST 2021; PyTorch DCP ``async_save``); the file-system write runs in the
  background and the checkpoint counts only once it has finished.
* ``in-memory`` — as async, but the snapshot is also sent to a peer node's memory (Gemini,
  Wang et al. SOSP 2023); it is committed when the copy to the peer is done, and a restart
  loads it from peer memory over the NIC instead of from storage.

**Downtime per interruption** R = detection + replacement + restart + load + warm-up, where
replacement depends on the :class:`Policy` and on whether the failed unit takes its node out
(GPU, host, NIC) or not (link, software).

**Optimum interval.** Young (1974): τ = √(2δM); Daly (2006, FGCS 22) refines it to
τ = √(2δM)·[1 + ⅓√(δ/2M) + δ/18M] − δ for δ < 2M, with δ the checkpoint stall and M the
mean time between interruptions. The first-order effective training time is

    ETTR = τ/(τ+δ) · (1 − (R + (τ+δ)/2)/M)

(useful fraction of a checkpoint cycle, times the fraction of wall time not spent re-doing
the half cycle lost on average to each failure or recovering from it); expanded to first
order it is the familiar 1 − δ/τ − (τ/2 + R)/M. It holds while τ, δ, R ≪ M. An asynchronous
checkpoint is safe only ``commit_s`` after its snapshot, which adds that lag to the loss.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

CHECKPOINT_BYTES_PER_PARAM = 14.0  # bf16 weights 2 + fp32 master 4 + Adam m 4 + v 4


class CheckpointMode(enum.StrEnum):
    BLOCKING = "blocking"
    ASYNC = "async"
    IN_MEMORY = "in-memory"


class Policy(enum.StrEnum):
    """What happens to a node that failed."""

    RESCHEDULE = "reschedule"  # the scheduler assigns another node of the cluster
    SPARE = "spare"  # a hot spare takes over; none left -> wait for a repaired node
    WAIT = "wait"  # the job waits until the failed node is repaired
    SHRINK = "shrink"  # continue with one DP replica fewer (elastic); regrow at a restart


@dataclass(frozen=True)
class RecoveryConfig:
    """``[recovery]``: checkpointing and the cost of coming back after a failure.

    Defaults describe a conventional setup: hourly blocking checkpoints to a parallel file
    system, the 10-minute NCCL watchdog timeout of PyTorch as detection, a rescheduled node.
    Published restart overheads are 5–20 min (Kokolis et al. 2025).
    """

    checkpoint_mode: CheckpointMode = CheckpointMode.BLOCKING
    checkpoint_interval_s: float = 3600.0  # seconds of training between checkpoints; 0 = Daly
    storage_write_bytes_per_s: float = 100e9  # aggregate file-system write bandwidth
    storage_read_bytes_per_s: float = 200e9  # aggregate read bandwidth (restart load)
    host_copy_bytes_per_s: float = 20e9  # per GPU, device -> host snapshot (PCIe 4 x16)
    detection_s: float = 600.0  # failure -> job known dead (NCCL watchdog timeout)
    reschedule_s: float = 600.0  # Policy.RESCHEDULE: find and provision another node
    spare_swap_s: float = 60.0  # Policy.SPARE: bring in a hot spare
    repair_s: float = 2 * 86400.0  # a failed node back in service
    spares: int = 0  # hot spare nodes (Policy.SPARE)
    restart_s: float = 300.0  # relaunch processes, NCCL init, data loader state
    warmup_s: float = 120.0  # until the step time is back to normal
    policy: Policy = Policy.RESCHEDULE

    def __post_init__(self) -> None:
        object.__setattr__(self, "checkpoint_mode", CheckpointMode(self.checkpoint_mode))
        object.__setattr__(self, "policy", Policy(self.policy))
        for name in (
            "checkpoint_interval_s",
            "detection_s",
            "reschedule_s",
            "spare_swap_s",
            "repair_s",
            "restart_s",
            "warmup_s",
        ):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"recovery.{name}({value}) must be a finite number >= 0")
        for name in (
            "storage_write_bytes_per_s",
            "storage_read_bytes_per_s",
            "host_copy_bytes_per_s",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"recovery.{name}({getattr(self, name)}) must be > 0")
        if self.spares < 0:
            raise ValueError(f"recovery.spares({self.spares}) must be >= 0")


@dataclass(frozen=True)
class CheckpointCosts:
    """Seconds: ``stall_s`` training stops, ``commit_s`` after the stall until the
    checkpoint is safe (background write / peer copy), ``load_s`` to read it on restart."""

    size_bytes: float
    stall_s: float
    commit_s: float
    load_s: float


def checkpoint_costs(
    cfg: RecoveryConfig, params: float, gpus: int, nic_bytes_per_s_per_node: float
) -> CheckpointCosts:
    """Costs of one checkpoint of ``params`` parameters sharded over ``gpus`` GPUs."""
    size = params * CHECKPOINT_BYTES_PER_PARAM
    write = size / cfg.storage_write_bytes_per_s
    read = size / cfg.storage_read_bytes_per_s
    snapshot = size / gpus / cfg.host_copy_bytes_per_s
    if cfg.checkpoint_mode is CheckpointMode.BLOCKING:
        return CheckpointCosts(size, write, 0.0, read)
    if cfg.checkpoint_mode is CheckpointMode.ASYNC:
        return CheckpointCosts(size, snapshot, write, read)
    peer = size / (gpus / 8) / nic_bytes_per_s_per_node  # each node's shard to one peer
    return CheckpointCosts(size, snapshot, peer, peer)


def replacement_s(cfg: RecoveryConfig) -> float:
    """Wait for a node under the policy when one is available (spares, rescheduling)."""
    return {
        Policy.RESCHEDULE: cfg.reschedule_s,
        Policy.SPARE: cfg.spare_swap_s,
        Policy.WAIT: cfg.repair_s,
        Policy.SHRINK: 0.0,
    }[cfg.policy]


def restart_downtime_s(cfg: RecoveryConfig, load_s: float, node_lost: bool) -> float:
    """R: detection + replacement (if a node was lost) + restart + load + warm-up."""
    return (
        cfg.detection_s
        + (replacement_s(cfg) if node_lost else 0.0)
        + cfg.restart_s
        + load_s
        + cfg.warmup_s
    )


def young_interval_s(delta_s: float, mttf_s: float) -> float:
    """Young (1974): τ = √(2δM)."""
    return math.sqrt(2.0 * delta_s * mttf_s)


def daly_interval_s(delta_s: float, mttf_s: float) -> float:
    """Daly (2006) higher-order optimum; M when δ >= 2M."""
    if delta_s >= 2.0 * mttf_s:
        return mttf_s
    x = delta_s / (2.0 * mttf_s)
    return math.sqrt(2.0 * delta_s * mttf_s) * (1 + math.sqrt(x) / 3 + x / 9) - delta_s


def first_order_ettr(
    tau_s: float, delta_s: float, downtime_s: float, mttf_s: float, commit_s: float = 0.0
) -> float:
    """ETTR = τ/(τ+δ) · (1 − (R + (τ+δ)/2 + c)/M), floored at 0 (see module docstring).

    ``commit_s`` (c) is the lag of an asynchronous checkpoint: a failure within c of a
    snapshot loses the previous cycle too, which adds c to the expected loss (c < τ + δ).
    """
    cycle = tau_s + delta_s
    if math.isinf(mttf_s):
        return tau_s / cycle
    return max(0.0, tau_s / cycle * (1.0 - (downtime_s + cycle / 2.0 + commit_s) / mttf_s))
