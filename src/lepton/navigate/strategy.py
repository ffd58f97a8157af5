"""How the space is searched, by successive halving: every setting gets a short screen, the best fraction a
quick measurement, and the recommendation (with the settings its gains quote) a precise one. ``--exhaustive``
measures every setting quickly and everything near the frontier precisely; an Optuna study picks the settings
to screen when the space is larger than ``--trials``. Builds never overlap a measurement (they all come first,
or between rungs), so no measurement shares the CPU with a build."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial

from lepton.engines.base import RuntimeConfig, Session, open_session
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.pareto import default_objectives, pareto_front
from lepton.navigate.recommend import best_one_liner, choose, feasible_trials, objective_key
from lepton.navigate.run import Request, RunState, Variant
from lepton.navigate.rungs import PRECISE, SCREEN

NEAR_FRONTIER = 0.15  # candidates within 15% of the quick frontier get a precise measurement
MAX_PRECISE = 12
KEEP = 1 / 4  # the fraction of screened settings (per batch size) promoted to a quick measurement
CONTEND = 1.10  # settings within 10% of the recommendation's objective are measured precisely beside it
MAX_CONTENDERS = 2
MIN_KEEP = 2


@dataclass(frozen=True)
class Setting:
    """One point of the space: a variant under an engine and runtime configuration."""

    variant: int  # index into the run's variants
    engine: str
    runtime: RuntimeConfig
    kind: str | None = None  # the kind of hardware it is measured on (None: this machine)


def screen(
    run: RunState,
    variants: list[Variant],
    settings: list[Setting],
    strategy: str,
    budget: int,
    deadline: float | None,
    rung: int = SCREEN,
) -> list[JudgedTrial]:
    """Measure settings at ``rung``: every one in order (stopping at ``deadline``), or those an Optuna
    multi-objective study picks (``strategy == "optuna"``, at most ``budget``)."""
    out: list[JudgedTrial] = []

    def on(s: Setting) -> str:
        return f" on {s.kind}" if s.kind else ""

    def measure(s: Setting, what: str) -> JudgedTrial:
        cand, art = variants[s.variant]
        run.clock.tick(f"{cand.label[:40]} {what}{on(s)}")
        trial = run.measure(cand, art, s.runtime, s.engine, rung=rung, kind=s.kind)
        out.append(trial)
        return trial

    if strategy != "optuna":

        def past_deadline() -> bool:
            return bool(deadline) and time.perf_counter() > (deadline or 0.0)

        with SessionReuse(variants) as sessions:  # consecutive batch sizes of one configuration share a session
            requests = []
            for s in settings:
                cand, art = variants[s.variant]
                what = f"{cand.label[:40]} {s.engine} t{s.runtime.intra_op_threads} b{s.runtime.batch_size}{on(s)}"
                reuse = partial(sessions.get, s)
                requests.append(Request(cand, art, s.runtime, s.engine, rung, None, s.kind, what, session=reuse))
            measured = run.measure_many(requests, stop=past_deadline)
        run.unmeasured += sum(1 for t in measured if t is None)
        return [t for t in measured if t is not None]
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seen: dict[int, tuple[float, float, float]] = {}
    study = optuna.create_study(directions=["minimize"] * 3, sampler=optuna.samplers.NSGAIISampler(seed=0))
    metric = run.targets.slo_metric

    def objective(trial: object) -> tuple[float, float, float]:
        i = trial.suggest_int("setting", 0, len(settings) - 1)  # type: ignore[attr-defined]
        if i not in seen:
            t = measure(settings[i], "(optuna)")
            inf = float("inf")
            seen[i] = (t.latency.value(metric), t.usd_per_1m, t.quality_drop or 0.0) if t.measured else (inf, inf, inf)
        return seen[i]

    timeout = max(1.0, deadline - time.perf_counter()) if deadline else None
    study.optimize(objective, n_trials=budget, timeout=timeout, catch=())
    return out


class SessionReuse:
    """One open session for consecutive settings that differ only by batch size (opening one costs a graph
    compile: up to a second on OpenVINO); a session that fails to open is left to ``measure`` to report."""

    def __init__(self, variants: Sequence[Variant]) -> None:
        self.variants = variants
        self.key: tuple[int, str, int, str] | None = None
        self.session: Session | None = None

    def get(self, s: Setting) -> Session | None:
        key = (s.variant, s.engine, s.runtime.intra_op_threads, json.dumps(dict(s.runtime.options), sort_keys=True))
        if key != self.key:
            self.close()
            self.key = key
            try:
                self.session = open_session(s.engine, self.variants[s.variant][1], replace(s.runtime, batch_size=1))
            except Exception:  # noqa: BLE001  measure() opens it again and records the failure as the trial's
                self.session = None
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
        self.session, self.key = None, None

    def __enter__(self) -> SessionReuse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def promote(run: RunState, screened: Sequence[JudgedTrial]) -> list[JudgedTrial]:
    """The screened settings worth a longer look: per batch size, the best ``KEEP`` fraction of the feasible ones
    by the objective (at least ``MIN_KEEP``), and every one on the screen's Pareto frontier. When nothing is
    feasible, the closest by the objective, so the miss is quoted from real measurements."""
    measured = [t for t in screened if t.measured and t.superseded_by is None]
    feasible = feasible_trials(measured, run.targets, run.slo_batch) or measured
    key = objective_key(run.targets.objective, run.targets.slo_metric)
    front = {t.id for t in pareto_front(feasible, default_objectives(run.targets.slo_metric))}
    out: list[JudgedTrial] = []
    for b in sorted({t.batch_size for t in feasible}):
        at_b = sorted((t for t in feasible if t.batch_size == b), key=key)
        keep = max(MIN_KEEP, math.ceil(KEEP * len(at_b)))
        out += [t for i, t in enumerate(at_b) if i < keep or t.id in front]
    return out


def near_frontier(run: RunState, screened: Sequence[JudgedTrial]) -> list[JudgedTrial]:
    """Feasible screened trials on the quick frontier or within NEAR_FRONTIER of it on latency or cost."""
    feasible = feasible_trials(screened, run.targets, run.slo_batch)
    if not feasible:  # nothing fits: measure the closest ones precisely so the miss is quoted honestly
        feasible = [t for t in screened if t.measured]
    metric = run.targets.slo_metric
    front = pareto_front(feasible, default_objectives(metric))
    near = []
    for t in feasible:
        for f in front:
            if f.batch_size != t.batch_size:
                continue
            close_latency = t.latency.value(metric) <= f.latency.value(metric) * (1 + NEAR_FRONTIER)
            if close_latency or t.usd_per_1m <= f.usd_per_1m * (1 + NEAR_FRONTIER):
                near.append(t)
                break
    near.sort(key=lambda t: t.usd_per_1m)
    return near[:MAX_PRECISE]


def contenders(run: RunState, rec: JudgedTrial, feasible: Sequence[JudgedTrial]) -> list[JudgedTrial]:
    """Feasible settings at the recommendation's batch size within ``CONTEND`` of it by the objective, measured
    less precisely than it: a quick measurement cannot tell them apart, a precise one can."""

    def badness(t: JudgedTrial) -> float:  # the objective as a positive figure, smaller is better
        if run.targets.objective == "latency":
            return t.latency.value(run.targets.slo_metric)
        if run.targets.objective == "throughput":
            return 1.0 / t.capacity
        return t.usd_per_1m

    close = [
        t
        for t in feasible
        if t.batch_size == rec.batch_size
        and not t.precise
        and not t.is_baseline
        and t.config_key() != rec.config_key()
        and badness(t) <= badness(rec) * CONTEND
    ]
    return sorted(close, key=badness)[:MAX_CONTENDERS]


def verify_recommendation(run: RunState, variants: dict[str, Variant], deadline: float | None = None) -> None:
    """What is recommended is measured precisely, at every batch size, together with the variant's fastest
    setting at each batch size (its gains are quoted from those) and its close contenders: re-measure until
    the choice holds. At each batch size they are measured side by side with the baseline, in alternating
    blocks (``measure.paired``), so every gain is the median of per-pair ratios of measurements taken by turns
    (a burst of outside load falls on both sides of a pair; a disturbed pair is dropped and timed again). When
    the comparison stays disturbed it is measured once more while ``deadline`` allows, then flagged. When the
    baseline itself is chosen, its best challenger is measured beside it, so "keep your current deployment" is
    decided on precise figures as well."""
    for _ in range(4):
        ok = [t for t in run.log.current() if t.measured and not t.is_baseline]
        baselines = [t for t in run.log.current() if t.is_baseline]
        feasible = feasible_trials([*ok, *baselines], run.targets, run.slo_batch)
        rec = choose(feasible, run.targets)
        if rec is None:
            return
        kind = rec.hardware_kind
        if rec.is_baseline:  # its best challenger on the same machine is measured beside it
            rec = choose([t for t in feasible if not t.is_baseline and t.hardware_kind == kind], run.targets)
        failed = {t.config_key() for t in baselines if t.status == "failed"}  # e.g. a resumed run's lost module
        usable = [t for t in baselines if t.measured and t.hardware_kind == kind and t.config_key() not in failed]
        todo = [t for t in usable if not t.precise]
        if rec is not None:
            todo += _verification_of(rec, ok) + contenders(run, rec, feasible)
            todo += [t for t in [best_one_liner(rec, feasible, run.targets)] if t is not None and not t.precise]
        if not todo:
            return
        quoted = _verification_of(rec, ok, precise_too=True) if rec is not None else []
        for b in sorted({t.batch_size for t in todo}):
            base = [t for t in usable if t.batch_size == b]  # measured again beside what it is compared with ...
            again = [t for t in quoted if t.batch_size == b and t.precise]  # ... and with what its gains quote
            group = base[:1] + [t for t in todo if t.batch_size == b and not t.is_baseline] + (again if base else [])
            _side_by_side(run, variants, group, deadline)


def _side_by_side(
    run: RunState, variants: dict[str, Variant], group: list[JudgedTrial], deadline: float | None
) -> None:
    """Measure ``group`` (the baseline first) precisely in alternating blocks; again once when a comparison stays
    disturbed and the time budget has room for it."""
    started = time.perf_counter()
    for attempt in range(2):
        requests = [run.longer_request(t, variants, PRECISE, f"verifying {t.variant[:40]}") for t in group]
        group = run.measure_side_by_side(requests, done=partial(_supersede, run))
        flagged = any(
            p.disturbed is not None for t in group[1:] if (p := run.pairings.get((group[0].id, t.id))) is not None
        )
        took = time.perf_counter() - started
        if not flagged or (deadline is not None and time.perf_counter() + took > deadline):
            return
        run.notes.append(
            f"the side-by-side measurement at batch {group[0].batch_size} was disturbed by other processes; "
            + ("measured again" if attempt == 0 else "still disturbed: its gains are flagged")
        )
        group = [run.log.trials[t.id] for t in group if t.measured]


def _supersede(run: RunState, request: Request, longer: JudgedTrial) -> None:
    """Link a verification to the measurement it replaces; a baseline that cannot be measured again keeps the
    measurement it has (its failure stays on record)."""
    if longer.measured or request.role != "baseline":
        run.log.supersede(request.shorter, longer)


def _verification_of(rec: JudgedTrial, ok: Sequence[JudgedTrial], *, precise_too: bool = False) -> list[JudgedTrial]:
    """The trials of ``rec``'s variant (same engine, options and machine) not yet measured precisely (or all of
    them, ``precise_too``) that its recommendation and gains quote: its own, and its fastest setting at each
    batch size."""
    same = [
        t
        for t in ok
        if t.artifact_id == rec.artifact_id
        and t.engine == rec.engine
        and t.options_text == rec.options_text
        and t.hardware_kind == rec.hardware_kind
    ]
    fastest = {
        b: max((t for t in same if t.batch_size == b), key=lambda t: t.throughput).id
        for b in {t.batch_size for t in same}
    }
    quoted = [t for t in same if t.config_key() == rec.config_key() or t.id in fastest.values()]
    return [t for t in quoted if precise_too or not t.precise]
