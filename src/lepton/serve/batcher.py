"""A Batcher per model: a bounded queue of requests, merged into batches that run off the event loop.

The dispatcher takes the queue as soon as the session is free (so a lone request never waits), asks the
policy whether waiting for more rows pays, merges compatible requests (same shapes, or padded where the
model masks padding), runs the batch on the model's own thread, and splits the outputs back.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from lepton.errors import ServeError
from lepton.serve.merge import PadRule, group_key, merge, split
from lepton.serve.policy import Clock, PolicyState

Feeds = Mapping[str, np.ndarray]
Outputs = dict[str, np.ndarray]


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


class BatchObserver(Protocol):
    def on_batch(self, rows: int, seconds: float, queue_rows: int, state: PolicyState) -> None: ...


@dataclass(eq=False)
class _Item:
    feeds: Feeds
    rows: int
    key: tuple[object, ...]
    future: asyncio.Future[Outputs]
    enqueued: float = field(default=0.0)


class Batcher:
    """Queue, merge, run and split for one model. ``run`` is called on dedicated threads (``instances``)."""

    def __init__(
        self,
        run: Callable[[Feeds], Outputs],
        policy: Policy,
        *,
        max_queue_rows: int,
        pad: PadRule | None = None,
        observer: BatchObserver | None = None,
        clock: Clock = time.perf_counter,
        name: str = "model",
        instances: int = 1,
    ) -> None:
        self.run_fn = run
        self.policy = policy
        self.max_queue_rows = max_queue_rows
        self.pad = pad
        self.observer = observer
        self.clock = clock
        self.name = name
        self._queue: deque[_Item] = deque()
        self.queued_rows = 0
        self.in_flight_rows = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.instances = instances  # batches that may run at once (Triton's instance count)
        self._executor = ThreadPoolExecutor(max_workers=instances, thread_name_prefix=f"lepton-{name}")
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher-{self.name}")

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Refuse new requests, finish the queued and running ones, then stop."""
        self._closing = True
        deadline = self.clock() + timeout_s
        while (self._queue or self.in_flight_rows) and self.clock() < deadline:
            await asyncio.sleep(0.005)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for item in self._queue:
            if not item.future.done():
                item.future.set_exception(ServeError(f"model {self.name!r} was unloaded", 503))
        self._queue.clear()
        self._executor.shutdown(wait=True)

    @property
    def busy(self) -> bool:
        return self.in_flight_rows > 0

    def retry_after_s(self) -> int:
        per_row = self.policy.row_seconds() or 0.05
        return max(1, math.ceil((self.queued_rows + self.in_flight_rows) * per_row))

    # -- requests -------------------------------------------------------------------------------
    async def submit(self, feeds: Feeds, rows: int, timeout_s: float) -> Outputs:
        """Queue one request (``rows`` rows) and wait for its outputs, at most ``timeout_s``."""
        if self._closing or self._task is None:
            raise ServeError(f"model {self.name!r} is not accepting requests (unloading or shutting down)", 503)
        if self.queued_rows + rows > self.max_queue_rows:
            raise QueueFull(
                f"model {self.name!r} is overloaded: {self.queued_rows} rows queued (limit "
                f"{self.max_queue_rows}); retry after {self.retry_after_s()} s",
                self.retry_after_s(),
            )
        fut: asyncio.Future[Outputs] = asyncio.get_running_loop().create_future()
        item = _Item(feeds, rows, group_key(feeds, self.pad), fut, self.clock())
        self._queue.append(item)
        self.queued_rows += rows
        assert self._wake is not None
        self._wake.set()
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise ServeError(
                f"model {self.name!r} did not answer within {timeout_s:g} s "
                f"(queue: {self.queued_rows} rows); "
                "retry later or raise --timeout",
                504,
            ) from None

    # -- the dispatcher -------------------------------------------------------------------------
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

    async def _loop(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self.instances)
        running: set[asyncio.Task[None]] = set()
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            await slots.acquire()  # a free session slot: with one instance, the previous batch is done
            cap = self.policy.cap()
            now = self.clock()
            delay = self.policy.delay_s(self.queued_rows, now)
            if delay > 0 and self.queued_rows < cap:
                before = self.queued_rows
                deadline = self._queue[0].enqueued + delay
                while self.queued_rows < cap and (left := deadline - self.clock()) > 0:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), left)
                    except TimeoutError:
                        break
                self.policy.observe_wait(max(0.0, self.clock() - now), self.queued_rows - before)
            items = self._take(cap)
            if not items:
                slots.release()
                continue
            rows = [it.rows for it in items]
            self.in_flight_rows += sum(rows)
            # hand the batch to the session thread now, before the answers of the previous batch are
            # written (those callbacks are queued ahead of any new task), so the session never idles
            pending = loop.run_in_executor(self._executor, self._run_batch, [it.feeds for it in items], rows)
            task = loop.create_task(self._finish(items, rows, pending, slots))
            running.add(task)
            task.add_done_callback(running.discard)

    async def _finish(
        self,
        items: list[_Item],
        rows: list[int],
        pending: asyncio.Future[tuple[list[Outputs], float]],
        slots: asyncio.Semaphore,
    ) -> None:
        total = sum(rows)
        try:
            outs, seconds = await pending
        except Exception as e:  # noqa: BLE001 - every waiter gets the failure, the loop keeps serving
            err = e if isinstance(e, ServeError) else ServeError(f"model {self.name!r} failed: {e}", 500)
            for it in items:
                if not it.future.done():
                    it.future.set_exception(err)
            return
        finally:
            self.in_flight_rows -= total
            slots.release()
        self.policy.observe_batch(total, seconds, self.clock())
        if self.observer is not None:
            self.observer.on_batch(total, seconds, self.queued_rows, self.policy.state())
        for it, out in zip(items, outs, strict=True):
            if not it.future.done():
                it.future.set_result(out)

    def _run_batch(self, feeds: list[Feeds], rows: list[int]) -> tuple[list[Outputs], float]:
        merged, lengths = merge(feeds, self.pad)
        t0 = time.perf_counter()
        outputs = self.run_fn(merged)
        seconds = time.perf_counter() - t0
        return split(outputs, rows, lengths, self.pad), seconds

    def snapshot(self) -> dict[str, Any]:
        st = self.policy.state()
        return {
            "mode": self.policy.mode,
            "max_batch_size": st.max_batch_size,
            "delay_ms": round(st.delay_s * 1000, 3),
            "queued_rows": self.queued_rows,
            "in_flight_rows": self.in_flight_rows,
            "instances": self.instances,
            "ms_per_row": getattr(self.policy, "costs", dict)(),
        }
