"""Simulator speed: wall time and simulated events/s next to SimPy's raw event rate.

Run: ``python benchmarks/simulators_speed.py``. Prints one line per cluster size.
"""

from __future__ import annotations

import time

import simpy

from simulators.engine import run
from simulators.scenario import Scenario, apply_overrides


def raw_simpy_events_per_s(n: int = 200_000) -> float:
    """Timeouts per second of a bare SimPy process on this machine."""
    env = simpy.Environment()

    def proc():
        for _ in range(n):
            yield env.timeout(1.0)

    env.process(proc())
    t0 = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - t0)


def time_scenario(overrides: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    r = run(apply_overrides(Scenario(), overrides))
    return time.perf_counter() - t0, r.simpy_events


def main() -> None:
    raw = raw_simpy_events_per_s()
    print(f"raw SimPy: {raw:,.0f} events/s")
    for nodes, extra in (
        (1000, []),
        (10000, []),
        (384, ["model.preset=megatron-1t", "parallel.pp=64", "parallel.micro_batches=512"]),
    ):
        wall, events = time_scenario([f"system.nodes={nodes}", *extra])
        print(
            f"nodes={nodes:>6} {' '.join(extra) or 'default'}: {wall:.3f} s wall, "
            f"{events} events, {events / wall:,.0f} events/s ({events / wall / raw:.0%} of raw)"
        )


if __name__ == "__main__":
    main()
