"""dsbench: a profiling, simulation and benchmarking workbench for large-model systems.

The package holds everything that knows about files, command lines and results; the
kernels live in :mod:`workloads` and the cluster simulator in :mod:`simulators`.
"""

__version__ = "0.1.0"
