"""The claims catalogue: what the seed documents assert, as validated data.

dsbench exists to turn the quantitative claims of five seed documents (Chinese articles on
"DeepSeek" techniques) into verdicts. Every claim lives in ``catalogue.toml`` next to this
module, one ``[[claims]]`` table per row of the per-seed tables of the project's claims
catalogue (``shared/claims.md`` beside the checkout), in the same order and with the same
text; a test keeps the two byte-identical. Checks, workloads and reports refer to a claim
only by its ``id``, which is permanent public API.

Besides the Markdown cells, each claim carries its ``prior_class`` (the word its prior
starts with) and its ``figures``: every number the claim asserts, with an English quantity,
a value, a unit from the closed set :class:`Unit`, a relation (``=``, ``~``, ``>=``...)
and the literal ``text`` as the claim writes it, so a check can compare a measured value
with the claimed one and a report can point at the words it tests.

:func:`load_catalogue` validates everything (unknown or missing keys, unknown kind, unit,
relation or prior class, duplicate ids, empty text, a figure whose text is not in its
claim) and raises :class:`CatalogueError` naming the claim id and the field. This module
imports no torch: listing claims must stay cheap.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from enum import Enum, StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from dsbench.core.errors import DsbenchError

CATALOGUE_RESOURCE = "catalogue.toml"


class Kind(StrEnum):
    """How a claim can be checked (the legend of the claims catalogue)."""

    MEASURE = "measure"  # a workload measured against a baseline
    SIMULATE = "simulate"  # the cluster simulator
    ANALYTIC = "analytic"  # a formula or arithmetic
    QUALITY = "quality"  # needs a trained model and an evaluation
    VAGUE = "vague"  # not checkable as stated


class PriorClass(StrEnum):
    """The expected verdict before any check runs: the first word of the prior."""

    PLAUSIBLE = "plausible"
    DUBIOUS = "dubious"
    IMPOSSIBLE = "impossible"
    WRONG_AS_STATED = "wrong-as-stated"


class Relation(StrEnum):
    """How the claimed quantity relates to the figure's value (quantity REL value)."""

    EQ = "="
    APPROX = "~"  # "about", an order of magnitude ("minute-level")
    GE = ">="
    LE = "<="
    GT = ">"
    LT = "<"


class Unit(StrEnum):
    """The closed set of units a figure may use.

    Percent changes are magnitudes in ``%`` (the quantity says the direction); ``x`` is a
    ratio or speed-up; ``exponent`` is the log-log slope of an asymptotic order (O(n²) → 2);
    ``dimensionless`` is a plain coefficient, weight or threshold.
    """

    PERCENT = "%"
    RATIO = "x"
    SECOND = "s"
    MILLISECOND = "ms"
    MICROSECOND = "us"
    MINUTE = "min"
    HOUR = "h"
    GIGABYTE = "GB"
    TERABYTE = "TB"
    GIGABYTE_PER_SECOND = "GB/s"
    TFLOP_PER_SECOND = "TFLOP/s"
    QUERIES_PER_SECOND = "QPS"
    FRAMES_PER_SECOND = "FPS"
    TOKENS = "tokens"
    PARAMS = "params"
    COUNT = "count"
    BITS = "bits"
    DIMS = "dims"
    BLEU = "BLEU"
    POINTS = "points"
    NODES = "nodes"
    DEVICES = "devices"
    EXPONENT = "exponent"
    DIMENSIONLESS = "dimensionless"


@dataclass(frozen=True)
class Figure:
    """One quantitative figure a claim asserts: ``quantity relation value unit``.

    quantity: what is measured, in English (with the direction for changes).
    value: the number as claimed (a magnitude for percent changes).
    unit: a :class:`Unit`.
    relation: a :class:`Relation`; ``2–4×`` is two figures, ``>= 2`` and ``<= 4``.
    text: the literal as the claim writes it ("98%", "6×"); it occurs in the claim.
    """

    quantity: str
    value: float
    unit: Unit
    relation: Relation
    text: str


@dataclass(frozen=True)
class Claim:
    """One verifiable statement of a seed document.

    id: permanent identifier ``<seed>-<topic>-<key figure>``, e.g. ``000-swa-98pct-accuracy``.
    seed: the seed file name, e.g. ``000_8c181ba133d359c5.txt``.
    section: the seed's own numbering as written ("intro", "2.1", "end").
    claim: the claim in English with its numbers.
    kind: how it can be checked.
    how_to_check: the planned check, in words.
    prior: the expected verdict with a one-line reason.
    prior_class: the leading word of ``prior``.
    figures: every quantitative figure the claim asserts, in the order written.
    """

    id: str
    seed: str
    section: str
    claim: str
    kind: Kind
    how_to_check: str
    prior: str
    prior_class: PriorClass
    figures: tuple[Figure, ...]


class CatalogueError(DsbenchError, ValueError):
    """The catalogue file is malformed; the message names the claim id and the field."""


class UnknownClaimError(DsbenchError, KeyError):
    """A claim id that is not in the catalogue (exact match only, never a fuzzy one)."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want plain text
        return str(self.args[0])


_CLAIM_FIELDS = (
    "id",
    "seed",
    "section",
    "claim",
    "kind",
    "how_to_check",
    "prior",
    "prior_class",
    "figures",
)
_TEXT_FIELDS = ("id", "seed", "section", "claim", "how_to_check", "prior")
_FIGURE_FIELDS = ("quantity", "value", "unit", "relation", "text")


def _enum(cls: type[Enum], value: Any, where: str, field: str) -> Any:
    """``cls(value)``, or a CatalogueError listing the allowed values."""
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in cls)
        raise CatalogueError(
            f"{where}: field {field!r}: unknown value {value!r}; expected one of {allowed}"
        ) from None


def _check_keys(table: Any, expected: tuple[str, ...], where: str, prefix: str = "") -> None:
    """A table must hold exactly the expected keys."""
    if not isinstance(table, dict):
        raise CatalogueError(
            f"{where}: field {prefix.rstrip('.') or 'claims'!r}: "
            f"expected a table, got {type(table).__name__}"
        )
    unknown = sorted(set(table) - set(expected))
    if unknown:
        raise CatalogueError(
            f"{where}: unknown field {prefix + unknown[0]!r}; allowed fields: {', '.join(expected)}"
        )
    missing = [key for key in expected if key not in table]
    if missing:
        raise CatalogueError(f"{where}: missing field {prefix + missing[0]!r}")


def _text(table: dict[str, Any], key: str, where: str, field: str) -> str:
    """A non-blank string."""
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(
            f"{where}: field {field!r}: expected a non-empty string, got {value!r}"
        )
    return value


def _figure(table: Any, claim_text: str, where: str, index: int) -> Figure:
    prefix = f"figures[{index}]."
    _check_keys(table, _FIGURE_FIELDS, where, prefix)
    value = table["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CatalogueError(
            f"{where}: field {prefix + 'value'!r}: expected a finite number, got {value!r}"
        )
    text = _text(table, "text", where, prefix + "text")
    if text not in claim_text:
        raise CatalogueError(
            f"{where}: field {prefix + 'text'!r}: {text!r} does not occur in the claim text"
        )
    return Figure(
        quantity=_text(table, "quantity", where, prefix + "quantity"),
        value=float(value),
        unit=_enum(Unit, table["unit"], where, prefix + "unit"),
        relation=_enum(Relation, table["relation"], where, prefix + "relation"),
        text=text,
    )


def _claim(table: Any, position: int) -> Claim:
    """Validate one ``[[claims]]`` table; ``position`` (1-based) names it when the id is bad."""
    where = f"claim #{position}"
    if isinstance(table, dict) and isinstance(table.get("id"), str) and table["id"].strip():
        where = f"claim {table['id']!r}"
    _check_keys(table, _CLAIM_FIELDS, where)
    text = {key: _text(table, key, where, key) for key in _TEXT_FIELDS}
    if text["id"][:4] != text["seed"][:3] + "-":
        raise CatalogueError(
            f"{where}: field 'id': must start with the seed number "
            f"{text['seed'][:3]!r} of seed {text['seed']!r}"
        )
    prior_class = _enum(PriorClass, table["prior_class"], where, "prior_class")
    if not text["prior"].startswith(prior_class.value):
        raise CatalogueError(
            f"{where}: field 'prior_class': {prior_class.value!r} is not the "
            f"word the prior starts with ({text['prior'][:40]!r}...)"
        )
    figures = table["figures"]
    if not isinstance(figures, list):
        raise CatalogueError(
            f"{where}: field 'figures': expected an array of tables, got {type(figures).__name__}"
        )
    return Claim(
        **text,
        kind=_enum(Kind, table["kind"], where, "kind"),
        prior_class=prior_class,
        figures=tuple(_figure(f, text["claim"], where, i) for i, f in enumerate(figures)),
    )


def parse_catalogue(source: str, origin: str = CATALOGUE_RESOURCE) -> tuple[Claim, ...]:
    """Parse and validate catalogue TOML text; ``origin`` prefixes every error message."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{origin}: not valid TOML: {exc}") from exc
    try:
        if set(data) != {"claims"} or not isinstance(data["claims"], list):
            raise CatalogueError(
                f"top level: expected only an array of [[claims]] tables, got keys {sorted(data)}"
            )
        claims = tuple(_claim(table, n) for n, table in enumerate(data["claims"], start=1))
        seen: set[str] = set()
        for claim in claims:
            if claim.id in seen:
                raise CatalogueError(f"claim {claim.id!r}: field 'id': duplicate id")
            seen.add(claim.id)
    except CatalogueError as exc:
        raise CatalogueError(f"{origin}: {exc}") from None
    return claims


@cache
def _packaged() -> tuple[Claim, ...]:
    resource = resources.files(__package__).joinpath(CATALOGUE_RESOURCE)
    return parse_catalogue(resource.read_text(encoding="utf-8"))


def load_catalogue(path: str | Path | None = None) -> tuple[Claim, ...]:
    """Return every claim, in catalogue order.

    With no ``path`` this is the catalogue packaged with dsbench, parsed once and cached.
    A ``path`` (a test fixture, a draft) is read and validated on every call.
    Raises :class:`CatalogueError` naming the claim id and field of the first problem.
    """
    if path is None:
        return _packaged()
    path = Path(path)
    return parse_catalogue(path.read_text(encoding="utf-8"), origin=str(path))


@cache
def _by_id() -> dict[str, Claim]:
    return {claim.id: claim for claim in _packaged()}


def get_claim(claim_id: str) -> Claim:
    """The packaged claim with exactly this id, or :class:`UnknownClaimError`."""
    try:
        return _by_id()[claim_id]
    except KeyError:
        raise UnknownClaimError(
            f"unknown claim id {claim_id!r}; run `dsbench verify --list` to see the ids"
        ) from None


def claims_by_seed() -> dict[str, tuple[Claim, ...]]:
    """The packaged claims grouped by seed file name, seeds and claims in catalogue order."""
    grouped: dict[str, list[Claim]] = {}
    for claim in _packaged():
        grouped.setdefault(claim.seed, []).append(claim)
    return {seed: tuple(claims) for seed, claims in grouped.items()}
