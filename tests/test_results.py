"""The results store: round trip, atomic no-overwrite writes, corrupt and unknown files."""

from __future__ import annotations

import json
import os

import pytest

from dsbench.core import results
from dsbench.core.errors import ResultFileError
from dsbench.core.results import Kind, Metric, Record


def make_record(name: str = "gemm", value: float = 1.5) -> Record:
    return Record(
        kind=Kind.MEASUREMENT,
        name=name,
        params={"size": "tiny", "n": 64, "shape": [2, 3]},
        metrics={
            "time": Metric(value, "s", (1.4, 1.5, 1.6)),
            "achieved_flops_per_s": Metric(2e9, "FLOP/s"),
        },
        info={"note": "stand-in"},
        tags=("unit-test",),
        environment={"host": "h", "cpu_model": "cpu", "torch": "2.x"},
    )


def test_round_trip(tmp_path):
    rec = make_record()
    path = results.save(rec, tmp_path)
    assert path.parent == tmp_path and path.suffix == ".json"
    assert results.read_record(path) == rec


def test_save_never_overwrites(tmp_path, monkeypatch):
    first = results.save(make_record(value=1.0), tmp_path)
    second = results.save(make_record(value=2.0), tmp_path)
    assert first != second
    # Force a name collision: the second write must fail and leave the first intact.
    monkeypatch.setattr(results.uuid, "uuid4", lambda: type("U", (), {"hex": "deadbeef" * 4})())
    rec = make_record(value=3.0)
    path = results.save(rec, tmp_path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        results.save(rec, tmp_path)
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_interrupted_write_leaves_nothing_loadable(tmp_path, monkeypatch):
    def interrupted_fsync(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(results.os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        results.save(make_record(), tmp_path)
    monkeypatch.undo()
    assert results.load(tmp_path).empty
    # A temporary file left by a killed process (no cleanup ran) is ignored too.
    (tmp_path / ".20260101_measurement_x.json.123.tmp").write_text('{"partial": ')
    assert results.load(tmp_path).empty


def test_load_tidy_frame(tmp_path):
    results.save(make_record("a", 1.0), tmp_path)
    results.save(make_record("b", 2.0), tmp_path / "sub")
    frame = results.load(tmp_path)
    assert list(frame.columns[: len(results.COLUMNS)]) == list(results.COLUMNS)
    assert len(frame) == 4  # two records x two metrics
    time_rows = frame[frame.metric == "time"].set_index("name")
    assert time_rows.loc["b", "value"] == 2.0
    assert time_rows.loc["a", "n_samples"] == 3
    assert time_rows.loc["a", "param.n"] == 64
    assert json.loads(time_rows.loc["a", "params"])["shape"] == [2, 3]


def test_record_without_metrics_keeps_a_row(tmp_path):
    results.save(Record(kind=Kind.VERDICT, name="000-x", info={"verdict": "vague"}), tmp_path)
    frame = results.load(tmp_path)
    assert len(frame) == 1 and frame.iloc[0]["kind"] == "verdict"


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not a readable record"),
        ("[1, 2]", "expected a JSON object"),
        (
            json.dumps({**make_record().to_dict(), "schema_version": 99}),
            "unknown schema version 99",
        ),
        (json.dumps({"schema_version": 1, "kind": "measurement"}), "missing field"),
    ],
)
def test_corrupt_file_named_in_error(tmp_path, content, message):
    results.save(make_record(), tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(ResultFileError, match=message) as info:
        results.load(tmp_path)
    assert "bad.json" in str(info.value)
    with pytest.warns(UserWarning, match="bad.json"):
        frame = results.load(tmp_path, errors="warn")
    assert set(frame.name) == {"gemm"}


def test_missing_path_is_a_user_error(tmp_path):
    with pytest.raises(ResultFileError, match="no such file"):
        results.load(tmp_path / "nope")


def test_non_finite_values_are_stored_as_null(tmp_path):
    rec = Record(kind=Kind.SIMULATION, name="s", metrics={"x": Metric(float("nan"), "1")})
    loaded = results.read_record(results.save(rec, tmp_path))
    assert loaded.metrics["x"].value is None


def test_files_are_written_with_a_temporary_name_first(tmp_path, monkeypatch):
    seen = []
    real_link = os.link

    def spy_link(src, dst):
        seen.append((os.path.basename(src), os.path.basename(dst)))
        return real_link(src, dst)

    monkeypatch.setattr(results.os, "link", spy_link)
    path = results.save(make_record(), tmp_path)
    ((src, dst),) = seen
    assert src.startswith(".") and src.endswith(".tmp") and dst == path.name
