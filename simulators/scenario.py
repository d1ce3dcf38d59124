"""A simulation scenario: model, system and parallel execution (Calculon's three axes).

Every field has a real default; the default scenario is a GPT-3 175B model on 1000 DGX-A100
nodes (8 000 GPUs) with Megatron-LM's 3D layout. Scenarios load from TOML (``[model]``,
``[system]``, ``[parallel]``, ``[sim]`` tables, and for long runs ``[failures]``,
``[recovery]``, ``[cost]``: :mod:`simulators.failures`, :mod:`simulators.recovery`,
:mod:`simulators.cost`) and accept ``section.field=value`` overrides; the file format is
documented in ``simulators/scenarios/README.md``.

``[model] preset = "megatron-1t"`` starts from a model preset; other keys in the table then
override single fields.
"""

from __future__ import annotations

import dataclasses
import enum
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from simulators.collectives import Algorithm
from simulators.cost import CostConfig
from simulators.failures import FailureConfig
from simulators.hardware import Fabric, node
from simulators.layout import Layout, RankOrder
from simulators.memory import Schedule
from simulators.model import MODELS, Recompute, TransformerSpec, model
from simulators.recovery import RecoveryConfig

SCENARIO_DIR = Path(__file__).parent / "scenarios"


@dataclass(frozen=True)
class SystemConfig:
    """Hardware: ``nodes`` nodes of preset ``node`` on a two-level network."""

    node: str = "dgx-a100"  # a key of simulators.hardware.NODES
    nodes: int = 1000
    fabric: Fabric = Fabric.RAIL
    nodes_per_leaf: int = 32  # nodes under one leaf switch
    oversubscription: float = 1.0  # leaf down/up bandwidth ratio, >= 1
    dtype: str = "bf16"  # matmul precision, a key of GPUSpec.peak_flops
    matmul_efficiency: float = 0.75  # large-GEMM fraction of peak (see simulators.compute)
    memory_efficiency: float = 0.80  # streaming fraction of HBM bandwidth

    def __post_init__(self) -> None:
        node(self.node)  # unknown name -> ValueError listing known ones
        object.__setattr__(self, "fabric", Fabric(self.fabric))
        if self.nodes < 1:
            raise ValueError(f"system.nodes({self.nodes}) must be >= 1")


@dataclass(frozen=True)
class ParallelConfig:
    """Execution: layout, batch, schedule, recomputation and gradient reduction.

    dp is not a field: it is the GPUs left, nodes · gpus_per_node / (tp · pp).
    micro_batches: micro-batches per pipeline per iteration (gradient accumulation), so the
    global batch is dp · micro_batches · micro_batch sequences.
    """

    tp: int = 8
    pp: int = 8
    ep: int = 1
    micro_batch: int = 1
    micro_batches: int = 16
    schedule: Schedule = Schedule.ONE_F_ONE_B
    virtual_stages: int = 1  # interleaved 1F1B chunks per stage
    recompute: Recompute = Recompute.FULL
    sequence_parallel: bool = False
    zero_stage: int = 0
    grad_bytes: int = 2  # bytes per gradient element held and reduced (4: fp32 main grads)
    dp_overlap: bool = True  # overlap bucketed gradient all-reduce with the last backward
    dp_bucket_mb: float = 25.0  # PyTorch DDP default bucket size, MB
    dp_algorithm: Algorithm = Algorithm.AUTO  # ring/tree chosen per bucket
    grad_compression_bits: int = 16  # 8 or 4: quantised gradients with per-bucket scales
    rank_order: RankOrder = RankOrder.TP_DP_PP
    allow_tp_across_nodes: bool = False

    def __post_init__(self) -> None:
        for name, enum_type in (
            ("schedule", Schedule),
            ("recompute", Recompute),
            ("dp_algorithm", Algorithm),
            ("rank_order", RankOrder),
        ):
            object.__setattr__(self, name, enum_type(getattr(self, name)))
        for f in ("tp", "pp", "ep", "micro_batch", "micro_batches", "virtual_stages"):
            if getattr(self, f) < 1:
                raise ValueError(f"parallel.{f}({getattr(self, f)}) must be >= 1")
        if self.dp_bucket_mb <= 0:
            raise ValueError(f"parallel.dp_bucket_mb({self.dp_bucket_mb}) must be > 0")
        if self.grad_compression_bits not in (4, 8, 16, 32):
            raise ValueError(
                f"parallel.grad_compression_bits({self.grad_compression_bits}) "
                "must be 4, 8, 16 or 32"
            )
        if self.virtual_stages > 1 and self.schedule is Schedule.GPIPE:
            raise ValueError("parallel.virtual_stages > 1 needs schedule = '1f1b'")


@dataclass(frozen=True)
class SimConfig:
    """How to simulate: iterations in the Chrome trace, and whether to refuse a model that
    does not fit in GPU memory."""

    trace_iterations: int = 2
    check_memory: bool = True

    def __post_init__(self) -> None:
        if self.trace_iterations < 1:
            raise ValueError(f"sim.trace_iterations({self.trace_iterations}) must be >= 1")


@dataclass(frozen=True)
class Scenario:
    """Model × system × execution, plus failures, recovery and cost for long horizons."""

    name: str = "default"
    model: TransformerSpec = field(default_factory=lambda: MODELS["gpt3-175b"])
    system: SystemConfig = field(default_factory=SystemConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    failures: FailureConfig = field(default_factory=FailureConfig)
    recovery: RecoveryConfig = field(default_factory=RecoveryConfig)
    cost: CostConfig = field(default_factory=CostConfig)

    def __post_init__(self) -> None:
        lay = self.layout()
        lay.check_layers(self.model.layers, self.parallel.virtual_stages)
        lay.check_heads(self.model.heads)
        lay.check_experts(self.model.experts)

    def layout(self) -> Layout:
        g = node(self.system.node).gpus_per_node
        return Layout.for_world(
            self.system.nodes * g,
            self.parallel.tp,
            self.parallel.pp,
            ep=self.parallel.ep,
            gpus_per_node=g,
            order=self.parallel.rank_order,
            allow_tp_across_nodes=self.parallel.allow_tp_across_nodes,
        )

    @property
    def global_batch(self) -> int:
        """Sequences per iteration: dp · micro_batches · micro_batch."""
        return self.layout().dp * self.parallel.micro_batches * self.parallel.micro_batch


# --- overrides and TOML ------------------------------------------------------------------

SECTIONS = ("model", "system", "parallel", "sim", "failures", "recovery", "cost")


def _convert(value: object, annotation: object, where: str) -> object:
    """Coerce a TOML value or an override string to the field's declared type."""
    hint = annotation
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    try:
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return hint(value)
        if hint is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes", "on"):
                return True
            if str(value).lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if hint is str:
            return str(value)
    except (ValueError, TypeError):
        pass
    else:
        return value
    choices = ""
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        choices = f" (one of {', '.join(e.value for e in hint)})"
    raise ValueError(f"{where}: cannot use {value!r} as {getattr(hint, '__name__', hint)}{choices}")


def _hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls)


def _update(obj: object, section: str, values: dict[str, object]) -> object:
    hints = _hints(type(obj))
    names = {f.name for f in fields(obj)}
    changes = {}
    for key, raw in values.items():
        if key not in names:
            raise ValueError(
                f"unknown field {section}.{key}; known: "
                f"{', '.join(sorted(n for n in names if n != 'name'))}"
            )
        changes[key] = _convert(raw, hints[key], f"{section}.{key}")
    return replace(obj, **changes)


def _apply_section(parts: dict[str, object], section: str, values: dict[str, object]) -> None:
    """Update ``parts[section]`` in place; the scenario is validated once, at the end."""
    if section not in SECTIONS:
        raise ValueError(f"unknown section {section!r}; known: {', '.join(SECTIONS)}")
    current = parts[section]
    values = dict(values)
    if section == "model" and "preset" in values:
        current = model(str(values.pop("preset")))
    parts[section] = _update(current, section, values)


def _parts(scn: Scenario) -> dict[str, object]:
    return {s: getattr(scn, s) for s in SECTIONS}


def apply_overrides(scenario: Scenario, overrides: list[str]) -> Scenario:
    """Apply ``section.field=value`` strings in order (``model.preset=NAME`` swaps the model).

    ValueError names the bad field or value; the result is validated as a whole.
    """
    parts = _parts(scenario)
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise ValueError(f"override {item!r} is not of the form section.field=value")
        _apply_section(parts, section, {name: value.strip()})
    return Scenario(name=scenario.name, **parts)


def from_dict(data: dict, name: str = "custom") -> Scenario:
    """Build a scenario from nested tables (as TOML gives them) over the defaults."""
    parts = _parts(Scenario())
    for key, values in data.items():
        if key == "name":
            continue
        if not isinstance(values, dict):
            raise ValueError(f"scenario key {key!r} must be a table ([{key}])")
        _apply_section(parts, key, values)
    return Scenario(name=str(data.get("name", name)), **parts)


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A named scenario from ``simulators/scenarios/NAME.toml`` or a TOML file path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = SCENARIO_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise ValueError(
                f"unknown scenario {str(name_or_path)!r}; known: {', '.join(scenario_names())}"
            )
    elif not path.exists():
        raise ValueError(f"scenario file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"scenario file {path.name}: {exc}") from exc
    return from_dict(data, name=path.stem)


def scenario_names() -> list[str]:
    """Names of the scenarios shipped in ``simulators/scenarios/``."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def to_dict(scn: Scenario) -> dict:
    """JSON-able nested dict of every field (enums as their values)."""

    def plain(v: object) -> object:
        return v.value if isinstance(v, enum.Enum) else v

    return {
        "name": scn.name,
        **{
            s: {k: plain(v) for k, v in dataclasses.asdict(getattr(scn, s)).items()}
            for s in SECTIONS
        },
    }
