"""Gated rollout: a candidate beside the served model (the incumbent), shadowed and/or canaried, promoted or rolled
back by a sequential test (``serve.sequential``: an SPRT with Ville's bounds, valid under continuous monitoring).

Where requests go: a share (``share``, the canary step) is answered by the candidate; the rest by the incumbent.
Off the answer path, the other variant answers the same request too (every canary request; ``shadow_rate`` of the
others), so both outputs are compared on the same rows by the one fidelity rule. The off-path answer is never
returned and never waited for: it runs on a single-threaded session of that variant, on one low-priority thread,
from a bounded queue (``serve.offpath``); a copy that finds the queue full is dropped and counted (``dropped`` in
the evidence, ``lepton_rollout_shadow_dropped_total``), and is simply no evidence. Under heavy load evidence comes
more slowly, rather than the served model's latency suffering. A candidate that fails or times out on a canary
request is rolled back at once and the request is answered by the incumbent: no client sees the candidate's
failure; one that fails off the path is rolled back too.

Phases: ``evaluating`` (the test runs, the candidate answers the ``canary`` share) -> the test promotes ->
``ramping`` (each declared step held for ``step_requests`` clean candidate answers) -> ``promoted`` (100%); or
``rolled_back`` (0%, nothing shadowed) on the test's verdict, on any candidate error or timeout, or when its p95
breaks the latency bound. Every step and decision is stored with its evidence (``store.rollouts``); a restarted
server with the same incumbent, candidate and plan resumes the stored rollout (a decided one stays decided).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from lepton.cost.model import usd_per_1m
from lepton.engines.base import Session
from lepton.errors import ServeError
from lepton.serve.batcher import QueueFull
from lepton.serve.metrics import Metrics
from lepton.serve.offpath import OffPath
from lepton.serve.rollout_state import (
    FINAL,
    Action,
    Evidence,
    Phase,
    RolloutEvent,
    RolloutPlan,
    RolloutStatus,
    VariantFigures,
)
from lepton.serve.sequential import PROMOTE, ROLLBACK, Sprt, agrees, latency_breach
from lepton.serve.shadow import compare
from lepton.store import rollouts as stored
from lepton.store.store import Store

if TYPE_CHECKING:
    from lepton.serve.models import ServedModel

log = logging.getLogger("lepton.serve")
WINDOW = 1000  # latencies kept per variant for its percentiles
PAIR_EVERY = 8  # once the latency guard has its minimum, one shadow copy in this many also times the incumbent
DEFAULT_MAX_DROP = 0.01  # lepton optimize's default --max-drop


def rollout_id(model: str, incumbent: str, candidate: str, plan: RolloutPlan) -> str:
    """The same model, variants and plan are the same rollout (a restarted server resumes it); any change, a new
    one."""
    digest = hashlib.sha1(json.dumps(plan.to_json(), sort_keys=True).encode()).hexdigest()[:6]
    return f"{model}:{incumbent[:12]}->{candidate[:12]}:{digest}"


class VariantStats:
    """Counts and recent latencies of one variant during the rollout."""

    def __init__(self, model: ServedModel) -> None:
        self.model = model
        self.answered: deque[float] = deque(maxlen=WINDOW)  # seconds, answers given to clients
        self.shadow_cpu: deque[float] = deque(maxlen=WINDOW)  # CPU seconds of off-path runs (one thread)
        self.requests = self.shadowed = self.errors = self.timeouts = 0

    def record(self, seconds: float) -> None:
        """An answer given to a client, ``seconds`` after it arrived at the variant."""
        self.requests += 1
        self.answered.append(seconds)

    def record_shadow(self, cpu_s: float) -> None:
        """An off-path run of ``cpu_s`` CPU seconds on the single-threaded session."""
        self.shadowed += 1
        self.shadow_cpu.append(cpu_s)

    def answer_ms(self, q: float = 95) -> float | None:
        """Percentile ``q`` of the answers given to clients, ms."""
        return float(np.percentile(np.asarray(self.answered), q) * 1000) if self.answered else None

    def figures(self, metrics: Metrics, usd_per_hour: float | None) -> VariantFigures:
        lat = np.asarray(self.answered) * 1000.0 if self.answered else None
        st = metrics.stats.get(self.model.name)
        cost = None
        if usd_per_hour and st is not None and st.busy_s > 0 and st.busy_rows > 0:
            cost = round(usd_per_1m(usd_per_hour, st.busy_rows / st.busy_s), 6)
        batches = st.batch_seconds if st is not None else ()
        return VariantFigures(
            name=self.model.name,
            artifact_id=self.model.resolved.artifact.id,
            requests=self.requests,
            shadowed=self.shadowed,
            errors=self.errors,
            timeouts=self.timeouts,
            p50=None if lat is None else round(float(np.percentile(lat, 50)), 3),
            p95=None if lat is None else round(float(np.percentile(lat, 95)), 3),
            p99=None if lat is None else round(float(np.percentile(lat, 99)), 3),
            usd_per_1m=cost,
            service_p50=round(float(np.median(batches)) * 1000, 3) if batches else None,
            shadow_cpu_p50=round(float(np.median(self.shadow_cpu)) * 1000, 3) if self.shadow_cpu else None,
        )


def _post(loop: asyncio.AbstractEventLoop, call: partial[None]) -> None:
    """Run ``call`` on the event loop (from the off-path thread); nothing once the loop has closed (shutdown)."""
    try:
        loop.call_soon_threadsafe(call)
    except RuntimeError:
        pass


class Rollout:
    """One candidate against one incumbent; ``infer`` replaces the incumbent's own while the rollout runs."""

    max_pending = 8  # off-path copies queued at once; more are dropped (and counted)

    def __init__(
        self,
        incumbent: ServedModel,
        candidate: ServedModel,
        plan: RolloutPlan,
        store: Store,
        metrics: Metrics,
        usd_per_hour: float | None,
        off_path: Mapping[str, Session],
        *,
        seed: int | None = None,
    ) -> None:
        """``off_path``: a single-threaded session of each variant ("incumbent", "candidate") for the copies
        answered off the answer path (``models.open_off_path``); the rollout closes them."""
        self.incumbent, self.candidate, self.plan = incumbent, candidate, plan
        self.store, self.metrics, self.usd_per_hour = store, metrics, usd_per_hour
        self.model = incumbent.name
        self.sprt = Sprt(plan.q0, plan.q1, plan.alpha, plan.beta, plan.min_samples)
        self.max_drop = DEFAULT_MAX_DROP if plan.max_drop is None else plan.max_drop
        self.rollout_id = rollout_id(self.model, incumbent.resolved.artifact.id, candidate.resolved.artifact.id, plan)
        self.stats = {"incumbent": VariantStats(incumbent), "candidate": VariantStats(candidate)}
        self.compared = self.disagreements = 0
        self.cosines: deque[float] = deque(maxlen=WINDOW)
        self.min_cosine: float | None = None
        self.phase: Phase = "evaluating"
        self.share = plan.canary
        self.step_answers = 0  # clean candidate answers at the current ramp step
        self.events: list[RolloutEvent] = []
        self._rng = random.Random(seed)
        self.off_path = dict(off_path)
        self.pairs: deque[tuple[float, float]] = deque(maxlen=WINDOW)  # (candidate, incumbent) CPU s, same request
        self._dropped_before = 0  # dropped copies stored before a restart
        self._offpath = OffPath(self.max_pending, name=f"lepton-{self.model}-offpath")
        self._shadow_runs = 0  # candidate copies run (off-path thread only)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lepton-rollout")
        self._resume(stored.events(store, rollout_id=self.rollout_id))

    # -- the answer path --------------------------------------------------------------------------
    async def infer(self, feeds: Mapping[str, np.ndarray], rows: int, timeout_s: float) -> dict[str, np.ndarray]:
        if self.phase == "promoted":
            return await self.candidate.batcher.submit(feeds, rows, timeout_s)
        if self.phase == "rolled_back":
            return await self.incumbent.batcher.submit(feeds, rows, timeout_s)
        if self.share > 0 and self._rng.random() < self.share:
            out = await self._call("candidate", feeds, rows, timeout_s)
            if out is not None:
                self._off_path("incumbent", feeds, out, timeout_s)
                self._after_answer()
                return out  # else the candidate failed: rolled back, and the incumbent answers below
        out = await self._call("incumbent", feeds, rows, timeout_s)
        assert out is not None  # the incumbent's errors reach the client as they would without a rollout
        if self.phase in ("evaluating", "ramping") and self._rng.random() < self.plan.shadow_rate:
            self._off_path("candidate", feeds, out, timeout_s)
        return out

    async def _call(
        self, variant: str, feeds: Mapping[str, np.ndarray], rows: int, timeout_s: float
    ) -> dict[str, np.ndarray] | None:
        """One variant's answer to a client, timed; a candidate's failure rolls it back and gives None."""
        st = self.stats[variant]
        model = st.model
        t0 = time.perf_counter()
        try:
            out = await model.batcher.submit(feeds, rows, timeout_s)
        except QueueFull:
            if variant == "incumbent":
                raise
            return None  # the candidate is busy: not its failure, not compared
        except Exception as e:
            if variant == "incumbent":
                raise
            timeout = isinstance(e, ServeError) and e.status == 504
            st.timeouts += timeout
            st.errors += not timeout
            self.metrics.observe_request(model.name, "rollout", getattr(e, "status", 500), 0.0, rows)
            what = "timed out" if timeout else f"failed ({type(e).__name__}: {e})"
            self.rollback(f"the candidate {what}", by="guard")
            return None
        seconds = time.perf_counter() - t0
        st.record(seconds)
        if variant == "candidate":
            self.metrics.observe_request(model.name, "rollout", 200, seconds, rows)
            self._guard_latency()
        return out

    def _after_answer(self) -> None:
        if self.phase != "ramping":
            return
        self.step_answers += 1
        if self.step_answers >= self.plan.step_requests:
            self._next_step("held", by="ramp")

    # -- off the answer path ----------------------------------------------------------------------
    def _off_path(
        self, variant: str, feeds: Mapping[str, np.ndarray], served: dict[str, np.ndarray], timeout_s: float
    ) -> None:
        """Queue a copy of this request for ``variant``'s single-threaded session; never waits (a full queue
        drops the copy and counts it)."""
        if self.phase in FINAL:
            return
        loop = asyncio.get_running_loop()
        job = partial(self._run_copy, variant, dict(feeds), served, timeout_s, loop)
        if not self._offpath.submit(job):
            self.metrics.observe_rollout_dropped(self.model)

    def _run_copy(
        self,
        variant: str,
        feeds: dict[str, np.ndarray],
        served: dict[str, np.ndarray],
        timeout_s: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """On the off-path thread: run the copy (timed in this thread's CPU seconds: what the run itself cost,
        whatever the scheduler gave the low-priority thread), compare it, and hand the result to the loop."""
        if self.phase in FINAL:
            return
        pair = None
        try:
            out, cpu = self._timed(variant, feeds)
            if variant == "candidate":
                self._shadow_runs += 1
                if self._shadow_runs <= self.plan.min_latency or self._shadow_runs % PAIR_EVERY == 0:
                    _, pair = self._timed("incumbent", feeds)  # like with like for the latency guard
            reference, candidate = (served, out) if variant == "candidate" else (out, served)
            cosine, _ = compare(candidate, reference)
        except Exception as e:  # noqa: BLE001 - the candidate's failure is evidence; reported on the loop
            _post(loop, partial(self._copy_failed, variant, e))
            return
        _post(loop, partial(self._judge, variant, cosine, cpu, pair, timeout_s))

    def _timed(self, variant: str, feeds: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float]:
        c0 = time.thread_time()
        out = self.off_path[variant].run(feeds)
        return out, time.thread_time() - c0

    def _copy_failed(self, variant: str, error: Exception) -> None:
        if variant != "candidate":
            log.error("rollout: the incumbent's off-path copy failed: %s", error)
            return
        self.stats["candidate"].errors += 1
        self.rollback(f"the candidate failed off the answer path ({type(error).__name__}: {error})", by="guard")

    def _judge(self, variant: str, cosine: float, cpu_s: float, pair_s: float | None, timeout_s: float) -> None:
        """On the loop: one compared request is one trial of the test (and, paired, one for the latency guard)."""
        if self.phase in FINAL:
            return
        self.stats[variant].record_shadow(cpu_s)
        if variant == "candidate" and cpu_s > timeout_s:
            self.stats["candidate"].timeouts += 1
            self.rollback(f"the candidate timed out off the answer path ({cpu_s:.1f} s > {timeout_s:g} s)", by="guard")
            return
        if pair_s is not None:
            self.pairs.append((cpu_s, pair_s))
            self.stats["incumbent"].record_shadow(pair_s)
        self.compared += 1
        self.disagreements += not agrees(cosine, self.max_drop)
        self.cosines.append(cosine)
        self.min_cosine = cosine if self.min_cosine is None else min(self.min_cosine, cosine)
        if variant == "candidate":
            self._guard_latency()
        self._decide()

    # -- decisions --------------------------------------------------------------------------------
    def _decide(self) -> None:
        self.metrics.observe_rollout(self.model, self.share, self._agreement(), self._llr())
        if self.phase != "evaluating":
            return
        verdict = self.sprt.decide(self.compared, self.disagreements)
        if verdict == ROLLBACK:
            self.rollback(f"{self.disagreements} of {self.compared} requests beyond --max-drop {self.max_drop:g}")
        elif verdict == PROMOTE and self._guard_ready():
            self._promote_by_test()  # never before the latency guard has had its say

    def _guard_ready(self) -> bool:
        n = self.plan.min_latency
        return len(self.stats["candidate"].answered) >= n or len(self.pairs) >= n

    def _guard_latency(self) -> None:
        """Like with like: answers to clients when the candidate has given enough (canary, ramp), else (shadow
        only) the CPU time of both variants' single-threaded sessions on the same requests (paired; the CPU time of
        the run itself, so the off-path thread's low priority does not count against the candidate). Against the
        incumbent (no ``--latency-bound``), answers breach when both their p95 and their median do: a slower model
        moves the whole distribution, while a tail alone moves with whatever else shares the cores. An absolute
        ``--latency-bound`` applies to answers only (one thread's CPU time is not a served latency)."""
        cand, inc = self.stats["candidate"], self.stats["incumbent"]
        if self.phase in FINAL or not self._guard_ready():
            return
        bound, ratio = self.plan.latency_bound_ms, self.plan.latency_ratio
        if len(cand.answered) >= self.plan.min_latency:
            why = latency_breach(cand.answer_ms(), inc.answer_ms(), bound_ms=bound, ratio=ratio, statistic="p95")
            if why is not None and bound is None:
                median = latency_breach(
                    cand.answer_ms(50), inc.answer_ms(50), bound_ms=None, ratio=ratio, statistic="p50"
                )
                why = None if median is None else f"{why} and {median}"
        else:
            pairs = np.asarray(self.pairs) * 1000.0
            why = latency_breach(
                float(np.median(pairs[:, 0])),
                float(np.median(pairs[:, 1])),
                bound_ms=None,
                ratio=ratio,
                statistic="CPU p50 per request (one thread, same requests)",
            )
        if why is not None:
            self.rollback(f"latency: {why}", by="guard")

    def _promote_by_test(self) -> None:
        reason = f"{self.compared - self.disagreements} of {self.compared} requests within --max-drop"
        self.phase = "ramping"
        self._record("promote", reason + "; ramping", by="test")
        self._next_step("the test promoted", by="ramp")

    def _next_step(self, why: str, *, by: str) -> None:
        later = [s for s in self.plan.steps if s > self.share + 1e-9]
        self.share = later[0] if later else 1.0
        self.step_answers = 0
        if self.share >= 1.0:
            self.phase = "promoted"
            self._record("promote", f"{why}: the candidate answers every request", by=by)
        else:
            self._record("step", f"{why}: the candidate answers {self.share:.0%}", by=by)

    def rollback(self, reason: str, *, by: str = "test") -> None:
        if self.phase in FINAL:
            return
        self.phase, self.share = "rolled_back", 0.0
        self._record("rollback", reason, by=by)

    def promote(self, reason: str, *, by: str = "admin") -> None:
        """Promote at once (the admin route): the candidate answers every request."""
        if self.phase in FINAL:
            raise ServeError(f"the rollout of {self.model!r} is already {self.phase.replace('_', ' ')}", 409)
        self.phase, self.share = "promoted", 1.0
        self._record("promote", reason, by=by)

    def abort(self, reason: str) -> None:
        if self.phase in FINAL:
            raise ServeError(f"the rollout of {self.model!r} is already {self.phase.replace('_', ' ')}", 409)
        self.rollback(reason, by="admin")

    # -- evidence, events, restart ----------------------------------------------------------------
    def _agreement(self) -> float | None:
        return round(1 - self.disagreements / self.compared, 6) if self.compared else None

    def _llr(self) -> float:
        return round(self.sprt.llr(self.compared, self.disagreements), 6)

    def evidence(self) -> Evidence:
        return Evidence(
            compared=self.compared,
            disagreements=self.disagreements,
            agreement=self._agreement(),
            mean_cosine=round(float(np.mean(self.cosines)), 6) if self.cosines else None,
            min_cosine=None if self.min_cosine is None else round(self.min_cosine, 6),
            llr=self._llr(),
            dropped=self._dropped_before + self._offpath.dropped,
            upper=round(self.sprt.upper, 6),
            lower=round(self.sprt.lower, 6),
            incumbent=self.stats["incumbent"].figures(self.metrics, self.usd_per_hour),
            candidate=self.stats["candidate"].figures(self.metrics, self.usd_per_hour),
        )

    def status(self) -> RolloutStatus:
        return RolloutStatus(
            rollout_id=self.rollout_id,
            model=self.model,
            phase=self.phase,
            share=self.share,
            shadow_rate=self.plan.shadow_rate if self.phase not in FINAL else 0.0,
            plan=self.plan,
            evidence=self.evidence(),
            events=self.events,
        )

    def _record(self, action: Action, reason: str, *, by: str) -> None:
        event = RolloutEvent(
            rollout_id=self.rollout_id,
            seq=len(self.events),
            t=round(time.time(), 3),
            model=self.model,
            action=action,
            phase=self.phase,
            share=self.share,
            reason=reason,
            by=by,  # type: ignore[arg-type]
            incumbent_artifact=self.incumbent.resolved.artifact.id,
            candidate_artifact=self.candidate.resolved.artifact.id,
            plan=self.plan,
            evidence=self.evidence(),
        )
        self.events.append(event)
        self.metrics.observe_rollout(self.model, self.share, self._agreement(), self._llr())
        log.warning("rollout %s: %s (%s) -> %s %.0f%%", self.rollout_id, action, reason, self.phase, self.share * 100)
        args = (self.store, self.rollout_id, event.seq, self.model, event.t, event.to_json())
        self._writer.submit(stored.add_event, *args)  # one writer thread: events are stored in order

    def _resume(self, prior: list[dict[str, object]]) -> None:
        if not prior:
            self._record("start", self._describe(), by="server")
            return
        self.events = [RolloutEvent.from_json(e) for e in prior]
        last = self.events[-1]
        self.phase, self.share = last.phase, last.share
        self.compared, self.disagreements = last.evidence.compared, last.evidence.disagreements
        self.min_cosine = last.evidence.min_cosine
        self._dropped_before = last.evidence.dropped
        self._record("resume", f"restarted at {self.phase.replace('_', ' ')}, {self.share:.0%}", by="server")

    def _describe(self) -> str:
        p = self.plan
        parts = [f"shadow {p.shadow_rate:.0%}" if p.shadow_rate else "no shadow", f"canary {self.share:.0%}"]
        parts.append("then " + ",".join(f"{s:.0%}" for s in p.steps if s > p.canary + 1e-9))
        return f"{', '.join(parts)}; SPRT q0={p.q0:g} q1={p.q1:g} alpha={p.alpha:g} beta={p.beta:g}"

    async def close(self, timeout_s: float) -> None:
        await asyncio.to_thread(self._offpath.close, timeout_s)
        await self.candidate.batcher.drain(timeout_s)
        await asyncio.to_thread(self._writer.shutdown, wait=True)
        for session in self.off_path.values():
            session.close()
