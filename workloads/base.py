"""The contract between a workload and whatever measures it.

A *workload* is one technique from the seeds, implemented in plain PyTorch. It describes
itself with a :class:`Workload`: a name, the claim ids it serves, the sizes it runs at and a
``build(size, device, dtype)`` that returns a :class:`Case`. A case is everything a timer
needs: the zero-argument callable to time, its analytic FLOPs and bytes per call (so a
measurement can be reported as achieved-versus-possible), and a slow, obviously-correct
reference that produces the same output, so every fast path can be checked before it is
timed.

Sizes are fixed names: ``tiny`` (unit tests, milliseconds), ``cpu`` (meaningful on a
2-core CPU in seconds) and ``gpu`` (meaningful on one data-centre GPU).

This module imports no torch, so the registry can be listed cheaply.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Size = Literal["tiny", "cpu", "gpu"]
SIZES: tuple[Size, ...] = ("tiny", "cpu", "gpu")


@dataclass(frozen=True)
class Case:
    """One runnable instance of a workload at a concrete size.

    fn: the zero-argument callable to time; its return value is the output.
    flops: analytic floating-point operations per call of ``fn`` (None if not meaningful).
    bytes_moved: analytic bytes read + written per call (None if not meaningful).
    reference: zero-argument callable computing the same output slowly and obviously
        correctly, or None when the workload *is* the reference.
    params: the concrete parameters of this case (shapes, window, k, ...), JSON-able.
    atol / rtol: tolerances for comparing ``fn()`` with ``reference()``.
    """

    fn: Callable[[], Any]
    flops: float | None = None
    bytes_moved: float | None = None
    reference: Callable[[], Any] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    atol: float = 1e-5
    rtol: float = 1e-4


@dataclass(frozen=True)
class Workload:
    """A registered technique.

    name: unique, lower-case, dash-separated (``attention-sliding-window``).
    claim_ids: the catalogue ids this workload provides evidence for.
    sizes: size name -> the parameters used at that size.
    build: ``build(size, device, dtype) -> Case``; ``device``/``dtype`` are strings
        (``"cpu"``, ``"cuda"``; ``"float32"``, ``"bfloat16"``...).
    description: one line for ``dsbench list``.
    """

    name: str
    claim_ids: tuple[str, ...]
    sizes: Mapping[str, Mapping[str, Any]]
    build: Callable[[str, str, str], Case]
    description: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.sizes) - set(SIZES)
        if unknown:
            raise ValueError(
                f"workload {self.name!r}: unknown sizes {sorted(unknown)}; use {SIZES}"
            )


class UnknownWorkload(KeyError):
    """Raised when a name is not in the registry; the message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want plain text
        return str(self.args[0])


_REGISTRY: dict[str, Workload] = {}

# Modules that register workloads when imported. Listed explicitly (no scanning) so that
# start-up cost is predictable and a broken module fails loudly.
WORKLOAD_MODULES: tuple[str, ...] = (
    "workloads.attention.registry",
    "workloads.gemm",
    "workloads.moe",
    "workloads.dynamic_depth",
    "workloads.kg",
    "workloads.multimodal",
    "workloads.lm.registry",
    "workloads.training.registry",
    "workloads.training.registry_parallel",
    "workloads.inference.registry_quant",
    "workloads.inference.registry_serving",
)


def register(workload: Workload) -> Workload:
    """Add a workload to the registry; a second workload with the same name is an error."""
    if workload.name in _REGISTRY and _REGISTRY[workload.name] is not workload:
        raise ValueError(f"workload {workload.name!r} is registered twice")
    _REGISTRY[workload.name] = workload
    return workload


def load_all() -> dict[str, Workload]:
    """Import every workload module and return the registry (name -> Workload)."""
    for module in WORKLOAD_MODULES:
        importlib.import_module(module)
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> Workload:
    """Return the workload called ``name`` (exact match) or raise :class:`UnknownWorkload`."""
    registry = load_all()
    if name not in registry:
        known = ", ".join(registry) or "none registered yet"
        raise UnknownWorkload(f"unknown workload {name!r}; known workloads: {known}")
    return registry[name]
