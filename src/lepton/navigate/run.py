"""The state of one optimize run: what was measured so far, and how one more configuration is measured."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from lepton.cost.catalog import PricePoint
from lepton.engines.base import RuntimeConfig, Session
from lepton.errors import CandidateError, LeptonError
from lepton.hardware import Hardware, combined
from lepton.ir.artifact import Artifact
from lepton.measure.job import Job, LocalMeasurer, Measurer
from lepton.measure.paired import PairedRatios
from lepton.measure.timing import TimingPlan
from lepton.measure.trial import Reference, Trial, TrialSpec, failed_trial
from lepton.measure.workload import Workload
from lepton.navigate.clock import StageClock
from lepton.navigate.early_stop import stop_early
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.quality_book import QualityBook
from lepton.navigate.rungs import CALIBRATION_ROWS, PRECISE, QUICK
from lepton.navigate.space import Candidate
from lepton.navigate.targets import Targets
from lepton.navigate.trial_log import TrialLog, prior_key
from lepton.store.store import Store

if TYPE_CHECKING:
    from lepton.navigate.memory_bound import MemoryPlan

Variant = tuple[Candidate, Artifact]


@dataclass(frozen=True)
class Request:
    """One configuration to measure at a rung on a kind of hardware (None: this machine); ``what`` is the
    progress line, ``shorter`` the id of the trial a longer measurement supersedes, ``session`` what hands it an
    open session (consecutive batch sizes of one configuration share one) when it is measured in this process."""

    cand: Candidate
    art: Artifact
    runtime: RuntimeConfig
    engine: str
    rung: int = QUICK
    role: Literal["baseline"] | None = None
    kind: str | None = None
    what: str = ""
    shorter: str | None = None
    session: Callable[[], Session | None] | None = None  # opens (or reuses) a session for it, in this process


@dataclass
class RunState:
    """One optimize run: what it measures against, who measures, and how one more configuration is measured.

    Its parts each own one thing: ``log`` the trials (ids, the store, a resumed run's prior measurements),
    ``clock`` the stages' seconds and the progress, ``qualities`` the quality figures and the drop rule,
    ``pairings`` the paired comparisons; when to abandon a measurement is ``early_stop``'s."""

    store: Store
    run_id: str
    artifact: Artifact
    hardware: Hardware
    price: PricePoint
    workload: Workload
    reference: Reference
    targets: Targets
    plans: dict[int, TimingPlan]  # per rung
    slo_batch: int
    batch_sizes: list[int] = field(default_factory=list)
    clock: StageClock = field(default_factory=StageClock)  # stage seconds and progress
    notes: list[str] = field(default_factory=list)  # what the stages did, for the result's notes
    unmeasured: int = 0  # settings left unscreened when the time budget ran out
    measurer: Measurer | None = None  # who measures, on which kinds of hardware (None: this process, here)
    pairings: dict[tuple[str, str], PairedRatios] = field(default_factory=dict)  # (baseline id, trial id) -> pairs
    deadline: float | None = None  # perf_counter() time the run's --time-budget ends (None: no budget)
    calibration_rows: int | None = None  # rows passes calibrate on (None: the default; a memory bound shrinks it)
    calibration_cut: int | None = None  # rows per calibration batch when a memory bound cuts them (None: default)
    memory: MemoryPlan | None = None  # the memory bound and what it changed (navigate.memory_bound)
    pass_peak_mb: dict[str, float] = field(default_factory=dict)  # variant built -> peak RSS while its passes ran

    def __post_init__(self) -> None:
        self.log = TrialLog(self.store, self.run_id)  # the trials, each saved as soon as it exists
        self.qualities = QualityBook(self.artifact, self.workload, self.reference, self.batch_sizes, self.clock)
        if self.measurer is None:
            self.measurer = LocalMeasurer(self.hardware, self.price, self.workload, self.reference)

    @property
    def measuring(self) -> Measurer:
        """Who measures (set when the run is made)."""
        assert self.measurer is not None
        return self.measurer

    @property
    def kinds(self) -> tuple[str | None, ...]:
        """The kinds of hardware every setting is measured on (``(None,)``: this machine)."""
        return self.measuring.kinds

    def hardware_of(self, kind: str | None) -> Hardware:
        return self.measuring.hardware(kind)

    @property
    def build_hardware(self) -> Hardware:
        """What variants are proposed and built for: this machine, or what any kind of the cluster has (each
        setting is then measured only on the kinds its passes apply to)."""
        if self.kinds == (None,):
            return self.hardware
        return combined([self.hardware_of(k) for k in self.kinds])

    @property
    def calibration_batch(self) -> int:
        """Rows per calibration batch: ``CALIBRATION_ROWS``, or the model's fixed batch when it takes more, and
        never more than the workload feeds at once (the batch sizes asked for, or what the model runs at)."""
        size = max(CALIBRATION_ROWS, self.artifact.signature.fixed_batch() or 0)
        return min(size, self.workload.max_batch or size, self.calibration_cut or size)

    @property
    def calibration_batches(self) -> int:
        """How many calibration batches: ``calibration_rows`` rows (default: eight full batches of at least
        ``CALIBRATION_ROWS`` rows, whatever size each batch is cut to)."""
        rows = self.calibration_rows or 8 * max(CALIBRATION_ROWS, self.artifact.signature.fixed_batch() or 0)
        return max(1, rows // self.calibration_batch)

    # -- measuring ----------------------------------------------------------------------------------------
    def measure(
        self,
        cand: Candidate,
        art: Artifact,
        rc: RuntimeConfig,
        engine: str,
        *,
        rung: int = QUICK,
        role: Literal["baseline"] | None = None,
        kind: str | None = None,
        session: Session | None = None,
    ) -> JudgedTrial:
        """Measure one configuration at ``rung`` (a short screen, a quick measurement, or a precise one with
        concurrent callers) on hardware ``kind`` (None: this machine) and record it.

        A failing candidate is recorded as failed and the search goes on; a user's mistake still stops it.
        """
        request = Request(cand, art, rc, engine, rung, role, kind)
        job = self._job(request, session)
        if isinstance(job, JudgedTrial):
            return job
        try:
            outcome: Trial | BaseException = self.measuring.measure(job)
        except Exception as e:  # noqa: BLE001  _record tells a failed candidate from a user's mistake
            outcome = e
        return self._record(request, job, outcome)

    def measure_many(
        self,
        requests: Sequence[Request],
        *,
        stop: Callable[[], bool] | None = None,
        done: Callable[[Request, JudgedTrial], object] | None = None,
    ) -> list[JudgedTrial | None]:
        """Measure ``requests`` as ``measure`` does each: in order here, or side by side on a cluster's nodes
        (one at a time per node). Once ``stop`` says so, the rest are left out (None); ``done`` sees each trial
        as it is recorded."""

        def start(r: Request) -> Job | JudgedTrial:
            session = r.session() if r.session is not None and self.measuring.shares_sessions else None
            self.clock.tick(r.what)
            job = self._job(r, session)
            if isinstance(job, JudgedTrial) and done is not None:  # reused, or failed before measuring
                done(r, job)
            return job

        def finish(r: Request, job: Job, outcome: Trial | BaseException) -> JudgedTrial:
            trial = self._record(r, job, outcome)
            if done is not None:
                done(r, trial)
            return trial

        return self.measuring.each(requests, lambda r: r.kind, start, finish, stop)

    def measure_side_by_side(
        self, requests: Sequence[Request], done: Callable[[Request, JudgedTrial], object] | None = None
    ) -> list[JudgedTrial]:
        """Measure ``requests`` (one batch size, one kind of machine; the baseline first) in alternating blocks,
        as ``measure`` does each; every one is compared with the first pair by pair (``pairings``)."""
        out: dict[int, JudgedTrial] = {}
        pending: list[tuple[int, Request, Job]] = []
        for i, r in enumerate(requests):
            self.clock.tick(r.what)
            job = self._job(r)
            if isinstance(job, JudgedTrial):  # reused, or failed before measuring
                out[i] = job
                if done is not None:
                    done(r, job)
                continue
            pending.append((i, r, job))
        if not pending:
            return [out[i] for i in sorted(out)]
        outcomes, pairs = self.measuring.side_by_side([job for _, _, job in pending])
        for (i, r, job), outcome in zip(pending, outcomes, strict=True):
            out[i] = self._record(r, job, outcome)
            if done is not None:
                done(r, out[i])
        for paired in pairs:
            self.pairings[(paired.a, paired.b)] = paired
        return [out[i] for i in sorted(out)]

    def plan_for(self, rung: int) -> TimingPlan:
        """The rung's timing plan: only a precise measurement (what gains quote) times disturbed blocks again, and
        never past the run's deadline (screens and quick looks are judged as measured, flagged)."""
        plan = self.plans[rung]
        if rung != PRECISE:
            return replace(plan, retry_disturbed=False)
        if self.deadline is not None:
            left = self.deadline - time.perf_counter()
            return replace(plan, max_seconds=max(plan.min_seconds, min(plan.max_seconds, left / 2)))
        return plan

    def _job(self, r: Request, session: Session | None = None) -> Job | JudgedTrial:
        """What measuring ``r`` takes (on ``session`` when one is open for it: ``r.session`` opens it for a
        measurer in this process); the stored trial when a resumed run measured it before (or the failed trial
        when its quality cannot be measured)."""
        spec = TrialSpec(r.engine, r.art, r.runtime, r.cand.label, r.cand.chain, r.cand.parent, r.role)
        stored = self.log.take_prior(prior_key(r.role, r.cand.chain, r.engine, r.runtime, r.rung, r.kind))
        if stored is not None:  # measured before the run was interrupted: reused as it was measured
            if stored.is_baseline and self.qualities.base is None:
                self.qualities.base = stored.quality.headline()
            return stored
        trial_id = self.log.next_id()
        try:
            if r.role == "baseline":
                quality = self.qualities.of_baseline(r.art, r.engine)
            else:
                quality = self.qualities.of(r.art, r.engine, r.runtime.options, r.rung, r.cand.chain)
        except Exception as e:  # noqa: BLE001  as for the measurement itself
            return self._failed(trial_id, spec, e, r.kind)
        slo_metric = self.targets.slo.metric if self.targets.slo else None
        return Job(
            trial_id,
            spec,
            self.plan_for(r.rung),
            self.measuring.price(r.kind),
            qps=self.targets.qps,
            quality=quality,
            stop_early=stop_early(self.log, self.targets, self.slo_batch, r.runtime.batch_size, r.rung, r.kind),
            percentiles=(slo_metric,) if slo_metric else (),
            concurrent=r.rung == PRECISE,
            kind=r.kind,
            session=session,
        )

    def _record(self, r: Request, job: Job, outcome: Trial | BaseException) -> JudgedTrial:
        """Record a measurement's outcome: the trial with its quality drop and rung, or a failed trial."""
        if isinstance(outcome, BaseException):
            return self._failed(job.trial_id, job.spec, outcome, r.kind)
        if r.role == "baseline" and self.qualities.base is None:
            self.qualities.base = outcome.quality.headline()
        drop = self.qualities.drop(outcome.quality)
        return self.log.add(JudgedTrial.of(outcome, quality_drop=drop, rung=r.rung, precise=r.rung == PRECISE))

    def _failed(self, trial_id: str, spec: TrialSpec, error: BaseException, kind: str | None = None) -> JudgedTrial:
        """A failing candidate is recorded as failed; a user's mistake (a LeptonError that is not a candidate's
        failure) stops the run."""
        if isinstance(error, LeptonError) and not isinstance(error, CandidateError):
            raise error
        trial = JudgedTrial.of(failed_trial(trial_id, spec, error))
        return self.log.add(trial.with_(hardware_kind=kind) if kind is not None else trial)

    def longer_request(self, trial: JudgedTrial, variants: dict[str, Variant], rung: int, what: str) -> Request:
        """A longer measurement of ``trial``'s configuration at ``rung`` (precise: the full plan and concurrent
        callers), for ``measure_many``; ``supersede`` then links the two."""
        if trial.is_baseline:  # the user's model as it is, not a variant built in the run
            base, kind = Candidate(trial.variant, []), trial.hardware_kind
            return Request(base, self.artifact, trial.runtime, trial.engine, rung, "baseline", kind, what, trial.id)
        cand, art = variants[trial.variant]
        return Request(cand, art, trial.runtime, trial.engine, rung, None, trial.hardware_kind, what, trial.id)
