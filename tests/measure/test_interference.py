"""Interference detection with a real CPU hog: another process (not a child of this one, as on a shared machine)
that spins for a bounded time while blocks are timed."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from hogs import hog

from lepton.measure.interference import DISTURBED_SHARE, Block, Disturbance, Watch
from lepton.measure.timing import TimingPlan, measure_latency

BATCH = [{"x": np.zeros((1, 4), np.float32)}]


def work(_: object) -> None:
    """About a millisecond of one core's work, timed by the wall clock (a run that keeps a core busy, as an
    engine does; a measurement that left a core idle would leave room for others)."""
    end = time.perf_counter() + 0.001
    while time.perf_counter() < end:
        pass


def test_a_block_beside_a_busy_process_is_disturbed_and_names_it(tmp_path: Path) -> None:
    watch = Watch()
    with hog(tmp_path, 5.0) as pid:
        watch.start_block()
        for _ in range(500):
            work(None)
        disturbed = watch.end_block()
    assert disturbed
    d = watch.disturbance()
    assert d is not None and d.blocks == 1 and d.of_blocks == 1
    assert d.share > 0.5  # the hog held most of a core
    named = [d.busiest or "", *d.also]  # on a busy machine another process may outdo the hog
    assert any("hog.py" in n and f"pid {pid}" in n for n in named)


def test_this_process_own_work_is_not_interference() -> None:
    block = Block(seconds=1.0, other_cpu_s=0.0, steal_s=0.0, own_cpu_s=2.0)
    assert not block.disturbed(cpus=2)
    assert Block(seconds=1.0, other_cpu_s=DISTURBED_SHARE + 0.05, steal_s=0.0, own_cpu_s=2.0).disturbed(cpus=2)
    assert Block(seconds=1.0, other_cpu_s=0.0, steal_s=0.2, own_cpu_s=2.0).disturbed(cpus=2)  # steal counts


def test_one_stray_tick_of_the_cpu_clock_does_not_disturb_a_short_block() -> None:
    assert not Block(seconds=0.03, other_cpu_s=0.01, steal_s=0.0, own_cpu_s=0.06).disturbed(cpus=2)
    assert Block(seconds=0.03, other_cpu_s=0.03, steal_s=0.0, own_cpu_s=0.06).disturbed(cpus=2)


def test_spare_cores_may_be_used_by_others() -> None:
    """On a 16-CPU machine a 2-core measurement leaves 13 cores beyond its margin: others may use them."""
    block = Block(seconds=1.0, other_cpu_s=8.0, steal_s=0.0, own_cpu_s=2.0)
    assert not block.disturbed(cpus=16)
    assert block.disturbed(cpus=4)


def test_disturbed_blocks_are_timed_again_and_the_figure_is_clean(tmp_path: Path) -> None:
    plan = TimingPlan(warmup=1, min_runs=20, min_seconds=0.8, max_seconds=8.0, block_seconds=0.2)
    with hog(tmp_path, 1.2):  # busy for the first ~second of the measurement, then gone
        stats = measure_latency(work, BATCH, plan)
    assert stats.dropped_runs > 0  # the hog's blocks were set aside ...
    assert stats.disturbance is None  # ... and replaced by clean ones
    assert sum(stats.samples_ms) / 1000 >= 0.8
    summary = stats.summary()
    assert summary.disturbed is None and summary.dropped_runs == stats.dropped_runs


def test_a_measurement_that_stays_disturbed_is_flagged(tmp_path: Path) -> None:
    plan = TimingPlan(warmup=1, min_runs=20, min_seconds=0.5, max_seconds=1.5, block_seconds=0.2)
    with hog(tmp_path, 6.0):
        stats = measure_latency(work, BATCH, plan)
    d = stats.disturbance
    assert d is not None and d.blocks >= 1
    assert any("hog.py" in n for n in [d.busiest or "", *d.also])
    assert stats.summary().disturbed == d
    assert d.busiest is not None and d.busiest in d.text and "disturbed" in d.text


def test_a_screen_keeps_its_disturbed_runs_with_a_flag(tmp_path: Path) -> None:
    plan = TimingPlan(warmup=1, min_runs=5, min_seconds=0.3, max_seconds=1.0, retry_disturbed=False)
    with hog(tmp_path, 4.0):
        stats = measure_latency(work, BATCH, plan)
    assert stats.disturbance is not None and stats.dropped_runs == 0


def test_warm_up_runs_until_successive_windows_agree() -> None:
    calls: list[int] = []

    def settling(_: object) -> None:  # 17 ms at first, then faster every run (caches warming) towards 1 ms
        calls.append(1)
        end = time.perf_counter() + (1.0 + 20 * 0.8 ** len(calls)) / 1000
        while time.perf_counter() < end:
            pass

    stats = measure_latency(settling, BATCH, TimingPlan(warmup=1, min_runs=10, min_seconds=0.0, max_seconds=8.0))
    assert stats.warmup_runs is not None and stats.warmup_runs >= 15  # a fixed count of 3 would stop at 9 ms
    assert float(np.median(stats.samples_ms)) < 1.3  # the slow runs stayed in the warm-up


def test_disturbances_merge_into_one_record() -> None:
    a = Disturbance(other_cpu_s=1.0, steal_s=0.0, seconds=2.0, blocks=2, of_blocks=4, busiest="a (pid 1)")
    b = Disturbance(other_cpu_s=3.0, steal_s=0.5, seconds=3.0, blocks=3, of_blocks=3, busiest="b (pid 2)")
    m = Disturbance.merge([a, b])
    assert m is not None and m.blocks == 5 and m.of_blocks == 7 and m.busiest == "b (pid 2)"
    assert abs(m.share - 4.5 / 5.0) < 1e-9
    assert Disturbance.merge([]) is None
