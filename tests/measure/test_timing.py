from __future__ import annotations

import time

import numpy as np
import pytest

from lepton.measure.timing import JUDGED_S, LatencyStats, TimingPlan, measure_concurrent, measure_latency

BATCH = [{"x": np.zeros((4, 3), dtype=np.float32)}]


def test_percentiles_are_positive_and_ordered_on_a_real_call() -> None:
    a = np.random.default_rng(0).standard_normal((64, 64))
    stats = measure_latency(lambda f: a @ a, BATCH, TimingPlan(warmup=1, min_runs=50, min_seconds=0.0))
    j = stats.to_json()
    assert stats.n >= 50
    assert 0 < j["p50"] <= j["p95"] <= j["p99"]
    assert stats.batch_size == 4
    assert stats.throughput_per_s == pytest.approx(4 * 1000 / stats.mean_ms)


def test_confidence_interval_brackets_the_percentile() -> None:
    samples = tuple(float(x) for x in np.random.default_rng(1).gamma(4.0, 2.0, size=500))
    stats = LatencyStats(samples, 1)
    for q in (50, 95, 99):
        lo, hi = stats.ci(q)
        assert lo <= stats.percentile(q) <= hi
    # a wider tail percentile has a wider interval than the median
    assert np.subtract(*stats.ci(99)[::-1]) > np.subtract(*stats.ci(50)[::-1])


def test_plan_limits_bound_the_run() -> None:
    once = TimingPlan(warmup=0, min_runs=1, min_seconds=0.0, max_runs=7, retry_disturbed=False)
    assert measure_latency(lambda f: None, BATCH, once).n == 1
    # a plan that times disturbed blocks again makes each block long enough for the CPU clock to judge
    judged = measure_latency(lambda f: time.sleep(0.01), BATCH, TimingPlan(warmup=0, min_runs=1, min_seconds=0.0))
    assert sum(judged.samples_ms) >= 1000 * JUDGED_S * 0.9
    stats = measure_latency(lambda f: None, BATCH, TimingPlan(warmup=0, min_runs=100, min_seconds=10, max_runs=7))
    assert stats.n == 7


def test_stop_early_abandons_a_slow_candidate() -> None:
    stats = measure_latency(
        lambda f: time.sleep(0.002),
        BATCH,
        TimingPlan(warmup=0, min_runs=100, min_seconds=5.0),
        stop_early=lambda s: len(s) >= 3 and bool(np.median(s) > 1.0),
    )
    assert stats.n == 3  # the predicate is asked after every run and decides how much it needs to see
    one = measure_latency(
        lambda f: time.sleep(0.002), BATCH, TimingPlan(warmup=0, min_runs=100), stop_early=lambda s: True
    )
    assert one.n == 1


def test_concurrent_callers_share_one_callable_and_answer_every_request() -> None:
    calls: list[int] = []

    def call(feeds: object) -> None:
        calls.append(1)
        time.sleep(0.001)

    stats = measure_concurrent(call, BATCH, callers=4, requests=40, warmup=0)
    assert len(calls) == 40 and stats.latency.n == 40
    assert stats.throughput_per_s == pytest.approx(40 * 4 / stats.seconds)


def test_any_percentile_an_slo_names_is_computed_by_key() -> None:
    stats = LatencyStats(tuple(float(x) for x in range(1, 1001)), 1)

    lat = stats.summary(extra=("p99.9", "p95", "mean", "p12.5"))
    assert stats.value("p99.9") == pytest.approx(np.percentile(np.arange(1, 1001), 99.9))
    assert stats.value("mean") == pytest.approx(500.5) and stats.value("p50") == stats.percentile(50)
    assert lat.value("p99.9") == round(stats.value("p99.9"), 4) and lat.percentiles["p12.5"] == round(
        stats.percentile(12.5), 4
    )
    assert set(lat.ci95) == {"p50", "p95", "p99", "mean", "p99.9", "p12.5"}
    assert set(stats.summary().percentiles) == set()  # only what an SLO names is added
    with pytest.raises(ValueError, match="not mean or pNN"):
        stats.value("p100")
