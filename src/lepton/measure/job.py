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
from lepton.cost.hardware import Hardware
from lepton.engines.base import Session, open_session
from lepton.measure.timing import TimingPlan, measure_concurrent
from lepton.measure.trial import Reference, Trial, TrialSpec, measure_trial, priced_at
from lepton.measure.workload import Workload
from lepton.quality import Quality

StopEarly = Callable[[list[float]], bool]
Item = TypeVar("Item")


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
    """Throughput with several callers sharing one session, as the server runs it; cost follows capacity."""
    rc = spec.runtime
    callers = 4 if rc.batch_size == 1 else 2
    requests = int(min(400, max(callers * 4, 2000 / max(trial.latency.mean, 0.01))))
    session = open_session(spec.engine, spec.artifact, rc)
    try:
        stats = measure_concurrent(session.run, workload.batches(rc.batch_size, 4), callers=callers, requests=requests)
    finally:
        session.close()
    capacity = round(max(trial.throughput, stats.throughput_per_s), 3)
    return trial.with_(concurrent=stats.summary(), capacity_per_s=capacity, cost=priced_at(capacity, price, qps))


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

    def each(
        self,
        items: Sequence[Item],
        kind_of: Callable[[Item], str | None],
        start: Callable[[Item], Job | Trial],
        finish: Callable[[Item, Job, Trial | BaseException], Trial],
        stop: Callable[[], bool] | None = None,
    ) -> list[Trial | None]: ...

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

    def each(
        self,
        items: Sequence[Item],
        kind_of: Callable[[Item], str | None],
        start: Callable[[Item], Job | Trial],
        finish: Callable[[Item, Job, Trial | BaseException], Trial],
        stop: Callable[[], bool] | None = None,
    ) -> list[Trial | None]:
        """In order; once ``stop`` says so, the rest are left out (None)."""
        out: list[Trial | None] = []
        stopped = False
        for item in items:
            stopped = stopped or (stop is not None and stop())
            if stopped:
                out.append(None)
                continue
            job = start(item)
            if isinstance(job, Trial):
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
