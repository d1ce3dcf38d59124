"""The batching queue against queueing theory, and the policies against their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from workloads.inference.serving import (
    BatchingConfig,
    Policy,
    ServiceModel,
    TrafficConfig,
    fit_service_model,
    load_sweep,
    md1_mean_latency_s,
    measure_batch_curve,
    mm1_mean_latency_s,
    simulate,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("rho", [0.3, 0.7])
def test_batch_one_deterministic_service_is_md1(rho):
    service_s = 0.01
    traffic = TrafficConfig(rho / service_s, n_requests=30_000, seed=1)
    got = simulate(ServiceModel(service_s, 0.0), BatchingConfig(Policy.NONE), traffic).summary()
    assert got["mean_all_s"] == pytest.approx(
        md1_mean_latency_s(rho / service_s, service_s), rel=0.05
    )
    assert got["utilisation"] == pytest.approx(rho, rel=0.05)


def test_batch_one_exponential_service_is_mm1():
    service = ServiceModel(0.01, 0.0, exponential=True)
    traffic = TrafficConfig(50.0, n_requests=30_000, seed=2)
    got = simulate(service, BatchingConfig(Policy.NONE), traffic).summary()
    assert got["mean_all_s"] == pytest.approx(mm1_mean_latency_s(50.0, 0.01), rel=0.08)


def test_static_batches_are_full_and_dynamic_respects_max_batch_and_timeout():
    service = ServiceModel(0.005, 0.001)
    traffic = TrafficConfig(400.0, n_requests=2_000, seed=3)
    static = simulate(service, BatchingConfig(Policy.STATIC, max_batch=8), traffic)
    assert set(static.batch_sizes[:-1]) == {8}  # only the final flush may be partial
    dynamic = simulate(
        service, BatchingConfig(Policy.DYNAMIC, max_batch=8, max_wait_s=0.002), traffic
    )
    assert max(dynamic.batch_sizes) <= 8 and min(dynamic.batch_sizes) >= 1
    assert not np.isnan(dynamic.latency_s).any()  # every request served
    # latency is at least one pass, and a request never waits longer than timeout + a queue of work
    assert dynamic.latency_s.min() >= service.time_s(1) - 1e-12


def test_dynamic_beats_static_at_low_load_and_batching_raises_capacity():
    service = ServiceModel(0.02, 0.001)
    static, dynamic = BatchingConfig(Policy.STATIC, 16), BatchingConfig(Policy.DYNAMIC, 16, 0.0)
    rows = load_sweep(service, [static, dynamic], [0.2], n_requests=2_000)
    assert rows[1]["mean_all_s"] < 0.5 * rows[0]["mean_all_s"]
    # offered load 0.9 of batch-16 capacity is 11x more than batch-1 capacity: unbatched saturates
    over = TrafficConfig(0.9 * service.capacity_rps(16), n_requests=2_000)
    none = simulate(service, BatchingConfig(Policy.NONE), over).summary()
    batched = simulate(service, dynamic, over).summary()
    assert batched["throughput_rps"] > 5 * none["throughput_rps"]


def test_class_aware_serves_sensitive_requests_sooner():
    service = ServiceModel(0.01, 0.001)
    traffic = TrafficConfig(0.5 * service.capacity_rps(16), n_requests=3_000, seed=4)
    dyn = simulate(service, BatchingConfig(Policy.DYNAMIC, 16, 0.02), traffic).summary()
    aware = simulate(
        service, BatchingConfig(Policy.CLASS_AWARE, 16, 0.02, sensitive_batch=16), traffic
    ).summary()
    assert aware["mean_sensitive_s"] < dyn["mean_sensitive_s"]


def test_simulation_is_deterministic():
    args = (
        ServiceModel(0.01, 0.001),
        BatchingConfig(Policy.CLASS_AWARE, 8, 0.01),
        TrafficConfig(300.0, n_requests=500),
    )
    assert np.array_equal(simulate(*args).latency_s, simulate(*args).latency_s)


def test_fit_recovers_affine_curve():
    curve = measure_batch_curve(
        lambda b: lambda: b, [1, 2, 4, 8], timer=lambda fn: 0.01 + 0.002 * fn()
    )
    fitted = fit_service_model(curve)
    assert fitted.a_s == pytest.approx(0.01) and fitted.b_s == pytest.approx(0.002)
    assert fitted.capacity_rps(8) == pytest.approx(8 / 0.026)


@pytest.mark.parametrize(
    "make",
    [
        lambda: BatchingConfig(max_batch=0),
        lambda: BatchingConfig(max_batch=4, sensitive_batch=5),
        lambda: BatchingConfig(max_wait_s=-1),
        lambda: TrafficConfig(0.0),
        lambda: TrafficConfig(1.0, sensitive_fraction=2.0),
        lambda: ServiceModel(0.0, 0.0),
        lambda: fit_service_model([(1, 0.1), (1, 0.2)]),
        lambda: md1_mean_latency_s(200.0, 0.01),
    ],
)
def test_bad_values_are_rejected(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize(
    "name",
    [
        "serving-batched-forward",
        "lm-decode-kv-cache",
        "mt-translate-greedy",
        "retrieval-brute-force",
    ],
)
def test_registered_workloads_match_their_unoptimised_twins(name):
    from workloads import base
    from workloads.inference import registry_serving

    workload = next(w for w in registry_serving.WORKLOADS if w.name == name)
    assert base.register(workload) is workload  # idempotent for the same object
    case = workload.build("tiny", "cpu", "float32")
    out, ref = case.fn(), case.reference()
    assert out.shape == ref.shape
    assert (
        out.double() - ref.double()
    ).abs().max().item() <= case.atol + case.rtol * ref.double().abs().max().item()
    assert case.flops > 0 and set(workload.sizes) == {"tiny", "cpu", "gpu"}
