"""Registering checks, and the context a check runs in.

A check is a plain function decorated with :func:`check`, naming the claim ids it judges::

    @check("003-grad-compress-75pct")
    def grad_compression(ctx: CheckContext) -> Outcome:
        ...
        path = ctx.save(record)                       # evidence, stored as a record
        return ctx.outcome(verdict, explanation, measured=..., evidence=[path])

A check for several ids returns a list with one outcome per id. Check modules are listed in
:data:`CHECK_MODULES` and imported on demand, so the CLI starts fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dsbench.claims.catalogue import Claim, get_claim
from dsbench.claims.verdicts import Outcome, Verdict
from dsbench.core import environment, results
from dsbench.core.results import Kind, Metric, Record

Mode = Literal["quick", "full"]

CHECK_MODULES: tuple[str, ...] = (
    "dsbench.claims.checks.analytic",
    "dsbench.claims.checks.external",
    "dsbench.claims.checks.simulator",
    "dsbench.claims.checks.profiler",
    "dsbench.claims.checks.attention",
    "dsbench.claims.checks.models",
    "dsbench.claims.checks.models_encoders",
    "dsbench.claims.checks.models_moe",
    "dsbench.claims.checks.training",
    "dsbench.claims.checks.parallel",
    "dsbench.claims.checks.inference",
    "dsbench.claims.checks.serving",
    "dsbench.claims.checks.failures",
)

CheckFn = Callable[["CheckContext"], "Outcome | list[Outcome]"]


@dataclass(frozen=True)
class Check:
    name: str  # module.function, stable across runs (used to resume)
    claim_ids: tuple[str, ...]
    fn: CheckFn


_CHECKS: dict[str, Check] = {}


def check(*claim_ids: str) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated function as the check for ``claim_ids``."""
    if not claim_ids:
        raise ValueError("a check must name at least one claim id")

    def register(fn: CheckFn) -> CheckFn:
        for claim_id in claim_ids:
            get_claim(claim_id)  # unknown ids fail at import, not at report time
            owner = next((c for c in _CHECKS.values() if claim_id in c.claim_ids), None)
            if owner and owner.fn is not fn:
                raise ValueError(f"claim {claim_id!r} already has a check: {owner.name}")
        name = f"{fn.__module__}.{fn.__qualname__}"
        _CHECKS[name] = Check(name, tuple(claim_ids), fn)
        return fn

    return register


def all_checks() -> dict[str, Check]:
    """Import every check module; return name -> Check."""
    for module in CHECK_MODULES:
        importlib.import_module(module)
    return dict(_CHECKS)


def checks_by_claim() -> dict[str, Check]:
    return {cid: c for c in all_checks().values() for cid in c.claim_ids}


@dataclass
class CheckContext:
    """What a check may use: the run mode, where evidence goes, and helpers to make outcomes.

    mode: ``quick`` (sizes that finish in seconds on a laptop CPU) or ``full``.
    out_dir: the verify run's folder; evidence records go to ``out_dir/records``.
    """

    mode: Mode
    out_dir: Path
    claim_ids: tuple[str, ...] = ()
    saved: list[str] = field(default_factory=list)

    @property
    def quick(self) -> bool:
        return self.mode == "quick"

    def claim(self, claim_id: str | None = None) -> Claim:
        """The catalogue entry (the check's only id when ``claim_id`` is omitted)."""
        if claim_id is None:
            if len(self.claim_ids) != 1:
                raise ValueError(f"check covers {self.claim_ids}; name the claim id")
            claim_id = self.claim_ids[0]
        return get_claim(claim_id)

    def save(self, record: Record) -> str:
        """Store an evidence record; return its path relative to the run folder."""
        path = results.save(record, self.out_dir / "records")
        rel = str(path.relative_to(self.out_dir))
        self.saved.append(rel)
        return rel

    def evidence(
        self,
        name: str,
        metrics: dict[str, tuple[float | None, str]],
        params: dict[str, Any] | None = None,
        kind: Kind = Kind.ANALYTIC,
        **info: Any,
    ) -> str:
        """Build and store a record of computed values ``{metric: (value, unit)}``."""
        record = Record(
            kind=kind,
            name=name,
            params=params or {},
            metrics={k: Metric(v, u) for k, (v, u) in metrics.items()},
            info=info,
            tags=("verify", self.mode),
            environment=environment.capture(),
        )
        return self.save(record)

    def has_cuda(self) -> bool:
        import torch

        return torch.cuda.is_available()


def fill_claimed(outcome: Outcome) -> Outcome:
    """Default ``claimed`` to the catalogue's figure texts when the check left it empty."""
    if outcome.claimed:
        return outcome
    claim = get_claim(outcome.claim_id)
    texts = list(dict.fromkeys(f.text for f in claim.figures))
    claimed = "; ".join(texts) if texts else "(no figure)"
    return Outcome(**{**outcome.__dict__, "claimed": claimed})


def normalise(check_: Check, returned: Outcome | Iterable[Outcome]) -> list[Outcome]:
    """Check that a check returned exactly one outcome per id it is registered for."""
    outcomes = [returned] if isinstance(returned, Outcome) else list(returned)
    got = sorted(o.claim_id for o in outcomes)
    if got != sorted(check_.claim_ids):
        raise ValueError(
            f"{check_.name} returned outcomes for {got}, expected {sorted(check_.claim_ids)}"
        )
    return [fill_claimed(o) for o in outcomes]


def error_outcome(claim_id: str, exc: BaseException) -> Outcome:
    message = f"{type(exc).__name__}: {exc}".strip()
    return fill_claimed(Outcome(claim_id, Verdict.ERROR, f"the check raised {message}"))
