"""Regression detection over stored records: :mod:`compare` (two sets of records,
statistically), :mod:`history` (change points in a series) and :mod:`suite` (the fixed
``dsbench regress`` suite and its baselines)."""
