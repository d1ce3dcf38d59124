"""Cost and energy of a training run: GPU-hours × price, GPU power × PUE.

Cost = GPUs × wall hours × price per GPU-hour (a cloud price already includes power, so
energy is reported next to it, not added to it). Energy = (GPUs × GPU power + nodes × host
power) × wall hours × PUE. Cost per million tokens divides by the tokens of *useful*
iterations (work redone after a failure is paid for twice), cost per useful hour by the
useful training hours.

Prices (:data:`GPU_HOUR_USD`), on-demand, per GPU-hour:

* A100-40GB: AWS p4d.24xlarge (8× A100-40GB) at $21.957642/h in us-east-1 (hyperscaler
  price list of 2026, datareceipts/data-receipts ``109-gpu-pricing``) → $2.745.
* H100-SXM: AWS p5.48xlarge (8× H100) at $55.04/h (same list) → $6.88.
* A100-80GB: AWS p4de.24xlarge at $40.97/h → $5.12 (list price from memory; override it).
* H200: no verified on-demand price; the H100 price is used (override it).

Power: the GPU board power (TDP) of :mod:`simulators.hardware` (A100 SXM 400 W, H100/H200
700 W) times ``gpu_power_fraction``; the host adds ``host_power_w`` per node (0 by default,
so the energy is that of the GPUs alone). PUE 1.2 is a modern hyperscale data centre (the
Uptime Institute's industry average is about 1.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GPU_HOUR_USD: dict[str, float] = {
    "A100-40GB": 21.957642 / 8,
    "A100-80GB": 40.97 / 8,
    "H100-SXM": 55.04 / 8,
    "H200": 55.04 / 8,
}


@dataclass(frozen=True)
class CostConfig:
    """``[cost]``: price and power. ``gpu_hour_usd`` unset = the table price of the GPU."""

    gpu_hour_usd: float | None = None
    pue: float = 1.2
    gpu_power_fraction: float = 1.0  # average board power / TDP while training
    host_power_w: float = 0.0  # CPU, memory, NICs, fans per node

    def __post_init__(self) -> None:
        if self.gpu_hour_usd is not None and not (
            self.gpu_hour_usd >= 0 and math.isfinite(self.gpu_hour_usd)
        ):
            raise ValueError(f"cost.gpu_hour_usd({self.gpu_hour_usd}) must be >= 0")
        if not (1.0 <= self.pue < 10):
            raise ValueError(f"cost.pue({self.pue}) must be in [1, 10)")
        if not (0 < self.gpu_power_fraction <= 1.5):
            raise ValueError(
                f"cost.gpu_power_fraction({self.gpu_power_fraction}) must be in (0, 1.5]"
            )
        if not (self.host_power_w >= 0 and math.isfinite(self.host_power_w)):
            raise ValueError(f"cost.host_power_w({self.host_power_w}) must be >= 0")

    def price_per_gpu_hour(self, gpu_name: str) -> float:
        if self.gpu_hour_usd is not None:
            return self.gpu_hour_usd
        if gpu_name not in GPU_HOUR_USD:
            raise ValueError(
                f"no price for GPU {gpu_name!r}; set cost.gpu_hour_usd "
                f"(known: {', '.join(GPU_HOUR_USD)})"
            )
        return GPU_HOUR_USD[gpu_name]


@dataclass(frozen=True)
class CostReport:
    """Totals over ``wall_s`` of which ``useful_s`` trained; ``tokens`` useful tokens."""

    gpu_hours: float
    cost_usd: float
    energy_kwh: float
    usd_per_million_tokens: float
    usd_per_useful_hour: float

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def cost_of(
    cfg: CostConfig,
    *,
    gpu_name: str,
    gpu_tdp_w: float,
    gpus: int,
    nodes: int,
    wall_s: float,
    useful_s: float,
    tokens: float,
) -> CostReport:
    """Cost and energy of ``gpus`` GPUs held for ``wall_s`` seconds."""
    hours = wall_s / 3600.0
    gpu_hours = gpus * hours
    cost = gpu_hours * cfg.price_per_gpu_hour(gpu_name)
    watts = gpus * gpu_tdp_w * cfg.gpu_power_fraction + nodes * cfg.host_power_w
    energy = watts * hours * cfg.pue / 1000.0
    per_mtok = cost / (tokens / 1e6) if tokens > 0 else math.inf
    per_useful_h = cost / (useful_s / 3600.0) if useful_s > 0 else math.inf
    return CostReport(gpu_hours, cost, energy, per_mtok, per_useful_h)
