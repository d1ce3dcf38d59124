"""The record schema and the results store.

Every measurement, simulation and verdict becomes a :class:`Record`: what was run (kind,
name, parameters), what came out (metrics, each a value and a unit, plus the raw samples
behind them), and where (the environment snapshot of :mod:`dsbench.core.environment`).

Storage is one JSON file per record. :func:`save` writes a temporary file in the target
folder, flushes it to disk, and then *links* it to its final name: the link either
succeeds completely or fails because the name exists, so a reader never sees a half
written record and an existing record is never overwritten. Temporary files start with a
dot and end in ``.tmp``; :func:`load` ignores them, so an interrupted write leaves nothing
that could be mistaken for a result.

:func:`load` turns any set of files or folders into a tidy DataFrame with one row per
metric (columns documented on the function). A corrupt file or an unknown schema version
raises :class:`~dsbench.core.errors.ResultFileError` naming the file, or is skipped with a
warning when ``errors="warn"``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import uuid
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dsbench.core.errors import ResultFileError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1
DEFAULT_RESULTS_DIR = Path("results") / "runs"


class Kind(StrEnum):
    MEASUREMENT = "measurement"
    SIMULATION = "simulation"
    ANALYTIC = "analytic"
    VERDICT = "verdict"


@dataclass(frozen=True)
class Metric:
    """One number with its unit; ``samples`` holds the raw observations behind it, if any."""

    value: float | None
    unit: str
    samples: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": _finite_or_none(self.value), "unit": self.unit}
        if self.samples:
            out["samples"] = list(self.samples)
        return out


@dataclass(frozen=True)
class Record:
    """A result.

    kind: what produced it (measurement, simulation, analytic formula, verdict).
    name: what was run (a workload, a scenario, a claim id).
    params: the inputs that define it; records with equal kind, name and params are
        comparable.
    metrics: name -> Metric.
    info: anything else worth keeping that is not a number (a verdict, an explanation,
        a failure message), JSON-able.
    tags: free labels (``quick``, ``baseline``...).
    environment: the machine snapshot, see :func:`dsbench.core.environment.capture`.
    """

    kind: Kind
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    timestamp: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    environment: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a record needs a name")
        object.__setattr__(self, "kind", Kind(self.kind))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "kind": self.kind.value,
            "name": self.name,
            "params": dict(self.params),
            "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
            "info": dict(self.info),
            "tags": list(self.tags),
            "timestamp": self.timestamp,
            "environment": dict(self.environment),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        """Rebuild a record; raises ``ValueError`` naming what is missing or wrong."""
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"unknown schema version {version!r} (this dsbench reads version {SCHEMA_VERSION})"
            )
        missing = [k for k in ("kind", "name", "metrics", "timestamp") if k not in data]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        try:
            metrics = {
                name: Metric(
                    value=None if m["value"] is None else float(m["value"]),
                    unit=str(m["unit"]),
                    samples=tuple(float(s) for s in m.get("samples", ())),
                )
                for name, m in data["metrics"].items()
            }
            return cls(
                kind=Kind(data["kind"]),
                name=str(data["name"]),
                params=dict(data.get("params", {})),
                metrics=metrics,
                info=dict(data.get("info", {})),
                tags=tuple(data.get("tags", ())),
                timestamp=str(data["timestamp"]),
                environment=dict(data.get("environment", {})),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed record: {exc!r}") from exc


def _finite_or_none(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "record"


def save(record: Record, folder: str | os.PathLike = DEFAULT_RESULTS_DIR) -> Path:
    """Write ``record`` as a new JSON file in ``folder`` atomically; return its path.

    Never overwrites: the final name is made unique, and the link step refuses to replace
    an existing file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = re.sub(r"[^0-9T]", "", record.timestamp)[:15]
    final = folder / f"{stamp}_{record.kind.value}_{_slug(record.name)}_{uuid.uuid4().hex[:8]}.json"
    tmp = folder / f".{final.name}.{os.getpid()}.tmp"
    payload = json.dumps(record.to_dict(), indent=1, sort_keys=False, allow_nan=False)
    try:
        with open(tmp, "x", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, final)  # atomic, and fails if `final` exists
    finally:
        tmp.unlink(missing_ok=True)
    return final


def iter_record_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders (recursively) into the record files they hold, sorted."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(q for q in p.rglob("*.json") if not q.name.startswith("."))
        elif p.exists():
            files.append(p)
        else:
            raise ResultFileError(f"{p}: no such file or folder")
    return sorted(set(files))


def read_record(path: str | os.PathLike) -> Record:
    """Read one record file; a corrupt or unknown file raises ResultFileError naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultFileError(f"{path}: not a readable record ({exc})") from exc
    if not isinstance(data, dict):
        raise ResultFileError(f"{path}: not a record (expected a JSON object)")
    try:
        return Record.from_dict(data)
    except ValueError as exc:
        raise ResultFileError(f"{path}: {exc}") from exc


def load_records(
    paths: Iterable[str | os.PathLike], errors: Literal["raise", "warn"] = "raise"
) -> list[tuple[Path, Record]]:
    """Read every record under ``paths`` as ``(path, Record)`` pairs."""
    out = []
    for path in iter_record_files(paths):
        try:
            out.append((path, read_record(path)))
        except ResultFileError as exc:
            if errors == "raise":
                raise
            warnings.warn(f"skipped {exc}", stacklevel=2)
    return out


COLUMNS = (
    "record", "path", "kind", "name", "timestamp", "metric", "value", "unit",
    "n_samples", "params", "tags", "host", "fingerprint",
)  # fmt: skip


def load(
    paths: Iterable[str | os.PathLike] | str | os.PathLike,
    errors: Literal["raise", "warn"] = "raise",
) -> pd.DataFrame:
    """Load records into a tidy DataFrame, one row per (record, metric).

    Columns: ``record`` (file stem), ``path``, ``kind``, ``name``, ``timestamp``, ``metric``,
    ``value``, ``unit``, ``n_samples``, ``params`` (canonical JSON text, for matching),
    ``tags`` (comma-joined), ``host``, ``fingerprint`` (machine id), and one ``param.<key>``
    column per top-level parameter. A record without metrics still gives one row with
    ``metric`` empty, so verdicts and failures are not lost.
    """
    import pandas as pd

    from dsbench.core.environment import fingerprint

    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    rows = []
    for path, rec in load_records(paths, errors=errors):
        base = {
            "record": path.stem,
            "path": str(path),
            "kind": rec.kind.value,
            "name": rec.name,
            "timestamp": rec.timestamp,
            "params": json.dumps(rec.params, sort_keys=True),
            "tags": ",".join(rec.tags),
            "host": rec.environment.get("host"),
            "fingerprint": fingerprint(dict(rec.environment)),
            **{f"param.{k}": v for k, v in rec.params.items() if not isinstance(v, dict | list)},
        }
        metrics = rec.metrics.items() or [(None, Metric(None, ""))]
        for metric, m in metrics:
            rows.append(
                {
                    **base,
                    "metric": metric,
                    "value": m.value,
                    "unit": m.unit,
                    "n_samples": len(m.samples),
                }
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    return frame[list(COLUMNS) + [c for c in frame.columns if c not in COLUMNS]]
