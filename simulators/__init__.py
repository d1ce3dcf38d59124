"""The dsbench cluster simulator: SimPy and numpy, no torch, no dsbench.

Performance of one training step (part 1):

* :mod:`simulators.hardware` — GPU, link and node presets with their published figures;
  :class:`~simulators.hardware.ClusterSpec` for the network between nodes.
* :mod:`simulators.model` — transformer presets, parameter counts, FLOPs per iteration.
* :mod:`simulators.memory` — memory per GPU by component (weights, gradients, optimizer,
  activations with recomputation and sequence parallelism).
* :mod:`simulators.layout` — the DP × PP × TP (× EP) rank grid, shared with ``workloads``.
* :mod:`simulators.compute`, :mod:`simulators.collectives` — pure cost models (GEMM
  efficiency, α–β collectives, gossip, compression); :mod:`simulators.network` — the
  message-level SimPy check of the α–β model.
* :mod:`simulators.pipeline` — one SimPy process per pipeline stage; the bubble emerges.
* :mod:`simulators.scenario` — scenarios (TOML, overrides); :mod:`simulators.engine` —
  :func:`~simulators.engine.run` one iteration; :mod:`simulators.validation` — published runs.

Long runs, cost and sweeps (part 2):

* :mod:`simulators.failures` — component failure rates (Llama 3, Kokolis 2025) and clocks.
* :mod:`simulators.recovery` — checkpoint modes and costs, restart time, Young/Daly, the
  first-order effective training time.
* :mod:`simulators.horizon` — :func:`~simulators.horizon.run_horizon`: days of training
  with failures as SimPy interrupts.
* :mod:`simulators.cost` — price per GPU-hour, energy, cost per token.
* :mod:`simulators.balance`, :mod:`simulators.autoscale`, :mod:`simulators.aggregation` —
  load balancing, cluster autoscaling and gradient-aggregation models for seed claims.
* :mod:`simulators.sweep` — grids of scenario overrides, one tidy row per point.

Bad input raises ``ValueError`` naming the field and value; the CLI turns it into one line.
"""
