"""Latency and throughput: warm-up, enough runs for stable tails, percentiles with confidence intervals."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from lepton.contract import Contract
from lepton.slo import metric_key, metric_percentile

Feeds = Mapping[str, np.ndarray]
PERCENTILES = (50, 95, 99)


class Estimate(Contract):
    """A measured value with its 95% confidence interval."""

    value: float
    low: float
    high: float

    def inverse(self, scale: float = 1.0) -> Estimate:
        """``scale / value`` with the interval carried through (latency -> throughput)."""
        return Estimate(value=scale / self.value, low=scale / self.high, high=scale / self.low)


class Latency(Contract):
    """Latency figures in milliseconds of one measured configuration (the ``latency_ms`` of a trial)."""

    p50: float
    p95: float
    p99: float
    mean: float
    min: float
    n: int
    std: float | None = None
    percentiles: dict[str, float] = Field(default_factory=dict)  # other percentiles an SLO named: {"p99.9": ...}
    ci95: dict[str, tuple[float, float]] = Field(default_factory=dict)  # per statistic: p50, p95, p99, mean

    def value(self, metric: str) -> float:
        """``p50``, ``p95``, ``p99``, ``mean`` or another percentile measured for an SLO (``p99.9``)."""
        if metric in ("p50", "p95", "p99", "mean"):
            return float(getattr(self, metric))
        if metric in self.percentiles:
            return self.percentiles[metric]
        raise KeyError(f"latency {metric!r} was not measured (have p50, p95, p99, mean, {', '.join(self.percentiles)})")

    def estimate(self, metric: str) -> Estimate:
        """The value with its confidence interval (a zero-width interval when none was recorded)."""
        v = self.value(metric)
        lo, hi = self.ci95.get(metric, (v, v))
        return Estimate(value=v, low=min(lo, v), high=max(hi, v))


@dataclass(frozen=True)
class TimingPlan:
    """How long to measure: at least ``min_runs`` and ``min_seconds``, at most ``max_runs``/``max_seconds``."""

    warmup: int = 3
    min_runs: int = 30
    min_seconds: float = 2.0
    max_runs: int = 2000
    max_seconds: float = 20.0

    @classmethod
    def quick(cls) -> TimingPlan:
        """A cheap first look (the navigator screens candidates with this)."""
        return cls(warmup=2, min_runs=10, min_seconds=0.5, max_runs=200, max_seconds=4.0)


@dataclass(frozen=True)
class LatencyStats:
    samples_ms: tuple[float, ...]
    batch_size: int

    @property
    def n(self) -> int:
        return len(self.samples_ms)

    def percentile(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.samples_ms), q))

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self.samples_ms))

    @property
    def throughput_per_s(self) -> float:
        """Single-stream inferences per second: rows per call over the mean call time."""
        return self.batch_size * 1000.0 / self.mean_ms

    def ci(self, q: float, confidence: float = 0.95, resamples: int = 400, seed: int = 0) -> tuple[float, float]:
        """Bootstrap confidence interval of the q-th percentile."""
        x = np.asarray(self.samples_ms)
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(x), size=(resamples, len(x)))
        stats = np.percentile(x[idx], q, axis=1)
        lo, hi = np.percentile(stats, [(1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100])
        return float(lo), float(hi)

    def value(self, metric: str) -> float:
        """Milliseconds of ``metric``: ``mean`` or any percentile key (``p95``, ``p99.9``; see ``metric_key``)."""
        q = metric_percentile(metric)
        return self.mean_ms if q is None else self.percentile(q)

    def mean_ci(self, confidence: float = 0.95, resamples: int = 400, seed: int = 0) -> tuple[float, float]:
        """Bootstrap confidence interval of the mean (throughput is batch size over the mean)."""
        x = np.asarray(self.samples_ms)
        rng = np.random.default_rng(seed)
        means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
        lo, hi = np.percentile(means, [(1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100])
        return float(lo), float(hi)

    def summary(self, extra: Sequence[str] = ()) -> Latency:
        """The figures a trial records; ``extra`` names more percentiles to compute (``"p99.9"``)."""
        ci = {f"p{q}": _round_pair(self.ci(q)) for q in PERCENTILES}
        ci["mean"] = _round_pair(self.mean_ci())
        qs = [q for m in extra if (q := metric_percentile(m)) is not None and metric_key(q) not in ci]
        more = {metric_key(q): round(self.percentile(q), 4) for q in qs}
        ci.update({metric_key(q): _round_pair(self.ci(q)) for q in qs})
        return Latency(
            p50=round(self.percentile(50), 4),
            p95=round(self.percentile(95), 4),
            p99=round(self.percentile(99), 4),
            mean=round(self.mean_ms, 4),
            min=round(min(self.samples_ms), 4),
            n=self.n,
            std=round(float(np.std(self.samples_ms)), 4),
            percentiles=more,
            ci95=ci,
        )

    def to_json(self) -> dict[str, Any]:
        return self.summary().to_json()


def _round_pair(pair: tuple[float, float]) -> tuple[float, float]:
    return round(pair[0], 4), round(pair[1], 4)


def measure_latency(
    run: Callable[[Feeds], object],
    batches: Sequence[Feeds],
    plan: TimingPlan | None = None,
    *,
    stop_early: Callable[[list[float]], bool] | None = None,
) -> LatencyStats:
    """Time ``run`` over ``batches`` (cycled) after warm-up.

    Stops once both minimums are met, or at either maximum; ``stop_early(samples)`` (asked after every run)
    may end it sooner
    (the navigator abandons a candidate whose first runs already break a constraint).
    """
    plan = plan or TimingPlan()
    if not batches:
        raise ValueError("measure_latency needs at least one batch")
    for i in range(plan.warmup):
        run(batches[i % len(batches)])
    samples: list[float] = []
    start = time.perf_counter()
    i = 0
    while True:
        feeds = batches[i % len(batches)]
        t0 = time.perf_counter()
        run(feeds)
        samples.append((time.perf_counter() - t0) * 1000.0)
        i += 1
        elapsed = time.perf_counter() - start
        if len(samples) >= plan.max_runs or elapsed >= plan.max_seconds:
            break
        if len(samples) >= plan.min_runs and elapsed >= plan.min_seconds:
            break
        if stop_early is not None and stop_early(samples):
            break
    batch_size = int(next(iter(batches[0].values())).shape[0]) if batches[0] else 1
    return LatencyStats(tuple(samples), batch_size)


@dataclass(frozen=True)
class ConcurrentStats:
    callers: int
    requests: int
    seconds: float
    latency: LatencyStats

    @property
    def throughput_per_s(self) -> float:
        return self.requests * self.latency.batch_size / self.seconds

    def summary(self) -> Concurrent:
        return Concurrent(
            callers=self.callers,
            requests=self.requests,
            throughput_per_s=round(self.throughput_per_s, 3),
            latency_ms=self.latency.summary(),
        )

    def to_json(self) -> dict[str, Any]:
        return self.summary().to_json()


class Concurrent(Contract):
    """Throughput with several callers sharing one session, as a server runs it."""

    callers: int
    requests: int
    throughput_per_s: float
    latency_ms: Latency

    def throughput(self) -> Estimate:
        """Throughput with an interval carried from the callers' mean latency (relative width kept)."""
        mean = self.latency_ms.estimate("mean")
        return Estimate(
            value=self.throughput_per_s,
            low=self.throughput_per_s * mean.value / mean.high,
            high=self.throughput_per_s * mean.value / mean.low,
        )


def measure_concurrent(
    run: Callable[[Feeds], object],
    batches: Sequence[Feeds],
    *,
    callers: int,
    requests: int,
    warmup: int = 2,
) -> ConcurrentStats:
    """Several callers share one session, as a server runs it: throughput and the latency each caller sees."""
    for i in range(warmup):
        run(batches[i % len(batches)])
    counter = iter(range(requests))
    lock = threading.Lock()
    samples: list[float] = []

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t0 = time.perf_counter()
            run(batches[i % len(batches)])
            dt = (time.perf_counter() - t0) * 1000.0
            with lock:
                samples.append(dt)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(callers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    batch_size = int(next(iter(batches[0].values())).shape[0])
    return ConcurrentStats(callers, requests, seconds, LatencyStats(tuple(samples), batch_size))
