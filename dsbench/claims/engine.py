"""Run the checks, store every verdict as a record, resume after an interruption.

``verify(out_dir, mode)`` walks the catalogue in order. For each registered check not yet
finished in ``out_dir`` (unless ``force``), it runs the check, stores one verdict record per
claim in ``out_dir/records`` and notes the check as finished in ``out_dir/state.json``
(rewritten atomically after each check). A check that raises yields ``error`` outcomes with
its message and the run goes on. Claims without a check are reported ``unchecked`` — shown,
never hidden. Interrupting the run (Ctrl-C) loses at most the check that was running.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsbench.claims.catalogue import Claim, get_claim, load_catalogue
from dsbench.claims.registry import (
    Check,
    CheckContext,
    Mode,
    checks_by_claim,
    error_outcome,
    fill_claimed,
    normalise,
)
from dsbench.claims.verdicts import Outcome, Verdict
from dsbench.core import environment, results
from dsbench.core.errors import DsbenchError
from dsbench.core.results import Kind, Metric, Record

STATE_FILE = "state.json"


@dataclass(frozen=True)
class ClaimResult:
    """One row of the report: a catalogue claim and what its check concluded."""

    claim: Claim
    outcome: Outcome
    record: str | None  # the verdict record, relative to the run folder
    check: str | None  # the check's name, None when unchecked

    @property
    def reproduce(self) -> str:
        return f"dsbench verify --only {self.claim.id} --force"

    def to_json(self) -> dict[str, Any]:
        o = self.outcome
        return {
            "id": self.claim.id,
            "seed": self.claim.seed,
            "section": self.claim.section,
            "kind": self.claim.kind.value,
            "verdict": o.verdict.value,
            "claimed": o.claimed,
            "measured": o.measured,
            "unit": o.unit,
            "explanation": o.explanation,
            "evidence": list(o.evidence),
            "bound": o.bound,
            "prediction": o.prediction,
            "missing": o.missing,
            "record": self.record,
            "check": self.check,
            "reproduce": self.reproduce,
        }


def verdict_record(outcome: Outcome, mode: Mode, check_name: str) -> Record:
    metrics = {}
    if outcome.measured is not None:
        metrics["measured"] = Metric(outcome.measured, outcome.unit or "1")
    info = {k: v for k, v in outcome.__dict__.items() if k not in ("claim_id",)}
    info["verdict"] = outcome.verdict.value
    info["evidence"] = list(outcome.evidence)
    info["check"] = check_name
    return Record(
        kind=Kind.VERDICT,
        name=outcome.claim_id,
        params={"mode": mode},
        metrics=metrics,
        info=info,
        tags=("verify", mode),
        environment=environment.capture(),
    )


def outcome_from_record(record: Record) -> Outcome:
    info = dict(record.info)
    info.pop("check", None)
    info["evidence"] = tuple(info.get("evidence", ()))
    return Outcome(claim_id=record.name, **info)


class _State:
    """The run folder's index of finished checks: ``{"mode:check": [verdict record paths]}``."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / STATE_FILE
        self.out_dir = out_dir
        self.done: dict[str, list[str]] = {}
        if self.path.exists():
            try:
                self.done = json.loads(self.path.read_text())["done"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise DsbenchError(
                    f"{self.path}: unreadable verify state ({exc}); rerun with --force or "
                    "choose another --out"
                ) from exc

    def finished(self, key: str) -> list[tuple[str, Outcome]] | None:
        paths = self.done.get(key)
        if paths is None:
            return None
        try:
            return [(p, outcome_from_record(results.read_record(self.out_dir / p))) for p in paths]
        except (results.ResultFileError, TypeError, ValueError):
            return None  # a missing or damaged record: run the check again

    def mark(self, key: str, paths: list[str]) -> None:
        self.done[key] = paths
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"done": self.done}, indent=1))
        os.replace(tmp, self.path)  # the index may be replaced; records never are


def select_claims(only: Iterable[str] | None) -> list[Claim]:
    """The catalogue, or the claims named by ``--only`` (unknown ids are a user error)."""
    if not only:
        return list(load_catalogue())
    return [get_claim(claim_id) for claim_id in dict.fromkeys(only)]


def verify(
    out_dir: Path,
    mode: Mode = "quick",
    only: Iterable[str] | None = None,
    force: bool = False,
    track: Callable[[Iterable[Any], str, int], Iterable[Any]] | None = None,
    run: bool = True,
    registry: dict[str, Check] | None = None,
) -> list[ClaimResult]:
    """Judge the selected claims; return one :class:`ClaimResult` per claim, catalogue order.

    With ``run=False`` nothing is run: finished checks in ``out_dir`` are read back and the
    others are reported as not run yet (used to rebuild the full report after ``--only``).
    ``registry`` (claim id -> Check) replaces the registered checks, for tests.
    """
    claims = select_claims(only)
    registry = checks_by_claim() if registry is None else registry
    todo: dict[str, Check] = {}
    for claim in claims:
        if claim.id in registry:
            todo.setdefault(registry[claim.id].name, registry[claim.id])
    out_dir.mkdir(parents=True, exist_ok=True)
    state = _State(out_dir)
    found: dict[str, tuple[Outcome, str, str]] = {}
    if not run:
        track = None
    steps = track(todo.values(), f"verify --{mode}", len(todo)) if track else todo.values()
    for check_ in steps:
        key = f"{mode}:{check_.name}"
        previous = None if force else state.finished(key)
        if previous is None and not run:
            continue
        if previous is None:
            previous = _run_one(check_, mode, out_dir)
            state.mark(key, [p for p, _ in previous])
        for path, outcome in previous:
            found[outcome.claim_id] = (outcome, path, check_.name)
    rows = []
    for claim in claims:
        if claim.id in found:
            outcome, path, name = found[claim.id]
            rows.append(ClaimResult(claim, outcome, path, name))
        else:
            why = (
                f"its check has not run in this folder yet: dsbench verify --only {claim.id}"
                if claim.id in registry
                else "no check is registered yet"
            )
            outcome = fill_claimed(Outcome(claim.id, Verdict.UNCHECKED, why))
            rows.append(ClaimResult(claim, outcome, None, None))
    return rows


def _run_one(check_: Check, mode: Mode, out_dir: Path) -> list[tuple[str, Outcome]]:
    ctx = CheckContext(mode=mode, out_dir=out_dir, claim_ids=check_.claim_ids)
    try:
        outcomes = normalise(check_, check_.fn(ctx))
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a failing check is reported, and the others still run
        outcomes = [error_outcome(cid, exc) for cid in check_.claim_ids]
    stored = []
    for outcome in outcomes:
        path = results.save(verdict_record(outcome, mode, check_.name), out_dir / "records")
        stored.append((str(path.relative_to(out_dir)), outcome))
    return stored
