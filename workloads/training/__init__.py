"""Training-efficiency workloads: recomputation, precision, parallelism, offload, data path."""
