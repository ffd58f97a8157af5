"""One configuration to measure, and who measures it: this process, or a node of a cluster (``distributed``).

A ``Job`` holds everything a measurement needs besides the workload and the reference (which a run ships once):
the trial's id and spec, the timing plan, the price of the machine it runs on, the quality already measured for
the variant (it does not depend on the hardware), and whether to add the concurrent-callers measurement of a
precise rung. ``measure_job`` is the measurement itself, the same code wherever it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from lepton.cost.catalog import PricePoint
from lepton.engines.base import Session, open_session
from lepton.hardware import Hardware
from lepton.measure.interference import Disturbance
from lepton.measure.memory import PeakRss
from lepton.measure.paired import PairedRatios, Side, compare, concurrent_of, interleave, latency_of
from lepton.measure.timing import ConcurrentStats, TimingPlan, loaded_load, measure_concurrent
from lepton.measure.trial import (
    Reference,
    Trial,
    TrialSpec,
    measure_trial,
    measured_trial,
    priced_at,
    quality_of,
    run_all,
)
from lepton.measure.workload import Workload
from lepton.quality import Quality

StopEarly = Callable[[list[float]], bool]
Item = TypeVar("Item")
Recorded = TypeVar("Recorded", bound=Trial)  # what the caller records a measurement as (the navigator's JudgedTrial)


@dataclass(frozen=True)
class Job:
    """One configuration measured at one rung on one kind of hardware (``kind`` None: this machine)."""

    trial_id: str
    spec: TrialSpec
    plan: TimingPlan | None
    price: PricePoint
    qps: float | None = None
    quality: Quality | None = None  # None: measured with the timing (a baseline's own quality)
    stop_early: StopEarly | None = None
    percentiles: tuple[str, ...] = ()
    concurrent: bool = False  # add the loaded measurement (several callers on one session) of a precise rung
    kind: str | None = None
    session: Session | None = None  # already open for this configuration (in this process only); left open


def measure_job(job: Job, workload: Workload, reference: Reference) -> Trial:
    """Time the configuration (and, for a precise rung, its throughput under concurrent callers), and price it."""
    trial = measure_trial(
        job.trial_id,
        job.spec,
        workload,
        reference,
        job.price,
        plan=job.plan,
        qps=job.qps,
        quality=job.quality,
        stop_early=job.stop_early,
        percentiles=job.percentiles,
        session=job.session,
    )
    if job.concurrent:
        trial = with_concurrency(trial, job.spec, workload, job.price, job.qps)
    return trial.with_(hardware_kind=job.kind) if job.kind is not None else trial


def with_concurrency(trial: Trial, spec: TrialSpec, workload: Workload, price: PricePoint, qps: float | None) -> Trial:
    """Throughput with several callers sharing one session, as the server runs it; cost follows capacity. A burst
    other processes disturbed is measured again (twice at most), then flagged."""
    rc = spec.runtime
    callers, requests = loaded_load(rc.batch_size, trial.latency.mean / 1000.0)
    session = open_session(spec.engine, spec.artifact, rc)
    try:
        stats = measure_concurrent(
            session.run, workload.batches(rc.batch_size, 4), callers=callers, requests=requests, retries=2
        )
    finally:
        session.close()
    return with_loaded(trial, stats, price, qps)


def with_loaded(trial: Trial, stats: ConcurrentStats, price: PricePoint, qps: float | None) -> Trial:
    """The trial with its loaded measurement: capacity, cost at it, and the flag of either measurement."""
    capacity = round(max(trial.throughput, stats.throughput_per_s), 3)
    flags = [d for d in (trial.disturbed, stats.disturbance) if d is not None]
    return trial.with_(
        concurrent=stats.summary(),
        capacity_per_s=capacity,
        cost=priced_at(capacity, price, qps),
        disturbed=Disturbance.merge(flags),
    )


def measure_side_by_side(
    jobs: Sequence[Job], workload: Workload, reference: Reference
) -> tuple[list[Trial | BaseException], list[PairedRatios]]:
    """Time ``jobs`` (one batch size, this machine) in alternating blocks, then their concurrent bursts likewise;
    each trial is its clean blocks pooled, and every job is compared with the first (the baseline) pair by pair.

    A job whose session fails to open or run gets its exception as the outcome; the others go on."""
    sides: list[Side] = []
    sessions: list[Session | None] = []
    mems: list[PeakRss] = []
    qualities: list[Quality | None] = []
    try:
        for job in jobs:
            session, quality, mem, side = _open_side(job, workload, reference)
            sessions.append(session)
            qualities.append(quality)
            mems.append(mem)
            sides.append(side)
        plan = jobs[0].plan or TimingPlan()
        interleave(sides, plan, concurrent=any(j.concurrent for j in jobs))
        outcomes: list[Trial | BaseException] = []
        for job, side, session, quality, mem in zip(jobs, sides, sessions, qualities, mems, strict=True):
            if side.failed is not None:
                outcomes.append(side.failed)
                continue
            settings = dict(getattr(session, "settings", None) or {})
            trial = measured_trial(
                job.trial_id, job.spec, latency_of(side, plan), quality or Quality(), settings, mem, job.price, job.qps,
                job.percentiles,
            )  # fmt: skip
            loaded = concurrent_of(side)
            outcomes.append(with_loaded(trial, loaded, job.price, job.qps) if loaded is not None else trial)
    finally:
        for session in sessions:
            if session is not None:
                session.close()
    pairs = []
    for job, side in zip(jobs[1:], sides[1:], strict=True):
        paired = compare(sides[0], side, jobs[0].trial_id, job.trial_id, jobs[0].spec.runtime.batch_size)
        if paired is not None:
            pairs.append(paired)
    return outcomes, pairs


def _open_side(
    job: Job, workload: Workload, reference: Reference
) -> tuple[Session | None, Quality | None, PeakRss, Side]:
    """Open ``job``'s session, measure its quality when not known yet, and make its side of the comparison."""
    rc = job.spec.runtime
    batches = workload.batches(rc.batch_size, max(1, min(8, workload.n_rows // rc.batch_size or 1)))
    session: Session | None = None
    quality = job.quality
    with PeakRss() as mem:
        try:
            session = open_session(job.spec.engine, job.spec.artifact, rc)
            if quality is None:
                outputs = run_all(session, workload, max(rc.batch_size, 8))
                quality = quality_of(job.spec.artifact.task, outputs, reference)
        except Exception as e:  # noqa: BLE001  this job's failure, recorded as its outcome
            return session, quality, mem, Side(run=_no_run, batches=batches, failed=e)
    return session, quality, mem, Side(run=session.run, batches=batches, batch_size=rc.batch_size)


def _no_run(feeds: object) -> object:
    raise AssertionError("a failed side is never run")


class Measurer(Protocol):
    """Who runs the measurements of an optimize run, and on which kinds of hardware.

    ``kinds`` are the dimension a run's settings span (``(None,)``: this machine alone); ``each`` measures many
    items: ``start`` turns an item into a ``Job`` (or into a ``Trial`` already at hand, which is not measured),
    ``finish`` records each outcome (a ``Trial``, or the exception the measurement raised) and returns the trial.
    """

    kinds: tuple[str | None, ...]
    shares_sessions: bool  # measures in this process, so a session opened here can be handed to a job

    def hardware(self, kind: str | None) -> Hardware: ...

    def price(self, kind: str | None) -> PricePoint: ...

    def node_count(self, kind: str | None) -> int: ...

    def measure(self, job: Job) -> Trial: ...

    def side_by_side(self, jobs: Sequence[Job]) -> tuple[list[Trial | BaseException], list[PairedRatios]]:
        """Measure ``jobs`` (one batch size, one kind) in alternating blocks, each compared with the first; a
        measurer that cannot interleave measures them one after the other and compares none."""
        ...

    def each(
        self,
        items: Sequence[Item],
        kind_of: Callable[[Item], str | None],
        start: Callable[[Item], Job | Recorded],
        finish: Callable[[Item, Job, Trial | BaseException], Recorded],
        stop: Callable[[], bool] | None = None,
    ) -> list[Recorded | None]: ...

    def close(self) -> None: ...


class LocalMeasurer:
    """Measurements in this process, one after another, on this machine."""

    def __init__(self, hardware: Hardware, price: PricePoint, workload: Workload, reference: Reference) -> None:
        self.kinds: tuple[str | None, ...] = (None,)
        self.shares_sessions = True
        self._hardware = hardware
        self._price = price
        self.workload = workload
        self.reference = reference

    def hardware(self, kind: str | None) -> Hardware:
        return self._hardware

    def price(self, kind: str | None) -> PricePoint:
        return self._price

    def node_count(self, kind: str | None) -> int:
        return 1

    def measure(self, job: Job) -> Trial:
        return measure_job(job, self.workload, self.reference)

    def side_by_side(self, jobs: Sequence[Job]) -> tuple[list[Trial | BaseException], list[PairedRatios]]:
        return measure_side_by_side(jobs, self.workload, self.reference)

    def each(
        self,
        items: Sequence[Item],
        kind_of: Callable[[Item], str | None],
        start: Callable[[Item], Job | Recorded],
        finish: Callable[[Item, Job, Trial | BaseException], Recorded],
        stop: Callable[[], bool] | None = None,
    ) -> list[Recorded | None]:
        """In order; once ``stop`` says so, the rest are left out (None)."""
        out: list[Recorded | None] = []
        stopped = False
        for item in items:
            stopped = stopped or (stop is not None and stop())
            if stopped:
                out.append(None)
                continue
            job = start(item)
            if not isinstance(job, Job):
                out.append(job)
                continue
            try:
                outcome: Trial | BaseException = self.measure(job)
            except Exception as e:  # noqa: BLE001  ``finish`` decides: a failed candidate, or the user's mistake
                outcome = e
            out.append(finish(item, job, outcome))
        return out

    def close(self) -> None:
        return None
