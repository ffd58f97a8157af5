"""A Batcher per model: a bounded queue of requests, merged into batches that run on the model's lanes.

A lane is a session with its own thread. Lane threads pull work from the queue themselves: when a lane
frees up it takes the next batch at once (no hop through the event loop), asks the policy whether
waiting for more rows pays, merges compatible requests (same shapes, or padded where the model masks
padding), runs them, splits the outputs back and hands them to the event loop.

``Lanes`` holds ``parallel`` runners (sessions side by side, each with a share of the cores: the most
throughput when requests overlap, since no session waits on another's threads) and optionally a ``solo``
runner with all the cores (the lowest latency for a request that arrives alone). The solo lane runs only
when nothing else does and arrivals have mostly found the model idle; the parallel lanes run otherwise.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from lepton.errors import ServeError
from lepton.serve.merge import PadRule, group_key, merge, split
from lepton.serve.policy import Clock, PolicyState

Feeds = Mapping[str, np.ndarray]
Outputs = dict[str, np.ndarray]
Run = Callable[[Feeds], Outputs]


class Policy(Protocol):
    mode: str

    def cap(self) -> int: ...
    def delay_s(self, queued_rows: int, now: float) -> float: ...
    def observe_batch(self, rows: int, seconds: float, now: float) -> None: ...
    def observe_wait(self, waited_s: float, rows_gained: int) -> None: ...
    def row_seconds(self) -> float: ...
    def state(self) -> PolicyState: ...


class QueueFull(ServeError):
    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, 429)
        self.retry_after_s = retry_after_s


class WouldMissDeadline(QueueFull):
    """503 at once: the rows ahead would take longer than the request's timeout, so it would only end in a 504."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, retry_after_s)
        self.status = 503


class BatchObserver(Protocol):
    def on_batch(self, rows: int, seconds: float, queue_rows: int, state: PolicyState) -> None: ...


@dataclass(frozen=True)
class Lanes:
    """Where a model's batches run: ``parallel`` runners side by side, and an optional ``solo`` runner."""

    parallel: tuple[Run, ...]
    solo: Run | None = None

    def __post_init__(self) -> None:
        if not self.parallel:
            raise ValueError("a model needs at least one lane")


@dataclass(eq=False)
class _Lane:
    run: Run
    solo: bool
    wake: threading.Condition
    idle: bool = False  # waiting for work
    woken: bool = False  # notified, not yet awake: counts as taken for the next wake-up


@dataclass(eq=False)
class _Item:
    feeds: Feeds
    rows: int
    key: tuple[object, ...]
    future: asyncio.Future[Outputs]
    enqueued: float = field(default=0.0)


class Batcher:
    """Queue, merge, run and split for one model; ``submit`` is called on the event loop."""

    contention_weight = 0.25  # EWMA weight of "this arrival found work ahead of it" (3 lone arrivals flip it)
    solo_below = 0.5  # the solo lane serves while fewer than this share of arrivals found work ahead

    def __init__(
        self,
        run: Run | Lanes,
        policy: Policy,
        *,
        max_queue_rows: int,
        pad: PadRule | None = None,
        observer: BatchObserver | None = None,
        clock: Clock = time.perf_counter,
        name: str = "model",
    ) -> None:
        self.lanes = run if isinstance(run, Lanes) else Lanes((run,))
        self.policy = policy
        self.max_queue_rows = max_queue_rows
        self.pad = pad
        self.observer = observer
        self.clock = clock
        self.name = name
        self._queue: deque[_Item] = deque()
        self._lock = threading.Lock()
        self._lanes = [_Lane(r, False, threading.Condition(self._lock)) for r in self.lanes.parallel]
        if self.lanes.solo is not None:
            self._lanes.append(_Lane(self.lanes.solo, True, threading.Condition(self._lock)))
        self._former: _Lane | None = None  # the lane waiting for more rows: the others leave the queue alone
        self.queued_rows = 0
        self.in_flight_rows = 0
        self._running = 0  # batches running now
        self._solo_running = False
        self._contention = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._loop = asyncio.get_running_loop()
        for i, lane in enumerate(self._lanes):
            t = threading.Thread(
                target=self._work, args=(lane,), name=f"lepton-{self.name}-{'solo' if lane.solo else i}", daemon=True
            )
            t.start()
            self._threads.append(t)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Refuse new requests, finish the queued and running ones, then stop the lanes."""
        with self._lock:
            self._closing = True
            for lane in self._lanes:
                lane.wake.notify()
        deadline = self.clock() + timeout_s
        while (self._queue or self._running) and self.clock() < deadline:
            await asyncio.sleep(0.005)
        with self._lock:
            left = list(self._queue)
            self._queue.clear()
            self.queued_rows = 0
        for item in left:
            if not item.future.done():
                item.future.set_exception(ServeError(f"model {self.name!r} was unloaded", 503))
        threads, self._threads = self._threads, []

        def join_all() -> None:
            for t in threads:
                t.join(max(0.0, deadline - self.clock()) + 1.0)

        await asyncio.to_thread(join_all)

    @property
    def instances(self) -> int:
        return len(self.lanes.parallel)

    def retry_after_s(self) -> int:
        per_row = self.policy.row_seconds() or 0.05
        return max(1, math.ceil((self.queued_rows + self.in_flight_rows) * per_row / self.instances))

    def expected_wait_s(self, rows: int) -> float:
        """How long ``rows`` more rows would take to be answered: every row ahead and their own, at the measured
        time per row, over the instances (0 until a batch has been measured)."""
        return (self.queued_rows + self.in_flight_rows + rows) * self.policy.row_seconds() / self.instances

    # -- requests (event loop) ------------------------------------------------------------------
    async def submit(self, feeds: Feeds, rows: int, timeout_s: float) -> Outputs:
        """Queue one request (``rows`` rows) and wait for its outputs, at most ``timeout_s``."""
        if self._closing or not self._threads:
            raise ServeError(f"model {self.name!r} is not accepting requests (unloading or shutting down)", 503)
        assert self._loop is not None
        fut: asyncio.Future[Outputs] = self._loop.create_future()
        item = _Item(feeds, rows, group_key(feeds, self.pad), fut, self.clock())
        with self._lock:
            if self.queued_rows + rows > self.max_queue_rows:
                raise QueueFull(
                    f"model {self.name!r} is overloaded: {self.queued_rows} rows queued (limit "
                    f"{self.max_queue_rows}); retry after {self.retry_after_s()} s",
                    self.retry_after_s(),
                )
            wait = self.expected_wait_s(rows)
            if wait > timeout_s:
                raise WouldMissDeadline(
                    f"model {self.name!r} would answer in about {wait:.2f} s ({self.queued_rows} rows queued, "
                    f"{self.in_flight_rows} running), past the {timeout_s:g} s timeout; retry after "
                    f"{self.retry_after_s()} s",
                    self.retry_after_s(),
                )
            ahead = 1.0 if (self._queue or self._running) else 0.0
            self._contention += self.contention_weight * (ahead - self._contention)
            self._queue.append(item)
            self.queued_rows += rows
            self._wake_one()
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise ServeError(
                f"model {self.name!r} did not answer within {timeout_s:g} s "
                f"(queue: {self.queued_rows} rows); "
                "retry later or raise --timeout",
                504,
            ) from None

    # -- the lanes (their own threads) ----------------------------------------------------------
    def _may_start(self, solo: bool) -> bool:
        """Whether a free lane may take a batch now (called with the lock held)."""
        if not self._queue or self._former is not None:
            return False
        if self.lanes.solo is None:
            return True
        light = self._running == 0 and self._contention < self.solo_below
        return light if solo else not (self._solo_running or light)

    def _wake_one(self) -> None:
        """Wake the lane that should act on the queue now, if any (called with the lock held).

        One lane at a time: a lane that takes a batch passes the turn on when rows are left, so a request
        wakes one thread, not every lane's.
        """
        if self._former is not None:
            self._former.wake.notify()  # it is waiting for rows: let it count them
            return
        if any(lane.woken for lane in self._lanes):
            return
        for lane in reversed(self._lanes):  # the solo lane first
            if lane.idle and self._may_start(lane.solo):
                lane.woken = True
                lane.wake.notify()
                return

    def _take(self, cap: int) -> list[_Item]:
        """FIFO items that share the first live item's key, up to ``cap`` rows (at least one item)."""
        taken: list[_Item] = []
        rows = 0
        key: tuple[object, ...] | None = None
        skipped: list[_Item] = []
        while self._queue:
            item = self._queue.popleft()
            if item.future.done():  # timed out while queued
                self.queued_rows -= item.rows
                continue
            if key is None:
                key = item.key
            elif item.key != key or rows + item.rows > cap:
                skipped.append(item)
                if rows + item.rows > cap and item.key == key:
                    break
                continue
            taken.append(item)
            rows += item.rows
            self.queued_rows -= item.rows
            if rows >= cap:
                break
        self._queue.extendleft(reversed(skipped))
        return taken

    def _next_batch(self, lane: _Lane) -> list[_Item] | None:
        """Wait until this lane may run, then take a batch (waiting for more rows if the policy says so)."""
        with self._lock:
            while not self._may_start(lane.solo):
                if self._closing and not self._queue:
                    return None
                if lane.woken:  # woken, but things changed (say, the crowd grew): pass the turn on
                    lane.woken = False
                    self._wake_one()
                lane.idle = True
                lane.wake.wait()
                lane.idle = False
            lane.woken = False
            cap = self.policy.cap()
            now = self.clock()
            delay = self.policy.delay_s(self.queued_rows, now)
            if delay > 0 and self.queued_rows < cap:
                self._former = lane
                before = self.queued_rows
                deadline = self._queue[0].enqueued + delay
                while self.queued_rows < cap and not self._closing and (left := deadline - self.clock()) > 0:
                    lane.wake.wait(left)
                self._former = None
                self.policy.observe_wait(max(0.0, self.clock() - now), self.queued_rows - before)
            items = self._take(cap)
            if items:
                self._running += 1
                self._solo_running = self._solo_running or lane.solo
                self.in_flight_rows += sum(it.rows for it in items)
            self._wake_one()  # rows left over: another lane may take them
            return items

    def _work(self, lane: _Lane) -> None:
        run, solo = lane.run, lane.solo
        while (items := self._next_batch(lane)) is not None:
            if not items:
                continue
            rows = [it.rows for it in items]
            outs: list[Outputs] | None = None
            error: BaseException | None = None
            seconds = 0.0
            try:
                merged, lengths = merge([it.feeds for it in items], self.pad)
                t0 = time.perf_counter()
                outputs = run(merged)
                seconds = time.perf_counter() - t0
                outs = split(outputs, rows, lengths, self.pad)
            except Exception as e:  # noqa: BLE001 - every waiter gets the failure, the lane keeps serving
                error = e
            total = sum(rows)
            with self._lock:
                self._running -= 1
                if solo:
                    self._solo_running = False
                self.in_flight_rows -= total
                if error is None:
                    self.policy.observe_batch(total, seconds, self.clock())
                state = self.policy.state()
                self._wake_one()  # the queue may now suit another lane (the solo lane needs the others idle)
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._deliver, items, outs, error, total, seconds, state)
            except RuntimeError:  # the event loop is closed: nobody is waiting any more
                return

    def _deliver(
        self,
        items: Sequence[_Item],
        outs: list[Outputs] | None,
        error: BaseException | None,
        total: int,
        seconds: float,
        state: PolicyState,
    ) -> None:
        """On the event loop: answer the waiters of one batch and record it."""
        if error is not None or outs is None:
            err = error if isinstance(error, ServeError) else ServeError(f"model {self.name!r} failed: {error}", 500)
            for it in items:
                if not it.future.done():
                    it.future.set_exception(err)
            return
        if self.observer is not None:
            self.observer.on_batch(total, seconds, self.queued_rows, state)
        for it, out in zip(items, outs, strict=True):
            if not it.future.done():
                it.future.set_result(out)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:  # the lanes update the policy from their threads
            st = self.policy.state()
            costs: dict[str, Any] = getattr(self.policy, "costs", dict)()
        return {
            "mode": self.policy.mode,
            "max_batch_size": st.max_batch_size,
            "delay_ms": round(st.delay_s * 1000, 3),
            "queued_rows": self.queued_rows,
            "in_flight_rows": self.in_flight_rows,
            "instances": self.instances,
            "solo_lane": self.lanes.solo is not None,
            "contention": round(self._contention, 3),
            "ms_per_row": costs,
        }
