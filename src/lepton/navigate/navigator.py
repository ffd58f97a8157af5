"""``optimize``: build every candidate, screen it cheaply, measure the frontier precisely, recommend one."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from lepton.cost.catalog import PriceCatalog
from lepton.engines.base import ENGINES, RuntimeConfig
from lepton.errors import CandidateError, UserError
from lepton.hardware import detect_hardware
from lepton.ir.artifact import Artifact
from lepton.measure.batch_axis import probe_batch
from lepton.measure.failures import check_runs
from lepton.measure.job import Measurer
from lepton.measure.memory import PeakRss
from lepton.measure.timing import TimingPlan
from lepton.measure.trial import (
    Reference,
    TrialSpec,
    failed_trial,
    quality_of,
    reference_engine,
    reference_for,
)
from lepton.measure.workload import Workload, make_workload
from lepton.navigate.clock import StageClock
from lepton.navigate.deployment import Deployment
from lepton.navigate.explain import hardware_notes
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.memory_bound import build_too_big, memory_info, plan_memory
from lepton.navigate.options import OptimizeOptions
from lepton.navigate.recovery import recovery_stage
from lepton.navigate.result import HardwareKind, OptimizeResult, SearchSummary, SensitivityInfo, Skipped
from lepton.navigate.run import Request, RunState, Variant
from lepton.navigate.rungs import PRECISE, QUICK, SCREEN
from lepton.navigate.sensitivity import BUDGET_S as SENSITIVITY_BUDGET_S
from lepton.navigate.sensitivity import sensitivity_stage
from lepton.navigate.space import Candidate, candidates, runtime_options, search_engines
from lepton.navigate.strategy import Setting, near_frontier, promote, screen, verify_recommendation
from lepton.navigate.trial_log import prior_of
from lepton.navigate.verdict import decide, elapsed, judge
from lepton.passes import PassContext, apply_chain
from lepton.progress import Progress
from lepton.store.store import Store

SCREEN_PLAN = TimingPlan(warmup=1, min_runs=3, min_seconds=0.15, max_runs=60, max_seconds=2.0)
QUICK_PLAN = TimingPlan(warmup=1, min_runs=8, min_seconds=0.5, max_runs=200, max_seconds=4.0)
PRECISE_PLAN = TimingPlan(min_runs=16, min_seconds=3.0, max_seconds=12.0)


@dataclass(frozen=True)
class Plans:
    """How long a measurement takes at each rung: a short screen, a quick measurement, a precise one."""

    quick: TimingPlan = QUICK_PLAN
    precise: TimingPlan = PRECISE_PLAN
    screen: TimingPlan = SCREEN_PLAN

    def by_rung(self) -> dict[int, TimingPlan]:
        return {SCREEN: self.screen, QUICK: self.quick, PRECISE: self.precise}


class Cluster(Protocol):
    """How ``--ray ADDRESS`` measures: join the cluster and return a ``Measurer`` over its kinds of node, priced
    (``prices``: kinds the catalog does not list). The faces pass ``distributed.measurer.RayMeasurer.connect``, so
    the navigator never imports the cluster code (training's Ray trainer is injected the same way)."""

    def __call__(
        self, address: str, workload: Workload, reference: Reference, *, prices: Mapping[str, float] | None = None
    ) -> Measurer: ...


def optimize(
    artifact: Artifact,
    options: OptimizeOptions,
    *,
    store: Store,
    plans: Plans = Plans(),
    progress: Progress | None = None,
    cluster: Cluster | None = None,
) -> OptimizeResult:
    """Find every worthwhile variant of ``artifact``, measure it for real, price it, and recommend one.

    The plan of a run: the baseline, every candidate built and screened, the sensitivity stage when a faster
    int8 variant only misses quality, precise measurements near the frontier, then the verdict. ``cluster``
    joins the Ray cluster ``options.ray`` names (the faces give it).
    """
    t_start = time.perf_counter()
    if artifact.name:
        store.name_model(artifact.name, artifact.id)
    run = _start(
        None, artifact, options, store, plans, progress, cluster
    )  # a mistake in the inputs stops before any run
    return _run(run, options, t_start)


def resume(
    run_id: str,
    *,
    store: Store,
    plans: Plans = Plans(),
    progress: Progress | None = None,
    cluster: Cluster | None = None,
) -> OptimizeResult:
    """Continue an interrupted run (killed, crashed, Ctrl-C): what it measured is reused, the rest is measured,
    and the result is the one an uninterrupted run gives, under the same run id."""
    t_start = time.perf_counter()
    stored = store.run(run_id)
    summary = stored.summary
    if summary.kind != "optimize":
        raise UserError(f"run {run_id} is a {summary.kind} run; --resume continues optimize runs")
    if summary.status == "running":
        raise UserError(f"run {run_id} is still running (its process is alive); wait for it, or stop it first")
    if summary.status in ("done", "no-fit"):
        raise UserError(f"run {run_id} finished ({summary.status}); `lepton report {run_id}` shows its result")
    if "options" not in stored.payload or summary.artifact_id is None:
        raise UserError(f"run {run_id} was started by an older Lepton that did not record its options; start anew")
    options = OptimizeOptions.build(**stored.payload["options"])
    artifact = store.artifact(summary.artifact_id).with_(name=summary.model)
    store.reopen_run(run_id)
    store.clear_trials(run_id)  # the reused trials are written back with their ids as the run reaches them
    run = _start(run_id, artifact, options, store, plans, progress, cluster)
    run.log.prior = prior_of([JudgedTrial.from_json(t) for t in stored.trials])
    return _run(run, options, t_start)


def _run(run: RunState, options: OptimizeOptions, t_start: float) -> OptimizeResult:
    """The plan of a run, from its baseline to its verdict; the run is closed in the store whatever happens."""
    result: OptimizeResult | None = None
    status = "failed"
    try:
        deadline = t_start + options.time_budget if options.time_budget else None
        run.deadline = deadline
        with run.clock.stage("baseline"):
            _measure_baseline(run)
        run.memory = plan_memory(run, options.max_memory)  # calibration batches cut, or skipped, to fit the bound
        if run.memory.action:
            run.notes.append(run.memory.action if not run.memory.skip else f"calibrating passes {run.memory.skip}")
        with run.clock.stage("build"):
            variants, skipped = _build_variants(run, deadline, options.exhaustive)
        settings = _settings(run, variants, options.exhaustive)
        per_kind = len(settings) / len(run.kinds)  # a cluster screens its kinds side by side
        strategy = "exhaustive" if options.exhaustive else "optuna" if per_kind > options.trials else "halving"
        first_rung = QUICK if strategy == "exhaustive" else SCREEN
        run.clock.steps_total += len(settings)
        with run.clock.stage("screen"):
            screened = screen(run, variants, settings, strategy, options.trials, _until(deadline, run), first_rung)
        sensitivity: SensitivityInfo | None = None
        if options.sensitivity != "off":  # a faster variant that only misses quality: keep its worst layers float
            with run.clock.stage("recover"):
                sensitivity = _recover_quality(run, options, variants, screened, deadline, first_rung)
        by_label = {c.label: (c, a) for c, a in variants}
        with run.clock.stage("promote"):
            _measure_longer(run, strategy, screened, by_label, deadline)
        with run.clock.stage("verify"):
            verify_recommendation(run, by_label, deadline)
        result = _conclude(run, skipped, strategy, len(settings), sensitivity, t_start, options.time_budget)
        status = {"recommend": "done", "keep": "done", "no-fit": "no-fit"}[result.verdict]
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        _finish(run, options, result, status)
    return result


def _recover_quality(
    run: RunState,
    options: OptimizeOptions,
    variants: list[Variant],
    screened: list[JudgedTrial],
    deadline: float | None,
    rung: int,
) -> SensitivityInfo | None:
    """Variants that keep a faster int8 variant's worst nodes in float (sensitivity), and its quality-bounded
    twin (accuracy control), screened like the rest; ``variants`` and ``screened`` grow in place."""
    extra: list[Variant] = []
    sensitivity = None
    if run.reference.outputs is not None:
        budget = SENSITIVITY_BUDGET_S
        if deadline is not None:  # within a time budget the stage gets at most a quarter of what is left
            budget = min(budget, max(0.0, (deadline - time.perf_counter()) / 4))
        extra, sensitivity = sensitivity_stage(run, screened, variants, options.sensitivity == "on", budget)
    twin, recovered = recovery_stage(run, screened, variants + extra, calibration_context(run))
    if recovered:
        run.notes.append(recovered)
    first = len(variants)
    variants += extra + twin
    more = [s for s in _settings(run, variants, options.exhaustive) if s.variant >= first]
    run.clock.steps_total += len(more)
    screened += screen(run, variants, more, "in order", len(more), _until(deadline, run), rung)
    return sensitivity


def _measure_longer(
    run: RunState, strategy: str, screened: list[JudgedTrial], by_label: dict[str, Variant], deadline: float | None
) -> None:
    """The second rung: a quick measurement of the promoted fraction (halving), or a precise one of everything
    near the frontier (exhaustive); stops early enough for the verification to fit the time budget."""
    if strategy == "exhaustive":
        longer, rung = near_frontier(run, screened), PRECISE
    else:
        longer, rung = promote(run, screened), QUICK
    run.clock.steps_total += len(longer)
    word = "precise" if rung == PRECISE else "quick"
    requests = [run.longer_request(t, by_label, rung, f"{word} {t.variant[:40]}") for t in longer]

    def stop() -> bool:
        until = _until(deadline, run, 0.5)
        return until is not None and time.perf_counter() > until

    run.measure_many(requests, stop=stop, done=lambda r, t: run.log.supersede(r.shorter, t))


def _until(deadline: float | None, run: RunState, share: float = 1.0) -> float | None:
    """When to stop starting new measurements so the precise ones that close the run still fit: the deadline
    minus an estimate of the verification (per batch size, two precise measurements of the fastest variant's
    length and one of the baseline's; ``share`` of it)."""
    if deadline is None:
        return None
    plan = run.plans[PRECISE]

    def precise_s(mean_ms: float) -> float:
        call_s = mean_ms / 1000.0
        return max(plan.min_seconds, plan.min_runs * call_s) + min(400 * call_s / 4, 2000 / 1000)  # + concurrency

    reserve = 0.0
    for b in run.batch_sizes:
        at_b = [t for t in run.log.current() if t.measured and t.batch_size == b]
        fastest = min((t.latency.mean for t in at_b if not t.is_baseline), default=10.0)
        base = min((t.latency.mean for t in at_b if t.is_baseline and not t.precise), default=0.0)
        reserve += 2 * precise_s(fastest) + (precise_s(base) if base else 0.0)
    return deadline - share * reserve


def _start(
    run_id: str | None,
    artifact: Artifact,
    options: OptimizeOptions,
    store: Store,
    plans: Plans,
    progress: Progress | None,
    cluster: Cluster | None = None,
) -> RunState:
    """Everything a run measures against (machine, price, workload, reference), checked before the run is
    opened in the store (``run_id`` None: a new run; else the one being resumed)."""
    hw = detect_hardware()
    batches, slo_batch = options.batch_sizes(artifact.signature.fixed_batch())
    workload = make_workload(artifact, options.data)
    check_runs(artifact, workload, batch_size=batches[0])  # inputs the model refuses: one line, before any run
    batches, slo_batch, batch_note = _probe_batch(artifact, workload, batches, slo_batch)
    reference = reference_for(artifact, workload)
    measurer: Measurer | None = None
    if options.ray:  # measured on the kinds of node of a cluster, each priced as such
        if cluster is None:
            raise UserError(f"--ray {options.ray}: run it through lepton.api.optimize or `lepton optimize --ray`")
        measurer = cluster(options.ray, workload, reference, prices=options.hardware_price)
        price = measurer.price(measurer.kinds[0])
    else:
        price = PriceCatalog.load().price(hw, instance=options.instance, price_per_hour=options.price_per_hour)
    if run_id is None:
        run_id = store.start_run("optimize", artifact.name, artifact.id)
        store.save_payload(run_id, {"options": options.to_json()})
    run = RunState(
        store,
        run_id,
        artifact,
        hw,
        price,
        workload,
        reference,
        options.targets,
        plans.by_rung(),
        slo_batch,
        batch_sizes=batches,
        clock=StageClock(progress),
        measurer=measurer,
    )
    if batch_note:
        run.notes.append(batch_note)
    if reference.outputs is not None:  # fidelity: the reference itself scores 1.0
        run.qualities.base = quality_of(artifact.task, reference.outputs, reference).headline()
    return run


def _probe_batch(
    artifact: Artifact, workload: Workload, batches: list[int], slo_batch: int
) -> tuple[list[int], int, str | None]:
    """Probe, don't trust, the batch axis (``measure.batch_axis``): a model that fails at a batch size it declares
    is measured only at the sizes it runs at, and every stage feeds at most that many rows at once; the note
    says why."""
    limit = probe_batch(artifact, workload, batches)
    if limit is None:
        return batches, slo_batch, None
    kept = [b for b in batches if b <= limit.largest] or [limit.largest]
    left = [b for b in batches if b > limit.largest]
    workload.max_batch = limit.largest
    note = limit.note() + (f"; --batch {','.join(map(str, left))} left out" if left else "")
    return kept, min(slo_batch, limit.largest), note


def _measure_baseline(run: RunState) -> None:
    """What the user would deploy without Lepton, screened at every batch size like the candidates (it is
    measured precisely in the verification, beside the recommendation; a resumed run keeps the baseline it
    measured, even when its PyTorch source no longer exists in memory)."""
    measured = next((t for t in run.log.prior.values() if t.is_baseline), None)
    engine = measured.engine if measured else reference_engine(run.artifact)
    label = "pytorch eager fp32" if engine == "torch" else "onnxruntime defaults"
    run.clock.steps_total += len(run.batch_sizes) * len(run.kinds)
    base = Candidate(label, [])
    run.measure_many(
        [
            Request(base, run.artifact, RuntimeConfig(batch_size=b), engine, SCREEN, "baseline", kind, what)
            for kind in run.kinds
            for b in run.batch_sizes
            for what in [f"baseline batch {b}" + (f" on {kind}" if kind else "")]
        ]
    )


def calibration_context(run: RunState) -> PassContext:
    """What passes calibrate on: the run's own data in batches it runs at (and their labels, when it has them)."""
    return PassContext(
        store=run.store,
        hardware=run.build_hardware,
        calibration=run.workload.batches(run.calibration_batch, run.calibration_batches),
        labels=run.workload.label_batches(run.calibration_batch, run.calibration_batches),
    )


def _build_variants(run: RunState, deadline: float | None, exhaustive: bool) -> tuple[list[Variant], list[Skipped]]:
    """Build every candidate chain (cached in the store); a failing pass is recorded, not fatal. Past the
    deadline (less what screening and verification need) the remaining chains are skipped, and said so."""
    variants: list[Variant] = []
    skipped: list[Skipped] = []
    space = candidates(run.artifact, run.build_hardware, exhaustive=exhaustive)
    run.clock.steps_total += len(space)
    ctx = calibration_context(run)
    for cand in space:
        run.clock.tick(f"building {cand.label[:40]}")
        if cand.skip_reason:
            skipped.append(Skipped(variant=cand.label, chain=cand.chain, reason=cand.skip_reason))
            continue
        if run.memory and run.memory.skip and any(p.calibrates for p in cand.passes):
            skipped.append(Skipped(variant=cand.label, chain=cand.chain, reason=run.memory.skip))
            continue
        too_big = build_too_big(run, cand.passes, ctx)
        if too_big:
            skipped.append(Skipped(variant=cand.label, chain=cand.chain, reason=too_big))
            continue
        until = _until(deadline, run, 2.0)
        if cand.passes and until is not None and time.perf_counter() > until:
            skipped.append(Skipped(variant=cand.label, chain=cand.chain, reason="not built: the time budget ran out"))
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()), PeakRss(interval_s=0.05) as rss:  # ORT prints progress
                variants.append((cand, apply_chain(run.artifact, cand.passes, ctx)))
            if cand.passes:
                run.pass_peak_mb[cand.label] = round(rss.peak_mb, 1)
        except CandidateError as e:
            engine = "openvino" if cand.passes[-1].produces == "openvino" else "onnxruntime"
            spec = TrialSpec(engine, run.artifact, RuntimeConfig(), cand.label, cand.chain, cand.parent)
            run.log.add(JudgedTrial.of(failed_trial(run.log.next_id(), spec, e)))
    return variants, skipped


def _settings(run: RunState, variants: list[Variant], exhaustive: bool) -> list[Setting]:
    """Every (variant, engine, runtime) to screen: each variant on each searched engine that runs it (unless a
    prior says the pair rarely pays: said once per engine in the notes)."""
    out = []
    for i, (cand, art) in enumerate(variants):
        engines, skipped = search_engines(art, exhaustive)
        for engine, why in skipped.items():
            note = f"not measured on {engine}: {why} (--exhaustive measures it anyway)"
            if note not in run.notes:
                run.notes.append(note)
        for engine in engines:
            for kind in run.kinds:
                hw = run.hardware_of(kind)
                if kind is not None and any(p.check(run.artifact, hw) for p in cand.passes):
                    continue  # a pass this kind of machine cannot run (bf16, VNNI ...): measured elsewhere only
                plugin = ENGINES.get(engine)()
                for rc in runtime_options(engine, hw, run.batch_sizes):
                    costly = None if exhaustive else plugin.costly(rc)
                    if costly is None:
                        out.append(Setting(i, engine, rc, kind))
                        continue
                    note = f"not measured on {engine}: {costly} (--exhaustive measures it anyway)"
                    run.notes += [note] if note not in run.notes else []
                for why in plugin.not_offered(hw):  # settings this machine cannot run: said once
                    note = f"not measured on {engine}: {why}"
                    run.notes += [note] if note not in run.notes else []
    return out


def _conclude(
    run: RunState,
    skipped: list[Skipped],
    strategy: str,
    space: int,
    sensitivity: SensitivityInfo | None,
    t_start: float,
    time_budget: float | None,
) -> OptimizeResult:
    judge(run)
    d = decide(run)
    kinds = _kinds(run)
    machine_notes = (
        [f"{k.name}: {note}" for k in kinds for note in hardware_notes(k.hardware)]
        if kinds
        else hardware_notes(run.hardware)
    )
    notes = [
        *machine_notes,
        *run.notes,
        *(f"skipped {s.variant}: {s.reason}" for s in skipped),
        *dict.fromkeys(n for t in run.log.current() for n in t.notes),
    ]
    out_of_time = run.unmeasured + sum(1 for s in skipped if "time budget" in s.reason)
    if out_of_time:
        notes.append(
            f"the time budget ({time_budget:g} s) ran out: {run.unmeasured} settings unscreened and "
            f"{out_of_time - run.unmeasured} variants unbuilt; raise --time-budget to try them"
        )
    trials = tuple(sorted(run.log.trials.values(), key=_id_order))  # on a cluster they finish in any order
    return OptimizeResult(
        run_id=run.run_id,
        created=time.time(),
        model=run.artifact.summary(),
        hardware=run.hardware,
        price=run.measuring.price(d.recommended.hardware_kind if d.recommended else run.kinds[0]),
        targets=run.targets,
        workload=run.workload.source,
        inputs=dict(run.workload.provenance),
        reference=run.reference.description,
        trials=trials,
        frontier=tuple(t.id for t in d.frontier),
        recommended=d.recommended.id if d.recommended else None,
        verdict=d.verdict,
        reason=d.reason + (f" (the time budget left {out_of_time} candidates untried)" if out_of_time else ""),
        closest_miss=d.closest_miss,
        gains=tuple(d.gains),
        vs_torch_best=d.vs_torch_best,
        best_by_engine=d.best_by_engine,
        best_by_hardware=d.best_by_hardware,
        kinds=tuple(kinds),
        notes=tuple(notes),
        skipped=tuple(skipped),
        search=SearchSummary(
            strategy=strategy,
            candidates=space,
            measured=sum(1 for t in trials if not t.is_baseline),
            precise=sum(1 for t in trials if t.precise and not t.is_baseline),
            seconds=elapsed(t_start),
            screened=sum(1 for t in trials if t.rung == SCREEN and not t.is_baseline),
            quick=sum(1 for t in trials if t.rung == QUICK and not t.is_baseline),
            time_budget=time_budget,
            unmeasured=run.unmeasured,
            reused=run.log.reused,
            stages={k: round(v, 1) for k, v in run.clock.seconds.items()},
        ),
        sensitivity=sensitivity,
        memory=memory_info(run, run.memory, run.pass_peak_mb) if run.memory else None,
    )


def _id_order(t: JudgedTrial) -> int:
    return int(t.id[1:]) if t.id[1:].isdigit() else 0


def _kinds(run: RunState) -> list[HardwareKind]:
    """The kinds of machine of a cluster run, with their hardware, price and nodes (none on one machine)."""
    if run.kinds == (None,):
        return []
    m = run.measuring
    return [
        HardwareKind(name=k, hardware=run.hardware_of(k), price=m.price(k), nodes=m.node_count(k))
        for k in run.kinds
        if k is not None
    ]


def _finish(run: RunState, options: OptimizeOptions, result: OptimizeResult | None, status: str) -> None:
    """Close the run in the store: its status, the result (without trials, stored apart) and what to serve."""
    run.measuring.close()
    deployment = None
    rec = result.recommended_trial if result else None
    if rec is not None:
        served = ENGINES.get(rec.engine).served
        deployment = Deployment(
            artifact_id=rec.artifact_id,
            # an engine lepton serve does not run (PyTorch): the same model in ONNX on ONNX Runtime is served
            engine=rec.engine if served else "onnxruntime",
            runtime=rec.runtime if served else replace(rec.runtime, options={}),
            throughput_per_s=rec.capacity,
            latency_ms=rec.latency,
            usd_per_1m=rec.usd_per_1m,
            hardware_kind=rec.hardware_kind,
            qps=rec.priced.qps,
            replicas=rec.priced.replicas,
        )
    payload = {k: v for k, v in result.to_json().items() if k not in ("trials", "baseline")} if result else {}
    run.store.finish_run(run.run_id, status, {**payload, "options": options.to_json()}, deployment)
