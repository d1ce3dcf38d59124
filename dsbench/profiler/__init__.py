"""ds-profiler's library: workload measurement (:mod:`measure`), interleaved A/B statistics
(:mod:`ab`, :mod:`ab_workloads`), profiled runs (:mod:`run`), ``torch.profiler`` traces
(:mod:`trace`) and live telemetry (:mod:`telemetry`). Imports only :mod:`dsbench.core`."""
