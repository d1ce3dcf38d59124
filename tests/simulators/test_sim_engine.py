"""End-to-end behaviour of the step model: breakdown, trace, speed and physical trends."""

import json
import time

import pytest

from simulators.engine import run
from simulators.scenario import Scenario, apply_overrides


def test_default_is_1000_nodes_of_8():
    assert run(Scenario()).scenario.layout().size == 8000


@pytest.mark.benchmark
def test_default_1000_nodes_is_fast():
    t0 = time.perf_counter()
    run(Scenario())
    assert time.perf_counter() - t0 < 2.0


def test_tokens_per_s_and_mfu_are_consistent():
    r = run(Scenario())
    s = r.scenario
    assert r.tokens_per_s == pytest.approx(s.global_batch * s.model.seq / r.iteration_s)
    # full recompute: hardware FLOPs are 4/3 of model FLOPs (up to the LM-head term)
    assert r.tflops_per_gpu * 1e12 / 312e12 / r.mfu == pytest.approx(4 / 3, rel=0.01)


def test_chrome_trace_has_every_stage_and_iteration():
    r = run(apply_overrides(Scenario(), ["system.nodes=8", "sim.trace_iterations=2"]))
    trace = r.to_chrome_trace()
    json.dumps(trace)
    xs = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert {e["tid"] for e in xs} == set(range(8))
    assert {e["args"]["iteration"] for e in xs} == {0, 1}
    assert max(e["ts"] + e["dur"] for e in xs) == pytest.approx(2 * r.iteration_s * 1e6)


def test_more_micro_batches_shrink_the_bubble():
    few = run(apply_overrides(Scenario(), ["parallel.micro_batches=8"]))
    many = run(apply_overrides(Scenario(), ["parallel.micro_batches=64"]))
    assert (
        many.breakdown_s["bubble_s"] / many.iteration_s
        < few.breakdown_s["bubble_s"] / few.iteration_s
    )


def test_selective_recompute_beats_full():
    full = run(apply_overrides(Scenario(), ["system.nodes=8"]))
    sel = run(
        apply_overrides(
            Scenario(),
            ["system.nodes=8", "parallel.recompute=selective", "parallel.sequence_parallel=true"],
        )
    )
    assert sel.iteration_s < full.iteration_s
    assert sel.memory.activations_bytes > full.memory.activations_bytes


def test_overlap_hides_dp_comm():
    on = run(Scenario())
    off = run(apply_overrides(Scenario(), ["parallel.dp_overlap=false"]))
    assert on.breakdown_s["dp_comm_exposed_s"] < off.breakdown_s["dp_comm_exposed_s"]


def test_h100_is_faster_than_a100():
    a = run(apply_overrides(Scenario(), ["system.nodes=8"]))
    h = run(apply_overrides(Scenario(), ["system.nodes=8", "system.node=dgx-h100"]))
    assert 2.0 < a.iteration_s / h.iteration_s < 3.5
