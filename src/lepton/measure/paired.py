"""Paired, interleaved comparison: configurations timed in alternating short blocks (A B, B A, A B ...), so a
burst of outside load or a drift of the machine's clock falls on both sides of a pair alike.

A gain is the median of the per-pair ratios, with a distribution-free 95% interval (order statistics); a pair with a
disturbed block is dropped and another is timed in its place (within the plan's time limit). Each side's own
figures are its clean blocks pooled, so the trial tables show measurements taken side by side too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from lepton.contract import Contract
from lepton.measure.interference import Disturbance, Watch
from lepton.measure.timing import (
    ConcurrentStats,
    Estimate,
    Feeds,
    LatencyStats,
    TimingPlan,
    burst,
    loaded_load,
    warm_up,
)

PAIRS = 8  # clean pairs a comparison aims for (each side's minimum time is split over them)
LOADED_PAIRS = 6  # pairs of concurrent bursts
MIN_PAIRS = 4  # fewer clean pairs than this and the comparison is flagged disturbed
MAX_ROUNDS = 4  # at most this many times the pairs aimed for, before the time limit (windows of rounds aside)
WINDOW_S = 0.15  # interference is judged over windows at least this long (15 ticks of the kernel's CPU clock)


class PairedRatios(Contract):
    """Side ``b`` against side ``a`` (trial ids), timed in alternating blocks at one batch size; each ratio above
    1 favours ``b``."""

    a: str
    b: str
    batch_size: int
    pairs: int  # clean pairs of single-stream blocks the ratios come from
    dropped: int = 0  # pairs left out because a block of theirs was disturbed
    single_stream: Estimate  # b's throughput over a's
    p50: Estimate  # a's p50 over b's: times lower
    loaded_pairs: int = 0
    loaded: Estimate | None = None  # b's throughput with concurrent callers over a's
    disturbed: Disturbance | None = None  # too few clean pairs: every pair was used, and the ratios are flagged


def median_ratio(ratios: Sequence[float]) -> Estimate:
    """The median of per-pair ratios with a distribution-free 95% interval: the k-th smallest and k-th largest ratio,
    k the largest that brackets the median with at least 95% probability (binomial; k = 1, the whole range, up to 8
    pairs; with 5 or fewer even that is less: 94% at 5). A percentile bootstrap of the median over 6-12 pairs missed
    the true ratio 5-8% of the time, and failed ``lepton check`` on an unchanged model."""
    x = np.sort(np.log(np.asarray(ratios, dtype=float)))  # the log scale: a ratio and its inverse sit alike
    n = len(x)
    med = float(np.exp(np.median(x)))
    k = median_rank(n)
    lo, hi = float(np.exp(x[k - 1])), float(np.exp(x[n - k]))
    return Estimate(value=round(med, 4), low=round(min(lo, med), 4), high=round(max(hi, med), 4))


def median_rank(n: int, alpha: float = 0.05) -> int:
    """The largest k (1-based, at least 1) with P(Binomial(n, 1/2) < k) <= alpha/2: the k-th smallest and k-th
    largest of n values bracket their median with probability >= 1 - alpha."""
    best = 1
    for k in range(1, n // 2 + 1):
        if sum(math.comb(n, i) for i in range(k)) / 2**n > alpha / 2:
            break
        best = k
    return best


@dataclass
class Side:
    """One configuration of a comparison: how to run it, its batches, and its concurrency (callers, requests)."""

    run: Callable[[Feeds], object]
    batches: Sequence[Feeds]
    batch_size: int = 1
    callers: int = 2
    requests: int = 64
    failed: BaseException | None = None
    warmup_runs: int | None = None
    blocks: list[tuple[list[float], bool]] = field(default_factory=list)  # per round: runs, disturbed
    bursts: list[ConcurrentStats] = field(default_factory=list)
    burst_disturbed: list[bool] = field(default_factory=list)
    watch: Watch = field(default_factory=Watch)  # the comparison's windows (shared by its sides)
    i: int = 0


def interleave(sides: Sequence[Side], plan: TimingPlan, *, concurrent: bool = False) -> None:
    """Warm every side up, then time them in rounds of one block each, the order reversed every round; with
    ``concurrent``, the same for bursts of concurrent callers. A side that raises is set aside (``failed``).

    Interference is judged per window of rounds at least ``WINDOW_S`` long (the kernel counts CPU time in 10 ms
    ticks: a block of a fast model is too short to judge alone); a disturbed window's rounds are all dropped."""
    watch = Watch()
    for s in sides:
        s.watch = watch
        _guard(s, partial(_warm, s, plan))
    runs_per_block: dict[int, int] = {}
    for s in sides:
        call_s = _call_seconds(s)
        runs_per_block[id(s)] = max(math.ceil(plan.min_runs / PAIRS), math.ceil(plan.min_seconds / PAIRS / call_s), 1)
        s.callers, s.requests = loaded_load(s.batch_size, call_s, LOADED_PAIRS)  # the load split over the bursts
    limit = time.perf_counter() + plan.max_seconds * max(1, len(sides))
    _rounds(sides, PAIRS, limit, watch, lambda s: _block(s, runs_per_block[id(s)]), _mark_block)
    if concurrent:
        _rounds(sides, LOADED_PAIRS, limit + plan.max_seconds, watch, _loaded_block, _mark_burst)


def _warm(s: Side, plan: TimingPlan) -> None:
    s.warmup_runs = warm_up(s.run, s.batches, plan)


def _call_seconds(s: Side) -> float:
    """One run's time: each side gets its minimum time and runs over ``PAIRS`` blocks (a slow side runs fewer,
    longer blocks)."""
    t0 = time.perf_counter()
    _guard(s, lambda: s.run(s.batches[0]))
    return max(time.perf_counter() - t0, 1e-6)


def _guard(s: Side, fn: Callable[[], object]) -> None:
    if s.failed is not None:
        return
    try:
        fn()
    except Exception as e:  # noqa: BLE001  one side's failure is its trial's, the comparison goes on
        s.failed = e


def _block(s: Side, runs: int) -> None:
    samples: list[float] = []

    def timed() -> None:
        for _ in range(runs):
            feeds = s.batches[s.i % len(s.batches)]
            t0 = time.perf_counter()
            s.run(feeds)
            samples.append((time.perf_counter() - t0) * 1000.0)
            s.i += 1

    _guard(s, timed)
    if s.failed is None:
        s.blocks.append((samples, False))


def _loaded_block(s: Side) -> None:
    out: list[ConcurrentStats] = []
    _guard(s, lambda: out.append(burst(s.run, s.batches, s.callers, s.requests)))
    if s.failed is None:
        s.bursts.append(out[0])
        s.burst_disturbed.append(False)


def _mark_block(s: Side, i: int) -> None:
    s.blocks[i] = (s.blocks[i][0], True)


def _mark_burst(s: Side, i: int) -> None:
    s.burst_disturbed[i] = True


def _rounds(
    sides: Sequence[Side],
    pairs: int,
    limit: float,
    watch: Watch,
    one: Callable[[Side], None],
    mark: Callable[[Side, int], None],
) -> None:
    """Rounds until ``pairs`` of them were clean (or ``limit``); each window of rounds is judged as a whole."""
    clean = 0
    pending: list[list[tuple[Side, int]]] = []  # the open window's rounds: (side, index of its entry)
    watch.start_block()
    window_start = time.perf_counter()
    for r in range(pairs * MAX_ROUNDS):
        live = [s for s in sides if s.failed is None]
        if not live:
            break
        entries = []
        for s in live if r % 2 == 0 else live[::-1]:
            one(s)
            if s.failed is None:
                entries.append((s, len(s.bursts if mark is _mark_burst else s.blocks) - 1))
        pending.append(entries)
        if time.perf_counter() - window_start < WINDOW_S and r < pairs * MAX_ROUNDS - 1:
            continue
        if watch.end_block():
            for round_entries in pending:
                for s, i in round_entries:
                    mark(s, i)
        else:
            clean += len(pending)
        pending = []
        if clean >= pairs or time.perf_counter() > limit:
            return
        watch.start_block()
        window_start = time.perf_counter()
    if pending:  # the last window, cut short
        if watch.end_block():
            for round_entries in pending:
                for s, i in round_entries:
                    mark(s, i)


def compare(a: Side, b: Side, a_id: str, b_id: str, batch_size: int) -> PairedRatios | None:
    """The per-pair ratios of ``b`` over ``a`` from the rounds both took part in."""
    n = min(len(a.blocks), len(b.blocks))
    if a.failed is not None or b.failed is not None or n == 0:
        return None
    rounds = [(a.blocks[i], b.blocks[i]) for i in range(n)]
    clean = [(x, y) for x, y in rounds if not x[1] and not y[1]]
    flagged = len(clean) < MIN_PAIRS
    used = rounds if flagged else clean
    single = median_ratio([float(np.mean(x[0])) / float(np.mean(y[0])) for x, y in used])
    p50 = median_ratio([float(np.median(x[0])) / float(np.median(y[0])) for x, y in used])
    loaded, loaded_pairs = None, 0
    m = min(len(a.bursts), len(b.bursts))
    if m:
        bursts = [(a.bursts[i], b.bursts[i], a.burst_disturbed[i] or b.burst_disturbed[i]) for i in range(m)]
        clean_bursts = [(x, y) for x, y, d in bursts if not d]
        used_bursts = clean_bursts if len(clean_bursts) >= MIN_PAIRS else [(x, y) for x, y, _ in bursts]
        flagged = flagged or len(clean_bursts) < MIN_PAIRS
        loaded = median_ratio([y.throughput_per_s / x.throughput_per_s for x, y in used_bursts])
        loaded_pairs = len(used_bursts)
    disturbed = a.watch.disturbance() if flagged else None
    return PairedRatios(
        a=a_id,
        b=b_id,
        batch_size=batch_size,
        pairs=len(used),
        dropped=len(rounds) - len(clean) if not flagged else 0,
        single_stream=single,
        p50=p50,
        loaded_pairs=loaded_pairs,
        loaded=loaded,
        disturbed=disturbed,
    )


def latency_of(s: Side, plan: TimingPlan) -> LatencyStats:
    """The side's clean blocks pooled (every block, flagged, when too few were clean)."""
    batch_size = int(next(iter(s.batches[0].values())).shape[0]) if s.batches[0] else 1
    clean = [x for runs, disturbed in s.blocks if not disturbed for x in runs]
    dropped = [x for runs, disturbed in s.blocks if disturbed for x in runs]
    if len(clean) >= min(plan.enough_clean_runs, len(clean) + len(dropped)):
        return LatencyStats(tuple(clean), batch_size, s.warmup_runs, len(dropped))
    return LatencyStats(tuple(clean + dropped), batch_size, s.warmup_runs, 0, s.watch.disturbance())


def concurrent_of(s: Side) -> ConcurrentStats | None:
    """The side's clean bursts pooled: their requests over their time (every burst, flagged, when none was clean)."""
    if not s.bursts:
        return None
    clean = [b for b, d in zip(s.bursts, s.burst_disturbed, strict=True) if not d]
    used = clean or s.bursts
    samples = tuple(x for b in used for x in b.latency.samples_ms)
    first = used[0]
    return ConcurrentStats(
        callers=first.callers,
        requests=sum(b.requests for b in used),
        seconds=sum(b.seconds for b in used),
        latency=LatencyStats(samples, first.latency.batch_size),
        disturbance=None if clean else s.watch.disturbance(),
    )
