"""The ``dsbench bench`` families (attention, quality, training, parallel, inference,
serving): each module sweeps workloads over sizes and stores one record per point.
Imports :mod:`dsbench.profiler` and :mod:`dsbench.core`, never the claims or the CLIs."""
