"""The monitor's files: ``samples.jsonl``, ``windows.jsonl``, ``alerts.jsonl`` in a run folder.

One JSON object per line. Every line is flushed to the operating system as it is written,
and the files are fsync'ed at most once a second, so a crash of the tool loses nothing and a
crash of the machine at most the last second. The run folder is created only after every
input was checked, so a bad invocation leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

from dsbench.core.errors import DsbenchError

FILES = ("samples", "windows", "alerts")


def check_writable(log_dir: Path) -> None:
    """Raise DsbenchError if ``log_dir`` cannot hold a run folder; creates nothing."""
    probe = log_dir
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise DsbenchError(f"--log_dir {log_dir}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise DsbenchError(f"--log_dir {log_dir}: {probe} is not writable")


class RunLog:
    """Append-only JSONL files in ``log_dir/run-<UTC time>-<pid>/``."""

    def __init__(self, log_dir: Path) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        self.folder = Path(log_dir) / f"run-{stamp}-{os.getpid()}"
        try:
            self.folder.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise DsbenchError(
                f"--log_dir {log_dir}: cannot create {self.folder}: {exc.strerror or exc}"
            ) from exc
        self._fh = {
            name: open(self.folder / f"{name}.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            for name in FILES
        }
        self._synced = time.monotonic()

    def write(self, name: str, obj: dict[str, Any]) -> None:
        fh = self._fh[name]
        fh.write(json.dumps(obj, allow_nan=False) + "\n")
        fh.flush()
        if time.monotonic() - self._synced >= 1.0:
            self.sync()

    def sync(self) -> None:
        for fh in self._fh.values():
            os.fsync(fh.fileno())
        self._synced = time.monotonic()

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.jsonl"

    def close(self) -> None:
        self.sync()
        for fh in self._fh.values():
            fh.close()
