"""Off the answer path: one low-priority thread runs a rollout's shadow copies from a bounded queue.

Why it exists: a shadow copy sent through the candidate's own Batcher ran on sessions with every core's threads
(its lanes, its solo lane), side by side with the incumbent's; on 2 cores each copy took both cores from the
incumbent's next answer, and ONNX Runtime's spinning pool threads kept them busy after each run. Here a copy runs
on a single-threaded session (ONNX Runtime and OpenVINO then compute on the calling thread: no pool, no spinning),
on one thread lowered to ``nice`` 19, so the scheduler gives the cores to the answer path first and the shadow uses
mostly what it leaves idle. (Not ``SCHED_IDLE``: a thread holding the GIL while starved would stall the event
loop; at nice 19 it is never starved for long.)

The queue is bounded: a copy that finds it full is dropped and counted, never waited for, so a shadow that falls
behind costs evidence, not latency. Whether a copy is dropped depends on the queue, not on the request's content,
so the copies that do run stay a fair sample for the sequential test.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable

log = logging.getLogger("lepton.serve")
Job = Callable[[], None]
LOW_PRIORITY = 19  # the nice value of the off-path thread


def lower_priority(nice: int = LOW_PRIORITY) -> bool:
    """Lower the calling thread's priority (Linux: ``setpriority`` takes a thread id); False where it cannot."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError) as e:  # not Linux, or not allowed
        log.warning("the rollout's off-path thread keeps its priority (%s)", e)
        return False
    return True


class OffPath:
    """A bounded queue of jobs and the one low-priority thread that runs them, oldest first."""

    def __init__(self, capacity: int, *, name: str = "lepton-offpath", nice: int = LOW_PRIORITY) -> None:
        if capacity < 1:
            raise ValueError(f"an off-path queue holds at least one job; got {capacity}")
        self.capacity = capacity
        self.nice = nice
        self.submitted = self.dropped = 0  # written on the submitting thread only (the event loop)
        self.lowered = False
        self._closed = False
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Jobs waiting now (the one running not counted)."""
        return self._jobs.qsize()

    def submit(self, job: Job) -> bool:
        """Queue ``job``; False (and counted as dropped) when the queue is full. Never blocks."""
        if self._closed:
            return False
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            self.dropped += 1
            return False
        self.submitted += 1
        return True

    def _work(self) -> None:
        self.lowered = lower_priority(self.nice)
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # noqa: BLE001 - a job reports its own failures; this keeps the thread alive
                log.exception("an off-path job failed")

    def close(self, timeout_s: float = 30.0) -> None:
        """Drop the jobs still queued, let the running one finish, stop the thread."""
        self._closed = True
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        self._jobs.put(None)
        self._thread.join(timeout_s)
