"""Inference-efficiency workloads, each applied to an already built model by functions.

Quantisation and pruning: ``quantize`` (dynamic int8, weight-only int8/int4, simulated fp4
e2m1, int8 GEMM on CUDA, int4 post-training rounding vs quantisation-aware fine-tuning),
``prune`` (global magnitude and L1 channel pruning, parameter and FLOP counts), ``cnn`` (a
small CNN on scikit-learn's bundled digits, the offline stand-in for ResNet-50/ImageNet),
``zoo`` (the named models that are built, trained and evaluated), ``comparisons`` (each
technique against its unoptimised twin, as rows). Serving, latency and retrieval: ``serving``,
``service``, ``latency``, ``retrieval``. The ``registry_*`` modules register workloads;
importing this package registers nothing.
"""
