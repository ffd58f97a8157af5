"""Batching policies: how many rows to put in a batch, and whether to wait for more before running.

``FixedPolicy`` is the classic window (up to ``max_batch_size`` rows or ``max_delay_ms``). ``AdaptivePolicy``
learns the session's cost per row at each batch size and the rows that waiting actually brings, and:

- caps batches at the size with the lowest measured cost per row whose run time fits the latency target
  (any size when a backlog builds up: queueing then dominates latency, and the cheapest size drains it
  fastest; under a backlog it measures each larger size in turn before settling), trying the neighbouring
  sizes now and then, since timings drift;
- waits for more rows only when the session is busy most of the time, a bigger batch has measurably
  lower cost per row (>= 10%), past waits did bring rows, and the wait fits the latency target. Otherwise
  it dispatches at once: with an idle session and an empty queue, a request runs immediately.

The target is the SLO's time bound whatever its statistic (``p95``, ``p99.9`` or ``mean``): keeping each
batch's run and wait within it holds the mean and every percentile under it. An SLO stated at a batch size
(``p95<=20ms@8``, the size ``lepton optimize`` measured it at) caps batches at that many rows
(``models._policy``).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from lepton.slo import Slo

Clock = Callable[[], float]


@dataclass
class PolicyState:
    max_batch_size: int
    delay_s: float


class FixedPolicy:
    mode = "fixed"

    def __init__(self, max_batch_size: int, max_delay_s: float) -> None:
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        self._row_s = 0.0

    def cap(self) -> int:
        return self.max_batch_size

    def delay_s(self, queued_rows: int, now: float) -> float:
        return self.max_delay_s if queued_rows < self.max_batch_size else 0.0

    def observe_batch(self, rows: int, seconds: float, now: float) -> None:
        self._row_s = seconds / rows if not self._row_s else 0.8 * self._row_s + 0.2 * seconds / rows

    def observe_wait(self, waited_s: float, rows_gained: int) -> None:
        pass

    def row_seconds(self) -> float:
        return self._row_s

    def state(self) -> PolicyState:
        return PolicyState(self.max_batch_size, self.max_delay_s)


def _bucket(rows: int) -> int:
    return 1 << (max(rows, 1).bit_length() - 1)


class AdaptivePolicy:
    """Online tuning of batch cap and delay towards ``slo`` at the lowest measured cost per row."""

    mode = "adaptive"
    samples = 9  # per batch size, the median of the last few per-row costs (timings are noisy)
    size_bias = 0.02  # per doubling: among near-equal costs, prefer the larger batch (less overhead)
    min_gain = 0.10  # a bigger batch must cut cost per row by this much before waiting is worth it
    busy_threshold = 0.7  # the session must be busy this fraction of the time
    explore_every = 16  # every Nth full batch tries a neighbouring cap (x2, x1/2, x4, x1/4 in turn)
    window_s = 1.0

    def __init__(self, max_batch_size: int, slo: Slo | None, clock: Clock) -> None:
        self.max_batch_size = max_batch_size
        self.slo = slo
        self.clock = clock
        self._row_s: dict[int, float] = {}  # batch-size bucket -> median seconds per row
        self._seen: dict[int, deque[float]] = {}
        self._n: dict[int, int] = {}
        self._cap = max_batch_size
        self._full_batches = 0
        self._explore_turn = 0
        self._exploring: int | None = None
        self._busy = 0.0  # EWMA busy fraction
        self._win_start = clock()
        self._win_busy = 0.0
        self._gain_per_s: float | None = None  # rows that waiting brought, per second waited
        self._skipped = 0
        self._delay = 0.0
        self._backlog = 0.0  # EWMA of rows queued when a batch is formed

    # -- observations ---------------------------------------------------------------------------
    def observe_batch(self, rows: int, seconds: float, now: float) -> None:
        b = _bucket(rows)
        seen = self._seen.setdefault(b, deque(maxlen=self.samples))
        seen.append(seconds / max(rows, 1))
        self._row_s[b] = statistics.median(seen)
        self._n[b] = self._n.get(b, 0) + 1
        self._win_busy += seconds
        elapsed = now - self._win_start
        if elapsed >= self.window_s:
            frac = min(1.0, self._win_busy / elapsed)
            self._busy = 0.5 * self._busy + 0.5 * frac
            self._win_start, self._win_busy = now, 0.0
        if rows >= self._cap:
            self._full_batches += 1
        self._exploring = None
        self._retune()

    def observe_wait(self, waited_s: float, rows_gained: int) -> None:
        if waited_s <= 0:
            return
        rate = rows_gained / waited_s
        self._gain_per_s = rate if self._gain_per_s is None else 0.7 * self._gain_per_s + 0.3 * rate

    def row_seconds(self) -> float:
        return self._row_s.get(_bucket(self._cap)) or min(self._row_s.values(), default=0.0)

    # -- decisions ------------------------------------------------------------------------------
    def _fits(self, b: int) -> bool:
        if self.slo is None or self._backlog >= self._cap:
            # saturated: queueing dominates latency, and the cheapest batch size drains the queue fastest
            return True
        return self._row_s[b] * b <= 0.5 * self.slo.seconds

    def _retune(self) -> None:
        known = [b for b in self._row_s if self._n[b] >= 3 and b <= self.max_batch_size]
        if not known:
            return
        fitting = [b for b in known if self._fits(b)] or [min(known)]
        self._cap = min(fitting, key=lambda b: self._row_s[b] * (1 - self.size_bias * math.log2(b)))

    def cap(self) -> int:
        if self._backlog >= self._cap and self._exploring is None:
            # saturated: a backlog is waiting, so try the next larger size until it has been measured
            # (learning only from the sizes light load produced would keep batches small under load)
            up = min(self.max_batch_size, self._cap * 2)
            if up > self._cap and self._n.get(_bucket(up), 0) < 3:
                self._exploring = up
                return up
        if self._full_batches and self._full_batches % self.explore_every == 0 and self._exploring is None:
            self._full_batches += 1
            factor = (2.0, 0.5, 4.0, 0.25)[self._explore_turn % 4]
            self._explore_turn += 1
            self._exploring = max(1, min(self.max_batch_size, int(self._cap * factor)))
            return self._exploring
        return self._exploring or self._cap

    def delay_s(self, queued_rows: int, now: float) -> float:
        self._backlog = 0.8 * self._backlog + 0.2 * queued_rows
        self._delay = self._decide_delay(queued_rows)
        return self._delay

    def _decide_delay(self, queued_rows: int) -> float:
        cap = self._cap
        if self.slo is None or queued_rows >= cap or self._busy < self.busy_threshold:
            return 0.0
        have, want = self._row_s.get(_bucket(queued_rows)), self._row_s.get(_bucket(cap))
        if have is None or want is None or want > have * (1 - self.min_gain):
            return 0.0
        budget = self.slo.seconds - want * cap
        if budget <= 0:
            return 0.0
        limit = min(0.5 * budget, 0.25 * self.slo.seconds)
        gain = self._gain_per_s
        if gain is not None and gain * limit < 1.0:
            # waits have not been bringing rows: try again now and then, else dispatch at once
            self._skipped += 1
            if self._skipped % 64:
                return 0.0
        need = cap - queued_rows
        return min(limit, need / gain) if gain else limit

    def state(self) -> PolicyState:
        return PolicyState(self._exploring or self._cap, self._delay)

    def costs(self) -> dict[str, float]:
        """Median milliseconds per row at each batch size seen (for the dashboard and debugging)."""
        return {str(b): round(s * 1000, 4) for b, s in sorted(self._row_s.items())}
