"""Frames behind the notebooks: exponents, wide records, telemetry folders; figures are Figures."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from dsbench.core import results
from dsbench.core.errors import DsbenchError
from dsbench.core.results import Kind, Metric, Record
from dsbench.report import plots


def test_loglog_exponents_recover_known_slopes():
    xs = [256, 512, 1024, 2048]
    frame = pd.DataFrame(
        {
            "T": xs * 2,
            "time": [3e-9 * x**2 for x in xs] + [5e-7 * x for x in xs],
            "variant": ["dense"] * 4 + ["window"] * 4,
        }
    )
    exps = plots.loglog_exponents(frame, "T", "time", "variant").set_index("variant")
    assert exps.loc["dense", "exponent"] == pytest.approx(2.0)
    assert exps.loc["window", "exponent"] == pytest.approx(1.0)
    assert isinstance(plots.plot_scaling(frame, "T", "time", "variant"), Figure)


def test_records_wide_flattens_params(tmp_path):
    for nodes in (8, 16):
        results.save(
            Record(
                kind=Kind.SIMULATION,
                name="default",
                params={"scenario": {"system": {"nodes": nodes}}, "overrides": ["x=1"]},
                metrics={"tokens_per_s": Metric(100.0 * nodes, "tokens/s")},
            ),
            tmp_path,
        )
    wide = plots.records_wide(tmp_path, kind="simulation")
    assert sorted(wide["param.scenario.system.nodes"]) == [8, 16]
    assert sorted(wide["tokens_per_s"]) == [800.0, 1600.0]
    assert "param.overrides" not in wide.columns
    fig = plots.plot_lines(wide, "param.scenario.system.nodes", "tokens_per_s")
    assert isinstance(fig, Figure)


def test_bad_folders_are_user_errors(tmp_path):
    with pytest.raises(DsbenchError, match="no ds-profiler run folder"):
        plots.telemetry_frames(tmp_path)
    with pytest.raises(DsbenchError, match="not a verify run folder"):
        plots.verdicts_frame(tmp_path)
