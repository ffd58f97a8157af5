"""Latency and throughput: warm-up until stable, enough runs for stable tails, percentiles with confidence intervals.

Runs are timed in short blocks; around each block ``interference`` reads how much CPU other processes took. A
precise plan drops a disturbed block and times another in its place (within its time limit); a measurement left
with too few clean runs keeps every run and carries a ``Disturbance`` flag, so its figures are never quoted as fact.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydantic import Field

from lepton.contract import Contract
from lepton.measure.interference import Disturbance, Watch
from lepton.slo import metric_key, metric_percentile

Feeds = Mapping[str, np.ndarray]
PERCENTILES = (50, 95, 99)
STABLE = 0.10  # warm-up ends when two successive windows' medians agree within 10% (perf_analyzer's default)
JUDGED_S = 0.15  # a block whose disturbance decides its fate lasts this long (the kernel counts CPU in 10 ms ticks)
WINDOW_S = 0.02  # a warm-up window holds at least this much run time (many runs of a fast model, one of a slow one)


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
    warmup_runs: int | None = None  # runs until successive windows agreed (None: not recorded)
    dropped_runs: int = 0  # runs of disturbed blocks left out (timed again in their place)
    disturbed: Disturbance | None = None  # set when too few clean runs remained: the figures are not facts

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
    """How long to measure: at least ``min_runs`` and ``min_seconds``, at most ``max_runs``/``max_seconds``.

    Warm-up runs at least ``warmup`` times and until successive windows agree (0: no warm-up at all), for at most
    a quarter of ``max_seconds`` (3 s at most). ``retry_disturbed``: drop the runs of disturbed blocks and time more
    in their place (the precise plan, whose figures are quoted); otherwise disturbed blocks are kept and flagged."""

    warmup: int = 3
    min_runs: int = 30
    min_seconds: float = 2.0
    max_runs: int = 2000
    max_seconds: float = 20.0
    block_seconds: float = 0.25
    retry_disturbed: bool = True

    @classmethod
    def quick(cls) -> TimingPlan:
        """A cheap first look (the navigator screens candidates with this)."""
        return cls(warmup=2, min_runs=10, min_seconds=0.5, max_runs=200, max_seconds=4.0, retry_disturbed=False)

    @property
    def warmup_seconds(self) -> float:
        return min(3.0, self.max_seconds / 4)

    @property
    def enough_clean_runs(self) -> int:
        """Fewer clean runs than this and the measurement is flagged disturbed."""
        return max(3, self.min_runs // 2)


@dataclass(frozen=True)
class LatencyStats:
    samples_ms: tuple[float, ...]
    batch_size: int
    warmup_runs: int | None = None
    dropped_runs: int = 0
    disturbance: Disturbance | None = None

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
            warmup_runs=self.warmup_runs,
            dropped_runs=self.dropped_runs,
            disturbed=self.disturbance,
        )

    def to_json(self) -> dict[str, Any]:
        return self.summary().to_json()


def _round_pair(pair: tuple[float, float]) -> tuple[float, float]:
    return round(pair[0], 4), round(pair[1], 4)


def warm_up(run: Callable[[Feeds], object], batches: Sequence[Feeds], plan: TimingPlan) -> int:
    """Run until two successive windows' median times agree within ``STABLE`` (the first run, which compiles and
    allocates, never counts), at least ``plan.warmup`` runs and at most ``plan.warmup_seconds``; returns the runs."""
    if plan.warmup <= 0:
        return 0
    times: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        run(batches[len(times) % len(batches)])
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start >= plan.warmup_seconds:
            return len(times)
        if len(times) < plan.warmup:
            continue
        settled = times[1:]
        w = max(1, min(50, math.ceil(WINDOW_S / max(float(np.median(settled[-3:] or times)), 1e-9))))
        if len(settled) >= 2 * w:
            before, last = float(np.median(settled[-2 * w : -w])), float(np.median(settled[-w:]))
            if abs(before - last) <= STABLE * max(before, last):
                return len(times)


def measure_latency(
    run: Callable[[Feeds], object],
    batches: Sequence[Feeds],
    plan: TimingPlan | None = None,
    *,
    stop_early: Callable[[list[float]], bool] | None = None,
) -> LatencyStats:
    """Time ``run`` over ``batches`` (cycled) after warm-up, in blocks watched for interference.

    Stops once both minimums are met by clean runs, or at either maximum; ``stop_early(samples)`` (asked after
    every run) may end it sooner (the navigator abandons a candidate whose first runs already break a constraint).
    """
    plan = plan or TimingPlan()
    if not batches:
        raise ValueError("measure_latency needs at least one batch")
    timer = BlockTimer(run, batches, plan)
    timer.warm_up()
    start = time.perf_counter()
    while True:
        stopped = timer.block(plan.block_seconds, stop_early=stop_early)
        elapsed = time.perf_counter() - start
        if timer.runs >= plan.max_runs or elapsed >= plan.max_seconds or stopped:
            break
        if timer.enough():
            break
    return timer.stats()


class BlockTimer:
    """One configuration timed block by block (``measure_latency``'s): clean runs are kept, the runs of a disturbed
    block are set aside (``plan.retry_disturbed``) or kept with a flag."""

    def __init__(self, run: Callable[[Feeds], object], batches: Sequence[Feeds], plan: TimingPlan) -> None:
        self.run, self.batches, self.plan = run, batches, plan
        self.watch = Watch()
        self.clean: list[float] = []
        self.set_aside: list[float] = []
        self.clean_seconds = 0.0
        self.warmup_runs: int | None = None
        self.i = 0

    @property
    def runs(self) -> int:
        return len(self.clean) + len(self.set_aside)

    def warm_up(self) -> None:
        self.warmup_runs = warm_up(self.run, self.batches, self.plan)

    def enough(self) -> bool:
        return len(self.clean) >= self.plan.min_runs and self.clean_seconds >= self.plan.min_seconds

    def block(self, seconds: float, *, stop_early: Callable[[list[float]], bool] | None = None) -> bool:
        """Time one block of about ``seconds`` (at least one run); returns True when ``stop_early`` asked to stop."""
        samples: list[float] = []
        stopped = False
        self.watch.start_block()
        b0 = time.perf_counter()
        while True:
            feeds = self.batches[self.i % len(self.batches)]
            t0 = time.perf_counter()
            self.run(feeds)
            samples.append((time.perf_counter() - t0) * 1000.0)
            self.i += 1
            if time.perf_counter() - b0 >= seconds or self.runs + len(samples) >= self.plan.max_runs:
                break
            took = time.perf_counter() - b0
            enough = (
                len(self.clean) + len(samples) >= self.plan.min_runs
                and self.clean_seconds + took >= self.plan.min_seconds
            )
            if enough and (took >= JUDGED_S or not self.plan.retry_disturbed):  # a block the CPU clock can judge
                break
            if stop_early is not None and stop_early([*self.clean, *self.set_aside, *samples]):
                stopped = True
                break
        disturbed = self.watch.end_block()
        if disturbed and self.plan.retry_disturbed:
            self.set_aside += samples
        else:
            self.clean += samples
            self.clean_seconds += sum(samples) / 1000.0
        if not stopped and stop_early is not None:
            stopped = stop_early([*self.clean, *self.set_aside])
        return stopped

    def stats(self) -> LatencyStats:
        """The clean runs; every run, flagged, when fewer than ``plan.enough_clean_runs`` stayed clean (or when a
        plan that keeps disturbed blocks had any)."""
        batch_size = int(next(iter(self.batches[0].values())).shape[0]) if self.batches[0] else 1
        if self.plan.retry_disturbed and len(self.clean) >= min(self.plan.enough_clean_runs, self.runs):
            return LatencyStats(tuple(self.clean), batch_size, self.warmup_runs, len(self.set_aside))
        samples = tuple(self.clean + self.set_aside)
        return LatencyStats(samples, batch_size, self.warmup_runs, 0, self.watch.disturbance())


@dataclass(frozen=True)
class ConcurrentStats:
    callers: int
    requests: int
    seconds: float
    latency: LatencyStats
    disturbance: Disturbance | None = None

    @property
    def throughput_per_s(self) -> float:
        return self.requests * self.latency.batch_size / self.seconds

    def summary(self) -> Concurrent:
        return Concurrent(
            callers=self.callers,
            requests=self.requests,
            throughput_per_s=round(self.throughput_per_s, 3),
            latency_ms=self.latency.summary(),
            disturbed=self.disturbance,
        )

    def to_json(self) -> dict[str, Any]:
        return self.summary().to_json()


class Concurrent(Contract):
    """Throughput with several callers sharing one session, as a server runs it."""

    callers: int
    requests: int
    throughput_per_s: float
    latency_ms: Latency
    disturbed: Disturbance | None = None  # other processes took CPU during every attempt

    def throughput(self) -> Estimate:
        """Throughput with an interval carried from the callers' mean latency (relative width kept)."""
        mean = self.latency_ms.estimate("mean")
        return Estimate(
            value=self.throughput_per_s,
            low=self.throughput_per_s * mean.value / mean.high,
            high=self.throughput_per_s * mean.value / mean.low,
        )


def loaded_load(batch_size: int, call_s: float, bursts: int = 1) -> tuple[int, int]:
    """Concurrent callers of a loaded measurement (a server's lanes at this batch size) and the requests of each of
    its ``bursts``: about two seconds of requests in all, at least four per caller (one per caller and burst when
    split), 400 at most."""
    callers = 4 if batch_size == 1 else 2
    floor = max(callers, callers * 4 / bursts)
    return callers, int(min(400 / bursts, max(floor, 2.0 / bursts / max(call_s, 1e-5))))


def measure_concurrent(
    run: Callable[[Feeds], object],
    batches: Sequence[Feeds],
    *,
    callers: int,
    requests: int,
    warmup: int = 2,
    retries: int = 0,
) -> ConcurrentStats:
    """Several callers share one session, as a server runs it: throughput and the latency each caller sees.

    The whole burst is one watched block; a disturbed one is measured again up to ``retries`` times, and the last
    attempt carries the flag when every attempt was disturbed."""
    for i in range(warmup):
        run(batches[i % len(batches)])
    for attempt in range(retries + 1):
        watch = Watch()
        watch.start_block()
        stats = burst(run, batches, callers, requests)
        if not watch.end_block():
            return stats
        if attempt == retries:
            return replace(stats, disturbance=watch.disturbance())
    raise AssertionError("unreachable")


def burst(run: Callable[[Feeds], object], batches: Sequence[Feeds], callers: int, requests: int) -> ConcurrentStats:
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
