"""Latency and throughput: warm-up, enough runs for stable tails, percentiles with confidence intervals."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Feeds = Mapping[str, np.ndarray]
PERCENTILES = (50, 95, 99)


def plain_number(x: float, decimals: int = 6) -> str:
    """``x`` without an exponent or trailing zeros: 95.0 -> ``95``, 99.9 -> ``99.9``, 1e6 -> ``1000000``."""
    return f"{x:.{decimals}f}".rstrip("0").rstrip(".") or "0"


def metric_key(q: float) -> str:
    """The name of the q-th percentile in latency records: ``p95``, ``p99.9`` (what ``--slo`` names)."""
    return "p" + plain_number(q)


def metric_percentile(metric: str) -> float | None:
    """95.0 for ``p95``, 99.9 for ``p99.9``, None for ``mean``; ValueError for anything else."""
    if metric == "mean":
        return None
    try:
        q = float(metric[1:]) if metric.startswith("p") else -1.0
    except ValueError:
        q = -1.0
    if not 0 < q < 100:
        raise ValueError(f"latency metric {metric!r} is not mean or pNN with NN in (0, 100)")
    return q


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

    def to_json(self, extra: Sequence[str] = ()) -> dict[str, Any]:
        """p50/p95/p99, mean, min, n and bootstrap CIs; ``extra`` adds metrics by name (an SLO's ``p99.9``)."""
        qs = list(PERCENTILES) + [q for m in extra if (q := metric_percentile(m)) is not None and q not in PERCENTILES]
        out: dict[str, Any] = {metric_key(q): round(self.percentile(q), 4) for q in qs}
        out["mean"] = round(self.mean_ms, 4)
        out["min"] = round(min(self.samples_ms), 4)
        out["n"] = self.n
        out["ci95"] = {metric_key(q): [round(v, 4) for v in self.ci(q)] for q in qs}
        return out


def measure_latency(
    run: Callable[[Feeds], object],
    batches: Sequence[Feeds],
    plan: TimingPlan | None = None,
    *,
    stop_early: Callable[[list[float]], bool] | None = None,
) -> LatencyStats:
    """Time ``run`` over ``batches`` (cycled) after warm-up.

    Stops once both minimums are met, or at either maximum; ``stop_early(samples)`` may end it sooner
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
        if stop_early is not None and len(samples) >= 3 and stop_early(samples):
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

    def to_json(self) -> dict[str, Any]:
        return {
            "callers": self.callers,
            "requests": self.requests,
            "throughput_per_s": round(self.throughput_per_s, 3),
            "latency_ms": self.latency.to_json(),
        }


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
