"""The Batcher and its policies, with an injected clock and a fake session (no sleeps to wait on)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import numpy as np
import pytest

from lepton.errors import ServeError
from lepton.ir.signature import Signature, TensorSpec
from lepton.serve.batcher import Batcher, Lanes, QueueFull
from lepton.serve.config import ServeConfig
from lepton.serve.merge import merge, pad_rule, split
from lepton.serve.policy import AdaptivePolicy, FixedPolicy
from lepton.slo import Slo


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Recorder:
    """A session that doubles its input and records the batch sizes it saw."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.batches.append(len(feeds["x"]))
        return {"y": feeds["x"] * 2}


def _x(v: float, rows: int = 1) -> dict[str, np.ndarray]:
    return {"x": np.full((rows, 2), v, dtype=np.float32)}


def test_requests_queued_while_busy_are_merged_and_split_back() -> None:
    rec = Recorder()

    async def go() -> list[np.ndarray]:
        b = Batcher(rec, FixedPolicy(8, 0.0), max_queue_rows=64)
        b.start()
        outs = await asyncio.gather(*(b.submit(_x(i), 1, 5) for i in range(6)))
        await b.drain()
        return [o["y"] for o in outs]

    outs = asyncio.run(go())

    assert [float(o[0, 0]) for o in outs] == [0, 2, 4, 6, 8, 10]
    assert sum(rec.batches) == 6 and max(rec.batches) > 1


def test_a_lone_request_is_dispatched_without_waiting() -> None:
    rec = Recorder()
    clock = Clock()
    policy = AdaptivePolicy(16, Slo("p95", 20), clock)

    async def go() -> None:
        b = Batcher(rec, policy, max_queue_rows=64, clock=clock)
        b.start()
        await asyncio.wait_for(b.submit(_x(1), 1, 5), 1.0)  # a wait would need the clock to move
        await b.drain()

    asyncio.run(go())

    assert rec.batches == [1] and policy.state().delay_s == 0.0


def test_queue_bound_refuses_with_retry_after() -> None:
    async def go() -> QueueFull:
        b = Batcher(Recorder(), FixedPolicy(4, 0.0), max_queue_rows=2)
        b.start()
        b.queued_rows = 2  # as if two rows were waiting
        try:
            await b.submit(_x(1), 1, 5)
        except QueueFull as e:
            return e
        finally:
            b.queued_rows = 0
            await b.drain()
        raise AssertionError("no refusal")

    err = asyncio.run(go())

    assert err.status == 429 and err.retry_after_s >= 1


def test_a_failing_session_fails_its_requests_not_the_batcher() -> None:
    calls = []

    def flaky(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return {"y": feeds["x"]}

    async def go() -> tuple[ServeError, dict[str, np.ndarray]]:
        b = Batcher(flaky, FixedPolicy(4, 0.0), max_queue_rows=8)
        b.start()
        with pytest.raises(ServeError) as err:
            await b.submit(_x(1), 1, 5)
        ok = await b.submit(_x(2), 1, 5)
        await b.drain()
        return err.value, ok

    err, ok = asyncio.run(go())

    assert err.status == 500 and "boom" in str(err)
    assert float(ok["y"][0, 0]) == 2.0


def test_padding_merges_variable_lengths_and_cuts_outputs_back() -> None:
    sig = Signature(
        (
            TensorSpec("input_ids", "int64", ("batch", "seq")),
            TensorSpec("attention_mask", "int64", ("batch", "seq")),
        ),
        (TensorSpec("hidden", "float32", ("batch", "seq", 4)), TensorSpec("pooled", "float32", ("batch", 4))),
    )
    rule = pad_rule(sig)
    a = {"input_ids": np.ones((1, 3), np.int64), "attention_mask": np.ones((1, 3), np.int64)}
    b = {"input_ids": np.ones((2, 5), np.int64), "attention_mask": np.ones((2, 5), np.int64)}

    merged, lengths = merge([a, b], rule)
    outs = split(
        {"hidden": np.zeros((3, 5, 4), np.float32), "pooled": np.zeros((3, 4), np.float32)},
        [1, 2],
        lengths,
        rule,
    )

    assert merged["input_ids"].shape == (3, 5) and merged["attention_mask"][0].tolist() == [1, 1, 1, 0, 0]
    assert outs[0]["hidden"].shape == (1, 3, 4) and outs[1]["hidden"].shape == (2, 5, 4)
    assert outs[1]["pooled"].shape == (2, 4)


def test_no_padding_without_an_attention_mask() -> None:
    sig = Signature((TensorSpec("x", "float32", ("batch", "n")),), (TensorSpec("y", "float32", ("batch",)),))
    assert pad_rule(sig) is None


def test_adaptive_cap_moves_to_the_cheapest_batch_size() -> None:
    clock = Clock()
    policy = AdaptivePolicy(32, Slo("p95", 1000), clock)
    per_row = {32: 0.0085, 16: 0.0069, 8: 0.0072, 4: 0.0078, 64: 0.01}  # the 2-core MiniLM shape

    for _ in range(200):
        cap = policy.cap()
        clock.t += per_row[cap] * cap
        policy.observe_batch(cap, per_row[cap] * cap, clock.t)

    assert policy.state().max_batch_size in (16, 8, 32)
    assert sum(1 for _ in range(32) if policy.cap() == 16) >= 28


def test_a_backlog_after_light_load_grows_batches_to_the_cheapest_size_quickly() -> None:
    clock = Clock()
    policy = AdaptivePolicy(32, Slo("p95", 50), clock)
    per_row = {1: 0.0115, 2: 0.0105, 4: 0.0095, 8: 0.0092, 16: 0.0094, 32: 0.0097}  # measured shape, MiniLM int8
    for _ in range(20):  # light load: one request at a time
        policy.delay_s(1, clock.t)
        clock.t += per_row[1]
        policy.observe_batch(1, per_row[1], clock.t)
    sizes = []
    for _ in range(40):  # then 30 requests always waiting
        policy.delay_s(30, clock.t)
        rows = min(policy.cap(), 30)
        sizes.append(rows)
        b = 1 << (rows.bit_length() - 1)
        clock.t += per_row[b] * rows
        policy.observe_batch(rows, per_row[b] * rows, clock.t)

    assert max(sizes[:20]) >= 16  # the larger sizes were measured early on
    assert policy.state().max_batch_size == 8  # and the cheapest per row was kept


def test_adaptive_waits_only_when_waiting_brings_rows() -> None:
    clock = Clock()
    policy = AdaptivePolicy(16, Slo("p95", 200), clock)
    for _ in range(40):  # busy all the time, big batches much cheaper per row
        clock.t += 0.05
        policy.observe_batch(16, 0.05, clock.t)
        policy.observe_batch(1, 0.01, clock.t)

    first = policy.delay_s(1, clock.t)
    for _ in range(5):
        policy.observe_wait(0.01, 0)  # closed loop: nobody else comes
    later = [policy.delay_s(1, clock.t) for _ in range(10)]

    assert first > 0
    assert later == [0.0] * 10


def test_two_instances_run_two_batches_at_once() -> None:
    import threading

    active, peak = [0], [0]
    lock = threading.Lock()
    release = threading.Event()

    def session(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            if active[0] == 2:
                release.set()
        release.wait(2.0)  # the first batch waits until a second one runs beside it
        with lock:
            active[0] -= 1
        return {"y": feeds["x"]}

    async def go() -> None:
        b = Batcher(Lanes((session, session)), FixedPolicy(1, 0.0), max_queue_rows=8)
        b.start()
        await asyncio.gather(*(b.submit(_x(i), 1, 5) for i in range(2)))
        await b.drain()

    asyncio.run(go())

    assert peak[0] == 2


def test_adaptive_snapshot_is_json_ready() -> None:
    from lepton.serve.limits import dumps

    clock = Clock()
    policy = AdaptivePolicy(8, Slo("p95", 100), clock)
    policy.observe_batch(4, 0.01, 0.0)
    b = Batcher(Recorder(), policy, max_queue_rows=8)

    snap = b.snapshot()

    assert snap["mode"] == "adaptive" and snap["ms_per_row"] == {"4": 2.5}
    assert dumps(snap)


class LaneLog:
    """Sessions for each lane that record which lane ran, and whether lanes overlapped."""

    def __init__(self, seconds: float) -> None:
        import threading

        self.seconds = seconds
        self.lock = threading.Lock()
        self.active: set[str] = set()
        self.ran: list[str] = []
        self.overlaps: list[frozenset[str]] = []

    def lane(self, name: str) -> Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]:
        import time

        def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            with self.lock:
                self.active.add(name)
                self.ran.append(name)
                self.overlaps.append(frozenset(self.active))
            time.sleep(self.seconds)
            with self.lock:
                self.active.discard(name)
            return {"y": feeds["x"] * 2}

        return run


def test_a_lone_request_runs_on_the_solo_lane_and_a_crowd_on_the_parallel_lanes() -> None:
    log = LaneLog(0.02)
    lanes = Lanes((log.lane("p0"), log.lane("p1")), solo=log.lane("solo"))

    async def go() -> tuple[list[str], list[np.ndarray]]:
        b = Batcher(lanes, FixedPolicy(1, 0.0), max_queue_rows=64)
        b.start()
        for i in range(3):  # one at a time: each finds the model idle
            await b.submit(_x(i), 1, 5)
        alone = list(log.ran)
        outs = await asyncio.gather(*(b.submit(_x(i), 1, 5) for i in range(16)))
        await b.drain()
        return alone, [o["y"] for o in outs]

    alone, outs = asyncio.run(go())

    assert alone == ["solo", "solo", "solo"]
    crowd = log.ran[3:]
    assert {"p0", "p1"} <= set(crowd) and crowd.count("solo") <= 1  # the first of the crowd found it idle
    assert frozenset({"p0", "p1"}) in log.overlaps  # the parallel lanes ran side by side
    assert not any("solo" in o and len(o) > 1 for o in log.overlaps)  # never the solo lane beside another
    assert [float(o[0, 0]) for o in outs] == [2.0 * i for i in range(16)]


def test_lane_count_follows_instances_engine_threads_and_memory() -> None:
    import psutil

    from lepton.serve.models import lane_count

    small = 50_000_000
    huge = int(psutil.virtual_memory().available)

    assert lane_count(ServeConfig(instances=3), small, 2) == 3
    assert lane_count(ServeConfig(), small, 2) == 2
    assert lane_count(ServeConfig(), small, 16, cores=16) == 4
    assert lane_count(ServeConfig(), small, 16, cores=2) == 2  # never more lanes than the CPUs this process may use
    assert lane_count(ServeConfig(), small, 1) == 1
    assert lane_count(ServeConfig(engine="torch"), small, 8) == 1
    assert lane_count(ServeConfig(), huge, 8) == 1  # no room for copies of the model
