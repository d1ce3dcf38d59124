"""Device telemetry: samplers (NVML, CPU, replay), rolling windows, alerts, the monitor loop.

Nothing here imports torch. See :mod:`dsbench.profiler.telemetry.monitor` for the loop behind
``ds-profiler --metric … --window …``.
"""
