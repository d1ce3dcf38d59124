"""Verdicts, the outcome of a check, and the shared rules that turn numbers into verdicts.

A check never writes a verdict by hand from a figure it already knows: it computes a value
(a measurement, a simulation, a formula) and hands it with the claimed figure to one of the
rules below. The rules are deliberately simple and stated here once, so every claim is
judged the same way:

* **Agreement band.** A measured value *supports* a claimed one when their ratio is inside
  ``support`` (relative, symmetric in log space: 10% by default for formulas and
  simulations, 25% for measurements on the machine the claim names, wider across machines);
  it is *partly* supported when it lies on the claimed side of the baseline but outside the
  band (a speed-up that exists but is smaller, a saving that exists but is smaller) or when
  it is within ``partly`` (a factor of 2 by default); otherwise it is *contradicted*.
* **Bounds.** ``>=`` and ``<=`` figures are supported when the measured value satisfies the
  bound within the band, partly when it falls short by less than the ``partly`` factor.
* **Across hardware.** A speed-up measured on a CPU does not confirm or refute a GPU figure:
  such checks return ``needs-gpu`` with what the CPU evidence predicts (see
  :func:`judge_speedup`).

``impossible`` is reserved for claims that violate a physical or mathematical bound, and an
outcome with that verdict must name the bound; ``needs-gpu`` must say what the available
evidence predicts; ``needs-data`` must name the missing dataset, benchmark or model;
``vague`` must say why the claim is not checkable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


class Verdict(StrEnum):
    SUPPORTED = "supported"
    PARTLY = "partly"
    CONTRADICTED = "contradicted"
    IMPOSSIBLE = "impossible"
    NEEDS_GPU = "needs-gpu"
    NEEDS_DATA = "needs-data"
    VAGUE = "vague"
    UNCHECKED = "unchecked"
    ERROR = "error"  # the check raised; its message is the explanation


# Order used by reports: most at odds with the evidence first.
SEVERITY = (
    Verdict.IMPOSSIBLE, Verdict.CONTRADICTED, Verdict.ERROR, Verdict.PARTLY, Verdict.VAGUE,
    Verdict.NEEDS_DATA, Verdict.NEEDS_GPU, Verdict.UNCHECKED, Verdict.SUPPORTED,
)  # fmt: skip


@dataclass(frozen=True)
class Tolerance:
    """Relative agreement bands: ``support`` (e.g. 0.10 = within 10%), ``partly`` (factor)."""

    support: float
    partly: float = 2.0

    def __post_init__(self) -> None:
        if not (0 < self.support < 1 and self.partly > 1):
            raise ValueError(f"need 0 < support({self.support}) < 1 < partly({self.partly})")


ANALYTIC = Tolerance(support=0.10)  # formulas and simulations: 10%
MEASURED = Tolerance(support=0.25)  # measurement on the hardware the claim names: 25%


@dataclass(frozen=True)
class Outcome:
    """What a check concluded about one claim.

    measured/unit: the value the evidence gives for the claimed quantity (None if none).
    claimed: the claimed figure as written (filled from the catalogue when empty).
    evidence: paths of the records the verdict rests on.
    bound / prediction / missing: required for impossible / needs-gpu / needs-data.
    """

    claim_id: str
    verdict: Verdict
    explanation: str
    measured: float | None = None
    unit: str | None = None
    claimed: str = ""
    evidence: tuple[str, ...] = field(default_factory=tuple)
    bound: str | None = None
    prediction: str | None = None
    missing: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "verdict", Verdict(self.verdict))
        needs = {
            Verdict.IMPOSSIBLE: ("bound", self.bound),
            Verdict.NEEDS_GPU: ("prediction", self.prediction),
            Verdict.NEEDS_DATA: ("missing", self.missing),
        }.get(self.verdict)
        if needs and not needs[1]:
            raise ValueError(f"{self.claim_id}: a '{self.verdict}' outcome must give '{needs[0]}'")
        if not self.explanation.strip():
            raise ValueError(f"{self.claim_id}: an outcome needs an explanation")


def log_ratio(measured: float, claimed: float) -> float:
    """|ln(measured / claimed)|: the distance between two positive values, symmetric."""
    if measured <= 0 or claimed <= 0:
        raise ValueError(f"log ratio needs positive values, got {measured} and {claimed}")
    return abs(math.log(measured / claimed))


def judge_value(
    claimed: float, measured: float, relation: str = "=", tol: Tolerance = ANALYTIC
) -> Verdict:
    """Judge a positive measured value against a claimed one under ``relation``.

    ``=``/``~``: supported within ``tol.support``, partly within ``tol.partly`` (a factor),
    contradicted beyond. ``>=``/``>``: supported if measured >= claimed·(1 - support), partly if
    it is at least claimed / partly. ``<=``/``<`` mirrored. A measured value of zero or less
    against a positive claimed one (an exponent that came out flat or negative) is as far
    from it as values get: contradicted.
    """
    if relation in ("=", "~"):
        if measured <= 0 < claimed:
            return Verdict.CONTRADICTED
        distance = log_ratio(measured, claimed)
        if distance <= math.log1p(tol.support):
            return Verdict.SUPPORTED
        return Verdict.PARTLY if distance <= math.log(tol.partly) else Verdict.CONTRADICTED
    if relation in (">=", ">"):
        if measured >= claimed * (1 - tol.support):
            return Verdict.SUPPORTED
        return Verdict.PARTLY if measured >= claimed / tol.partly else Verdict.CONTRADICTED
    if relation in ("<=", "<"):
        if measured <= claimed * (1 + tol.support):
            return Verdict.SUPPORTED
        return Verdict.PARTLY if measured <= claimed * tol.partly else Verdict.CONTRADICTED
    raise ValueError(f"unknown relation {relation!r}")


def judge_reduction(claimed_pct: float, measured_pct: float, tol: Tolerance = ANALYTIC) -> Verdict:
    """Judge a claimed saving ("−75% volume") against a computed or measured one, in percent.

    The saving magnitudes are compared with :func:`judge_value` (so −74.9% supports −75%,
    −28.6% only partly supports −35%); a saving of zero or less (no saving, or a cost)
    contradicts any claimed saving.
    """
    if measured_pct <= 0:
        return Verdict.CONTRADICTED
    return judge_value(claimed_pct, measured_pct, "=", tol)


def judge_speedup(
    claimed_x: float, measured_x: float, same_hardware: bool, tol: Tolerance = MEASURED
) -> Verdict:
    """Judge a claimed speed-up (e.g. 6×) against one measured in the same run (A vs B).

    On the claim's hardware: supported within the band or above it (a larger speed-up
    still supports "N× faster"), partly when 1 < measured below the band, contradicted when
    there is no speed-up at all. On other hardware (a CPU standing in for the GPU the claim
    names) nothing is conclusive either way — kernels that win on one lose on the other —
    so the verdict is ``needs-gpu`` and the check reports what the stand-in predicts.
    """
    if not same_hardware:
        return Verdict.NEEDS_GPU
    if measured_x <= 1.0:
        return Verdict.CONTRADICTED
    if measured_x >= claimed_x * (1 - tol.support):
        return Verdict.SUPPORTED
    return Verdict.PARTLY
