"""The state of one optimize run: what was measured so far, and how one more configuration is measured."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from lepton.cost.catalog import PricePoint
from lepton.cost.hardware import Hardware
from lepton.engines.base import RuntimeConfig, Session, open_session
from lepton.errors import CandidateError, LeptonError
from lepton.ir.artifact import Artifact
from lepton.measure.quality import Headline, Quality
from lepton.measure.timing import TimingPlan, measure_concurrent
from lepton.measure.trial import (
    ChainStep,
    Reference,
    Trial,
    TrialSpec,
    failed_trial,
    measure_trial,
    priced_at,
    quality_of,
    run_all,
)
from lepton.measure.workload import Workload
from lepton.navigate.space import Candidate
from lepton.navigate.targets import Targets
from lepton.progress import Progress
from lepton.store.store import Store

Variant = tuple[Candidate, Artifact]
PriorKey = tuple[str | None, str, str, str, int]
SCREEN, QUICK, PRECISE = 0, 1, 2  # the rungs of a search: every setting, the promising ones, the recommendation
SCREEN_ROWS = 64  # rows screens and quick measurements judge fidelity on (precise ones: every row)
HOPELESS = 3.0  # a screen slower than this many times the fastest at its batch size stops after one run


def prior_key(
    role: str | None, chain: tuple[ChainStep, ...], engine: str, runtime: RuntimeConfig, rung: int
) -> PriorKey:
    """What identifies one measurement of a run, so a resumed run finds what was already measured."""
    steps = json.dumps([s.to_json() for s in chain], sort_keys=True)
    return (role, steps, engine, json.dumps(runtime.to_json(), sort_keys=True), rung)


def prior_of(trials: list[Trial]) -> dict[PriorKey, Trial]:
    """The measurements of an interrupted run, keyed for reuse (failed builds are simply tried again)."""
    return {prior_key(t.role, t.chain, t.engine, t.runtime, t.rung): t for t in trials if t.measured}


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
    _steps: int = 0

    # -- bookkeeping --------------------------------------------------------------------------------------
    def next_id(self) -> str:
        used = [int(i[1:]) for i in (*self.trials, *(t.id for t in self.prior.values())) if i[1:].isdigit()]
        return f"t{max(used, default=0) + 1}"

    def add(self, trial: Trial) -> Trial:
        self.trials[trial.id] = trial
        self.store.add_trial(self.run_id, trial)
        return trial

    def update(self, trial_id: str, **changes: object) -> Trial:
        """Replace a trial by a copy with ``changes`` (trials are immutable) and save it."""
        return self.add(self.trials[trial_id].with_(**changes))

    def current(self) -> list[Trial]:
        """The latest measurement of every configuration, the baseline's included."""
        return [t for t in self.trials.values() if t.superseded_by is None]

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
    def quality(self, art: Artifact, engine: str, options: Mapping[str, str], rung: int = QUICK) -> Quality:
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
                self.quality_cache[key] = quality_of(art.task, run_all(session, workload), reference)
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

    def _stop_early(self, batch: int, rung: int) -> Callable[[list[float]], bool] | None:
        """Abandon timing once the first runs already miss the SLO by 50%, or (a screen) once the first run is
        ``HOPELESS`` times slower than the fastest screened at this batch size: it cannot reach the frontier."""
        slo = self.targets.slo if batch == self.slo_batch else None
        fastest = None
        if rung == SCREEN:
            screened = [t.latency.mean for t in self.trials.values() if t.measured and t.batch_size == batch]
            fastest = min(screened, default=None)

        def stop(samples: list[float]) -> bool:
            if slo is not None and len(samples) >= 5 and float(np.median(samples)) > 1.5 * slo.max_ms:
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
        session: Session | None = None,
    ) -> Trial:
        """Measure one configuration at ``rung`` (a short screen, a quick measurement, or a precise one with
        concurrent callers) and record it.

        A failing candidate is recorded as failed and the search goes on; a user's mistake still stops it.
        """
        spec = TrialSpec(engine, art, rc, cand.label, cand.chain, cand.parent, role)
        stored = self.prior.pop(prior_key(role, cand.chain, engine, rc, rung), None)
        if stored is not None:  # measured before the run was interrupted: reuse it as it was measured
            return self._reuse(stored)
        slo_metric = self.targets.slo.metric if self.targets.slo else None
        try:
            trial = measure_trial(
                self.next_id(),
                spec,
                self.workload,
                self.reference,
                self.price,
                plan=self.plans[rung],
                qps=self.targets.qps,
                quality=self._baseline_quality(art, engine)
                if role == "baseline"
                else self.quality(art, engine, rc.options, rung),
                stop_early=self._stop_early(rc.batch_size, rung),
                percentiles=(slo_metric,) if slo_metric else (),
                session=session,
            )
        except CandidateError as e:
            return self.add(failed_trial(self.next_id(), spec, e))
        except LeptonError:
            raise
        except Exception as e:  # noqa: BLE001  an engine crash on one candidate must not end the search
            return self.add(failed_trial(self.next_id(), spec, e))
        if role == "baseline" and self.base_quality is None:
            self.base_quality = trial.quality.headline()
        trial = trial.with_(quality_drop=self.drop(trial.quality), rung=rung, precise=rung == PRECISE)
        if rung == PRECISE:
            trial = self._with_concurrency(trial, art, rc, engine)
        return self.add(trial)

    def _reuse(self, stored: Trial) -> Trial:
        """A stored trial back in the run, without the verdict the interrupted run may have started on."""
        self.reused += 1
        if stored.is_baseline and self.base_quality is None:
            self.base_quality = stored.quality.headline()
        status = "failed" if stored.status == "failed" else "ok"
        return self.add(stored.with_(status=status, reasons=(), notes=(), superseded_by=None))

    def _with_concurrency(self, trial: Trial, art: Artifact, rc: RuntimeConfig, engine: str) -> Trial:
        """Throughput with several callers sharing one session, as the server runs it; cost follows capacity."""
        callers = 4 if rc.batch_size == 1 else 2
        requests = int(min(400, max(callers * 4, 2000 / max(trial.latency.mean, 0.01))))
        session = open_session(engine, art, rc)
        try:
            stats = measure_concurrent(
                session.run, self.workload.batches(rc.batch_size, 4), callers=callers, requests=requests
            )
        finally:
            session.close()
        capacity = round(max(trial.throughput, stats.throughput_per_s), 3)
        return trial.with_(
            concurrent=stats.summary(),
            capacity_per_s=capacity,
            cost=priced_at(capacity, self.price, self.targets.qps),
        )

    def remeasure(self, trial: Trial, variants: dict[str, Variant], rung: int = PRECISE) -> Trial:
        """A longer measurement at ``rung`` (precise: the full plan and concurrent callers) that supersedes
        a shorter one."""
        cand, art = variants[trial.variant]
        longer = self.measure(cand, art, trial.runtime, trial.engine, rung=rung)
        longer = self.update(longer.id, screened_as=trial.id)
        self.update(trial.id, superseded_by=longer.id)
        return longer
