"""The shared verdict rules, stated as tables of (claimed, measured) -> verdict."""

from __future__ import annotations

import pytest

from dsbench.claims.verdicts import (
    ANALYTIC,
    MEASURED,
    Outcome,
    Tolerance,
    Verdict,
    judge_reduction,
    judge_speedup,
    judge_value,
)

S, P, C = Verdict.SUPPORTED, Verdict.PARTLY, Verdict.CONTRADICTED


@pytest.mark.parametrize("claimed, measured, relation, expected", [
    (64, 64, "=", S), (2.0, 2.09, "=", S), (2.0, 2.21, "=", P), (2.0, 1.85, "=", S),
    (100, 45, "=", C), (100, 51, "=", P),
    (0.98, 0.90, ">=", S), (0.98, 0.87, ">=", P), (0.98, 0.40, ">=", C),
    (480, 500, "<=", S), (480, 700, "<=", P), (480, 2800, "<=", C),
])  # fmt: skip
def test_judge_value(claimed, measured, relation, expected):
    assert judge_value(claimed, measured, relation, ANALYTIC) is expected


@pytest.mark.parametrize("claimed, measured, expected", [
    (75, 74.9, S), (35, 28.6, P), (45, 64.3, P), (40, 0.0, C), (40, -5.0, C), (60, 20, C),
])  # fmt: skip
def test_judge_reduction(claimed, measured, expected):
    assert judge_reduction(claimed, measured) is expected


@pytest.mark.parametrize("claimed, measured, same, expected", [
    (6.0, 6.5, True, S), (6.0, 4.6, True, S), (6.0, 4.4, True, P), (6.0, 0.9, True, C),
    (6.0, 8.0, False, Verdict.NEEDS_GPU), (6.0, 0.5, False, Verdict.NEEDS_GPU),
])  # fmt: skip
def test_judge_speedup(claimed, measured, same, expected):
    assert judge_speedup(claimed, measured, same, MEASURED) is expected


def test_tolerance_validation():
    with pytest.raises(ValueError, match="support"):
        Tolerance(support=1.5)


@pytest.mark.parametrize("verdict, field", [
    (Verdict.IMPOSSIBLE, "bound"), (Verdict.NEEDS_GPU, "prediction"), (Verdict.NEEDS_DATA, "missing"),
])  # fmt: skip
def test_outcomes_must_justify_special_verdicts(verdict, field):
    with pytest.raises(ValueError, match=field):
        Outcome("000-x", verdict, "because")
    Outcome("000-x", verdict, "because", **{field: "stated"})


def test_outcome_needs_explanation():
    with pytest.raises(ValueError, match="explanation"):
        Outcome("000-x", Verdict.VAGUE, " ")


@pytest.mark.parametrize("measured", [0.0, -0.2])
def test_flat_or_negative_measurement_contradicts_a_positive_claim(measured):
    assert judge_value(1.0, measured, "=") is Verdict.CONTRADICTED
