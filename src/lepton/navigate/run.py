"""The state of one optimize run: what was measured so far, and how one more configuration is measured."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from lepton.cost.catalog import PricePoint
from lepton.engines.base import RuntimeConfig, Session, open_session
from lepton.errors import CandidateError, LeptonError
from lepton.hardware import Hardware, combined
from lepton.ir.artifact import Artifact
from lepton.measure.batch_dependence import BatchProbe
from lepton.measure.job import Job, LocalMeasurer, Measurer
from lepton.measure.paired import PairedRatios
from lepton.measure.timing import TimingPlan
from lepton.measure.trial import ChainStep, Reference, Trial, TrialSpec, failed_trial, quality_of, run_all
from lepton.measure.workload import Workload
from lepton.navigate.space import Candidate
from lepton.navigate.targets import Targets
from lepton.progress import Progress
from lepton.quality import Headline, Quality
from lepton.store.store import Store

Variant = tuple[Candidate, Artifact]
PriorKey = tuple[str | None, str, str, str, int, str | None]
SCREEN, QUICK, PRECISE = 0, 1, 2  # the rungs of a search: every setting, the promising ones, the recommendation
SCREEN_ROWS = 64  # rows screens and quick measurements judge fidelity on (precise ones: every row)
CALIBRATION_ROWS = 8  # rows per calibration batch (passes re-cut them for a model with a smaller fixed batch)
HOPELESS = 3.0  # a screen slower than this many times the fastest at its batch size stops after one run


def prior_key(
    role: str | None,
    chain: tuple[ChainStep, ...],
    engine: str,
    runtime: RuntimeConfig,
    rung: int,
    kind: str | None = None,
) -> PriorKey:
    """What identifies one measurement of a run, so a resumed run finds what was already measured."""
    steps = json.dumps([s.to_json() for s in chain], sort_keys=True)
    return (role, steps, engine, json.dumps(runtime.to_json(), sort_keys=True), rung, kind)


def prior_of(trials: list[Trial]) -> dict[PriorKey, Trial]:
    """The measurements of an interrupted run, keyed for reuse (failed builds are simply tried again)."""
    return {prior_key(t.role, t.chain, t.engine, t.runtime, t.rung, t.hardware_kind): t for t in trials if t.measured}


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
    """Mutable state of one optimize run; every trial is saved to the store as soon as it exists."""

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
    base_quality: Headline | None = None
    progress: Progress | None = None
    steps_total: int = 0
    trials: dict[str, Trial] = field(default_factory=dict)
    quality_cache: dict[tuple[str, str, str], Quality] = field(default_factory=dict)
    prior: dict[PriorKey, Trial] = field(default_factory=dict)  # a resumed run's stored measurements
    reused: int = 0
    notes: list[str] = field(default_factory=list)  # what the stages did, for the result's notes
    unmeasured: int = 0  # settings left unscreened when the time budget ran out
    stage_seconds: dict[str, float] = field(default_factory=dict)  # where the time went; quality evaluation apart
    measurer: Measurer | None = None  # who measures, on which kinds of hardware (None: this process, here)
    pairings: dict[tuple[str, str], PairedRatios] = field(default_factory=dict)  # (baseline id, trial id) -> pairs
    deadline: float | None = None  # perf_counter() time the run's --time-budget ends (None: no budget)
    batch_probe: BatchProbe = field(default_factory=BatchProbe)  # fidelity in mixed batches (dynamic int8)
    _steps: int = 0
    _reserved: set[str] = field(default_factory=set)  # ids of measurements under way

    def __post_init__(self) -> None:
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

    # -- bookkeeping --------------------------------------------------------------------------------------
    def next_id(self) -> str:
        ids = (*self.trials, *(t.id for t in self.prior.values()), *self._reserved)
        used = [int(i[1:]) for i in ids if i[1:].isdigit()]
        return f"t{max(used, default=0) + 1}"

    def add(self, trial: Trial) -> Trial:
        self.trials[trial.id] = trial
        self._reserved.discard(trial.id)
        self.store.add_trial(self.run_id, trial)
        return trial

    def update(self, trial_id: str, **changes: object) -> Trial:
        """Replace a trial by a copy with ``changes`` (trials are immutable) and save it."""
        return self.add(self.trials[trial_id].with_(**changes))

    def current(self) -> list[Trial]:
        """The latest measurement of every configuration, the baseline's included."""
        return [t for t in self.trials.values() if t.superseded_by is None]

    @property
    def calibration_batch(self) -> int:
        """Rows per calibration batch: ``CALIBRATION_ROWS``, or the model's fixed batch when it takes more."""
        return max(CALIBRATION_ROWS, self.artifact.signature.fixed_batch() or 0)

    def tick(self, what: str) -> None:
        self._steps += 1
        if self.progress:
            self.progress(what, min(self._steps, self.steps_total), self.steps_total)

    def __iter__(self) -> Iterator[Trial]:
        return iter(self.trials.values())

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage of the run (what ``search.stages`` reports)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + time.perf_counter() - t0

    # -- measuring ----------------------------------------------------------------------------------------
    def quality(
        self,
        art: Artifact,
        engine: str,
        options: Mapping[str, str],
        rung: int = QUICK,
        chain: tuple[ChainStep, ...] = (),
    ) -> Quality:
        """Quality depends on the variant, the engine and its options (OpenVINO's bf16 changes the outputs),
        not on threads or batch size: measured once for each. Screens and quick measurements judge fidelity on
        the first ``SCREEN_ROWS`` rows (the reference scores 1.0 on any subset); precise ones on every row."""
        subset = (
            rung != PRECISE
            and self.reference.outputs is not None
            and self.workload.n_rows > SCREEN_ROWS
            and all(axis == 0 for axis in self.workload.batch_axes.values())  # rows along axis 0 everywhere
        )
        key = (art.id, engine, json.dumps(dict(options), sort_keys=True) + ("/screen" if subset else ""))
        if key not in self.quality_cache:
            t0 = time.perf_counter()
            session = open_session(engine, art, RuntimeConfig(options=options))
            workload, reference = self.workload, self.reference
            if subset:
                workload, reference = self.workload.head(SCREEN_ROWS), self.reference.head(SCREEN_ROWS)
            try:
                quality = quality_of(art.task, run_all(session, workload), reference)
                b = self.batch_sizes  # a batch-dependent variant: its fidelity in mixed batches too
                args = (session, art, engine, options, chain, self.workload, self.reference, b)
                self.quality_cache[key] = self.batch_probe.add_to(quality, *args)
            finally:
                session.close()
                self.stage_seconds["quality"] = self.stage_seconds.get("quality", 0.0) + time.perf_counter() - t0
        return self.quality_cache[key]

    def _baseline_quality(self, art: Artifact, engine: str) -> Quality:
        """The baseline's quality: against labels, measured (once for every batch size); as fidelity, the
        reference is the baseline's own outputs (the same engine on the same model), so it is not run again."""
        if self.reference.outputs is not None and self.reference.engine == engine and art.id == self.artifact.id:
            return quality_of(art.task, self.reference.outputs, self.reference)
        return self.quality(art, engine, {}, PRECISE)

    def drop(self, quality: Quality) -> float | None:
        h = quality.headline()
        if self.base_quality is None or h is None:
            return None
        return round(h.drop_from(self.base_quality.value), 6)

    def _stop_early(self, batch: int, rung: int, kind: str | None = None) -> Callable[[list[float]], bool] | None:
        """Abandon timing once the first runs already miss the SLO by 50%, or (a screen) once the first run is
        ``HOPELESS`` times slower than the fastest screened at this batch size (on the same kind of machine): it
        cannot reach the frontier."""
        slo = self.targets.slo if batch == self.slo_batch else None
        fastest = None
        if rung == SCREEN:
            screened = [
                t.latency.mean
                for t in self.trials.values()
                if t.measured and t.batch_size == batch and t.hardware_kind == kind
            ]
            fastest = min(screened, default=None)
        limit = 1.5 * slo.max_ms if slo is not None else None

        def stop(samples: list[float]) -> bool:
            if limit is not None and len(samples) >= 5 and float(np.median(samples)) > limit:
                return True
            return fastest is not None and len(samples) >= 1 and min(samples) > HOPELESS * fastest

        return stop if slo is not None or fastest is not None else None

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
    ) -> Trial:
        """Measure one configuration at ``rung`` (a short screen, a quick measurement, or a precise one with
        concurrent callers) on hardware ``kind`` (None: this machine) and record it.

        A failing candidate is recorded as failed and the search goes on; a user's mistake still stops it.
        """
        request = Request(cand, art, rc, engine, rung, role, kind)
        job = self._job(request, session)
        if isinstance(job, Trial):
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
        done: Callable[[Request, Trial], object] | None = None,
    ) -> list[Trial | None]:
        """Measure ``requests`` as ``measure`` does each: in order here, or side by side on a cluster's nodes
        (one at a time per node). Once ``stop`` says so, the rest are left out (None); ``done`` sees each trial
        as it is recorded."""

        def start(r: Request) -> Job | Trial:
            session = r.session() if r.session is not None and self.measuring.shares_sessions else None
            self.tick(r.what)
            job = self._job(r, session)
            if isinstance(job, Trial) and done is not None:  # reused, or failed before measuring
                done(r, job)
            return job

        def finish(r: Request, job: Job, outcome: Trial | BaseException) -> Trial:
            trial = self._record(r, job, outcome)
            if done is not None:
                done(r, trial)
            return trial

        return self.measuring.each(requests, lambda r: r.kind, start, finish, stop)

    def measure_side_by_side(
        self, requests: Sequence[Request], done: Callable[[Request, Trial], object] | None = None
    ) -> list[Trial]:
        """Measure ``requests`` (one batch size, one kind of machine; the baseline first) in alternating blocks,
        as ``measure`` does each; every one is compared with the first pair by pair (``pairings``)."""
        out: dict[int, Trial] = {}
        pending: list[tuple[int, Request, Job]] = []
        for i, r in enumerate(requests):
            self.tick(r.what)
            job = self._job(r)
            if isinstance(job, Trial):  # reused, or failed before measuring
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

    def _job(self, r: Request, session: Session | None = None) -> Job | Trial:
        """What measuring ``r`` takes (on ``session`` when one is open for it: ``r.session`` opens it for a
        measurer in this process); the stored trial when a resumed run measured it before (or the failed trial
        when its quality cannot be measured)."""
        spec = TrialSpec(r.engine, r.art, r.runtime, r.cand.label, r.cand.chain, r.cand.parent, r.role)
        stored = self.prior.pop(prior_key(r.role, r.cand.chain, r.engine, r.runtime, r.rung, r.kind), None)
        if stored is not None:  # measured before the run was interrupted: reuse it as it was measured
            return self._reuse(stored)
        trial_id = self.next_id()
        self._reserved.add(trial_id)
        try:
            if r.role == "baseline":
                quality = self._baseline_quality(r.art, r.engine)
            else:
                quality = self.quality(r.art, r.engine, r.runtime.options, r.rung, r.cand.chain)
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
            stop_early=self._stop_early(r.runtime.batch_size, r.rung, r.kind),
            percentiles=(slo_metric,) if slo_metric else (),
            concurrent=r.rung == PRECISE,
            kind=r.kind,
            session=session,
        )

    def _record(self, r: Request, job: Job, outcome: Trial | BaseException) -> Trial:
        """Record a measurement's outcome: the trial with its quality drop and rung, or a failed trial."""
        if isinstance(outcome, BaseException):
            return self._failed(job.trial_id, job.spec, outcome, r.kind)
        trial = outcome
        if r.role == "baseline" and self.base_quality is None:
            self.base_quality = trial.quality.headline()
        trial = trial.with_(quality_drop=self.drop(trial.quality), rung=r.rung, precise=r.rung == PRECISE)
        return self.add(trial)

    def _failed(self, trial_id: str, spec: TrialSpec, error: BaseException, kind: str | None = None) -> Trial:
        """A failing candidate is recorded as failed; a user's mistake (a LeptonError that is not a candidate's
        failure) stops the run."""
        if isinstance(error, LeptonError) and not isinstance(error, CandidateError):
            raise error
        trial = failed_trial(trial_id, spec, error)
        return self.add(trial.with_(hardware_kind=kind) if kind is not None else trial)

    def _reuse(self, stored: Trial) -> Trial:
        """A stored trial back in the run, without the verdict the interrupted run may have started on."""
        self.reused += 1
        if stored.is_baseline and self.base_quality is None:
            self.base_quality = stored.quality.headline()
        status = "failed" if stored.status == "failed" else "ok"
        return self.add(stored.with_(status=status, reasons=(), notes=(), superseded_by=None))

    def longer_request(self, trial: Trial, variants: dict[str, Variant], rung: int, what: str) -> Request:
        """A longer measurement of ``trial``'s configuration at ``rung`` (precise: the full plan and concurrent
        callers), for ``measure_many``; ``supersede`` then links the two."""
        if trial.is_baseline:  # the user's model as it is, not a variant built in the run
            base, kind = Candidate(trial.variant, []), trial.hardware_kind
            return Request(base, self.artifact, trial.runtime, trial.engine, rung, "baseline", kind, what, trial.id)
        cand, art = variants[trial.variant]
        return Request(cand, art, trial.runtime, trial.engine, rung, None, trial.hardware_kind, what, trial.id)

    def supersede(self, shorter: str | None, longer: Trial) -> Trial:
        """Link a longer measurement to the shorter one (its id) it replaces."""
        assert shorter is not None
        longer = self.update(longer.id, screened_as=shorter)
        self.update(shorter, superseded_by=longer.id)
        return longer
