"""``lepton check``: a regression gate for CI. The deployed variant of a stored optimize run (or a new model file
given in its place) is measured again on this machine, on the run's data, and judged against what the run
recorded.

Two kinds of comparison, each an ``Item`` with its interval and its limit:
- **paired** (a candidate ``--model`` against the deployed variant): both are timed in alternating blocks
  (``measure.job.measure_side_by_side``), so outside load and clock drift fall on both alike. A figure regresses
  when the candidate is worse by more than ``tolerance`` *and* the 95% interval of the ratio lies wholly on the
  worse side of 1 (a slowdown the noise explains is not a regression). $/1M is the ratio of the two quoted costs
  (each side's capacity) with the interval of the per-pair ratios of concurrent bursts.
- **recorded** (the deployed variant measured now against the figures the run stored): the same rule with a wider
  ``recorded_tolerance`` (separate processes, possibly hours apart), only on the same kind of CPU, only when the
  deployed variant was measured alone as the run measured it (not interleaved with ``--model``).
Either way a p95 regresses only when its median moved beyond the limit too (a tail alone moves with the machine).
Quality (task metric or fidelity to the source model, the navigator's one rule) regresses when its drop exceeds
the run's ``--max-drop``.

``data`` measures on other data than the run's (a file, or a server's captured traffic: ``--data captured:NAME``,
resolved by the faces). The run's recorded latency and $/1M were measured on its own data, so they are not compared
(skipped, with why); quality is then the deployed variant's fidelity to the source model on that data, judged by the
navigator's rule (its drop from the source's own 1.0 within ``--max-drop``). Paired items (``--model``) are measured
on that data as usual.

A measurement that other processes disturbed decides nothing silently: it is measured again (``retries``), and if
it stays disturbed the gate's outcome is ``disturbed`` (exit 4), unless ``judge_disturbed`` asks for a verdict on
the flagged figures, which are then marked so in every output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lepton.contract import Contract
from lepton.cost.catalog import PriceCatalog, PricePoint
from lepton.errors import UserError
from lepton.hardware import detect_hardware
from lepton.ir.artifact import Artifact
from lepton.measure.interference import Disturbance
from lepton.measure.job import Job, measure_job, measure_side_by_side
from lepton.measure.paired import PairedRatios
from lepton.measure.timing import Estimate, TimingPlan
from lepton.measure.trial import Reference, Trial, TrialSpec, reference_for
from lepton.measure.workload import Workload, make_workload
from lepton.navigate.deployment import Deployment
from lepton.navigate.options import OptimizeOptions
from lepton.quality import Quality
from lepton.store.runs import StoredRun
from lepton.store.store import Store

Outcome = Literal["pass", "regressed", "disturbed", "skipped"]
Verdict = Literal["pass", "regressed", "disturbed"]
EXIT_CODES: dict[str, int] = {"pass": 0, "regressed": 1, "disturbed": 4}
CHECK_PLAN = TimingPlan(min_runs=16, min_seconds=3.0, max_seconds=12.0)  # the navigator's precise plan


class Item(Contract):
    """One figure judged: the deployed variant's (measured now, or recorded), the candidate's, their ratio with its
    95% interval (above 1: the candidate is worse), and the limit a regression must pass."""

    name: str  # p95 | p50 | usd_per_1m | quality
    against: Literal["paired", "recorded", "source"]  # source: fidelity to the source model on other data
    unit: str  # ms | usd | the quality metric's name
    deployed: float | None = None
    candidate: float | None = None
    ratio: Estimate | None = None  # worse over better: candidate / deployed (latency, cost)
    drop: float | None = None  # quality: how much worse the candidate is (the navigator's drop rule)
    limit: float  # the ratio above 1 + limit (or the drop above limit) that makes a regression
    outcome: Outcome
    note: str = ""


class CheckResult(Contract):
    """What ``lepton check`` measured and decided (``--json``)."""

    model: str
    run_id: str
    deployed_artifact: str
    candidate_artifact: str
    candidate_source: str  # "the deployed variant" or the --model path
    engine: str
    batch_size: int
    hardware: str
    recorded_hardware: str | None = None
    workload: str
    reference: str
    items: tuple[Item, ...]
    verdict: Verdict
    attempts: int  # measurements made (a disturbed one is measured again)
    sessions: int = 1  # above 1: a recorded regression was measured again in fresh sessions; the lowest median judged
    trials: tuple[Trial, ...]  # the deployed variant and, when given, the candidate, as measured now
    paired: PairedRatios | None = None
    disturbed: Disturbance | None = None  # the last measurement's flag (None: clean)
    judged_disturbed: bool = False  # a verdict on flagged figures (``--if-disturbed judge``)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


@dataclass(frozen=True, kw_only=True)
class CheckOptions:
    against: str | None = None  # a run id (default: the model's latest finished optimize run)
    model: Path | None = None  # a new model file measured in place of the deployed variant
    tolerance: float = 0.05  # paired: a candidate worse by more than this (and beyond the interval) regresses
    recorded_tolerance: float = 0.25  # against the run's stored figures (another process, another time)
    retries: int = 1  # a disturbed measurement is made again this many times
    judge_disturbed: bool = False  # decide on flagged figures instead of exiting 4
    plan: TimingPlan = CHECK_PLAN
    data: Path | None = None  # measure on this data instead of the run's (e.g. captured traffic, as an .npz)
    confirm: int = 2  # fresh sessions that measure a regression against the recorded figures again


@dataclass(frozen=True)
class Setup:
    """Everything a check measures with, read from the store."""

    name: str
    run: StoredRun
    deployment: Deployment
    base: Artifact
    deployed: Artifact
    candidate: Artifact | None
    options: OptimizeOptions
    recorded: Trial | None
    workload: Workload
    reference: Reference
    price: PricePoint


def prepare(
    name: str, opts: CheckOptions, store: Store, import_file: Callable[[Path], Artifact] | None = None
) -> Setup:
    """The run, its deployment, its data and reference, and the candidate (``import_file`` commits ``--model``)."""
    run = store.run(opts.against) if opts.against else store.latest_run(name)
    if run is None:
        raise UserError(f"no finished optimize run of {name!r}; run `lepton optimize {name}` first or give --against")
    if run.summary.kind != "optimize" or run.summary.artifact_id is None:
        raise UserError(f"run {run.id} is a {run.summary.kind} run; --against takes an optimize run (`lepton runs`)")
    deployment = Deployment.from_summary(run.deployment)
    if deployment is None:
        raise UserError(f"run {run.id} recommends nothing to deploy ({run.summary.status}); check another run")
    options = OptimizeOptions.build(**run.payload.get("options", {}))
    if opts.data is not None and not Path(opts.data).exists():
        raise UserError(f"--data {opts.data}: no such file; give a data file or captured:NAME")
    if opts.data is None and options.data is not None and not Path(options.data).exists():
        raise UserError(f"run {run.id} measured on --data {options.data}, which no longer exists; restore it")
    base = store.artifact(run.summary.artifact_id).with_(name=run.summary.model)
    deployed = store.artifact(deployment.artifact_id)
    if options.shape:
        base = base.with_(signature=base.signature.with_pins(options.shape))
        deployed = deployed.with_(signature=deployed.signature.with_pins(options.shape))
    candidate = None
    if opts.model is not None:
        if import_file is None or not opts.model.exists():
            raise UserError(f"--model {opts.model}: no such file; give the path of the new .onnx model")
        candidate = import_file(opts.model)
        if options.shape:
            candidate = candidate.with_(signature=candidate.signature.with_pins(options.shape))
    workload = make_workload(base, opts.data if opts.data is not None else options.data)
    reference = reference_for(base, workload)
    price = PriceCatalog.load().price(
        detect_hardware(), instance=options.instance, price_per_hour=options.price_per_hour
    )
    recorded = _recorded_trial(run, deployment)
    return Setup(name, run, deployment, base, deployed, candidate, options, recorded, workload, reference, price)


def _recorded_trial(run: StoredRun, d: Deployment) -> Trial | None:
    """The run's trial of the deployed configuration (its quality as recorded)."""
    rec = run.payload.get("recommended")
    for t in run.trials:
        if t.get("id") == rec and t.get("artifact_id") == d.artifact_id:
            return Trial.from_json(t)
    for t in run.trials:
        if t.get("artifact_id") == d.artifact_id and t.get("engine") == d.engine and t.get("status") == "ok":
            return Trial.from_json(t)
    return None


def check(setup: Setup, opts: CheckOptions) -> CheckResult:
    """Measure (again while disturbed, up to ``retries`` times), then judge every figure; a regression against the
    recorded figures is measured once more in a fresh session before it is called (see ``_confirmed``)."""
    result = _measured_and_judged(setup, opts)
    for _ in range(opts.confirm):
        if not _recorded_timing_regressed(result):
            break
        result = _confirmed(result, _measured_and_judged(setup, opts))
    return result


def _measured_and_judged(setup: Setup, opts: CheckOptions) -> CheckResult:
    attempts = 0
    while True:
        attempts += 1
        trials, paired = _measure(setup, opts.plan)
        flag = Disturbance.merge(
            [d for d in (*(t.disturbed for t in trials), paired.disturbed if paired else None) if d is not None]
        )
        if flag is None or attempts > opts.retries:
            break
    return _judge(setup, opts, trials, paired, flag, attempts)


def _recorded_timing_regressed(r: CheckResult) -> bool:
    return any(i.outcome == "regressed" and i.against == "recorded" and i.name != "quality" for i in r.items)


def _confirmed(first: CheckResult, again: CheckResult) -> CheckResult:
    """Of the sessions measured so far, the one with the lower median is judged.

    The recorded figures came from one session, and sessions of one model differ by more than any interval inside
    one of them shows: the same 512-2048-4 MLP ran at 0.085 ms or at 0.110 ms per call (p50) from one session to
    the next, in one process, on AMD EPYC Zen 4 (the thread pool's placement, drawn when a session starts). A
    regression the model causes shows in both sessions; one drawn by a session start does not repeat but once in
    a few tries (so up to ``confirm`` more sessions are measured while it persists)."""
    best = min((first, again), key=lambda r: r.trials[0].latency.p50)
    return best.with_(attempts=first.attempts + again.attempts, sessions=first.sessions + 1)


def _measure(setup: Setup, plan: TimingPlan) -> tuple[list[Trial], PairedRatios | None]:
    d = setup.deployment
    qps = setup.options.qps

    def job(trial_id: str, art: Artifact) -> Job:
        spec = TrialSpec(d.engine, art, d.runtime, variant="deployed" if art is setup.deployed else "candidate")
        return Job(trial_id, spec, plan, setup.price, qps, concurrent=True)

    if setup.candidate is None:
        return [measure_job(job("deployed", setup.deployed), setup.workload, setup.reference)], None
    jobs = [job("deployed", setup.deployed), job("candidate", setup.candidate)]
    outcomes, pairs = measure_side_by_side(jobs, setup.workload, setup.reference)
    trials: list[Trial] = []
    for j, out in zip(jobs, outcomes, strict=True):
        if isinstance(out, BaseException):
            raise UserError(f"the {j.trial_id} model failed on this machine: {type(out).__name__}: {out}")
        trials.append(out)
    return trials, pairs[0] if pairs else None


def _judge(
    setup: Setup,
    opts: CheckOptions,
    trials: list[Trial],
    paired: PairedRatios | None,
    flag: Disturbance | None,
    attempts: int,
) -> CheckResult:
    deployed = trials[0]
    hw = detect_hardware()
    recorded_hw = _recorded_cpu(setup.run)
    items: list[Item] = []
    if len(trials) > 1 and paired is not None:
        cand = trials[1]
        slower = paired.p50.inverse()  # a's p50 over b's, turned into b's over a's
        p95 = _ratio_item("p95", "paired", "ms", _p95_ratio(deployed, cand), deployed, cand, opts.tolerance)
        items.append(_tail_alone(p95, slower))
        items.append(_item("p50", "paired", "ms", deployed.latency.p50, cand.latency.p50, slower, opts.tolerance))
        cost = _quoted((paired.loaded or paired.single_stream).inverse(), cand.usd_per_1m / deployed.usd_per_1m)
        items.append(_item("usd_per_1m", "paired", "usd", deployed.usd_per_1m, cand.usd_per_1m, cost, opts.tolerance))
        items.append(_quality_item("paired", deployed.quality, cand.quality, setup.options.max_drop))
    rec = setup.deployment
    same_cpu = recorded_hw is None or recorded_hw == hw.cpu_model
    why_not = "" if same_cpu else f"recorded on {recorded_hw}, measured on {hw.cpu_model}: not comparable"
    if opts.data is not None:
        why_not = f"recorded on the run's data, measured on {setup.workload.source}: not comparable"
    elif len(trials) > 1:
        why_not = "measured in blocks interleaved with --model, the run alone: not comparable (the paired rows judge)"
    if rec.latency_ms is not None:
        now, then = deployed.latency.estimate("p95"), rec.latency_ms.estimate("p95")
        item = _item(
            "p95", "recorded", "ms", then.value, now.value, _ratio(now, then), opts.recorded_tolerance, why_not
        )
        median = _ratio(deployed.latency.estimate("p50"), rec.latency_ms.estimate("p50"))
        items.append(_tail_alone(item, median))
    if rec.usd_per_1m is not None:
        cap = deployed.capacity_estimate()
        cost = Estimate(
            value=deployed.usd_per_1m / rec.usd_per_1m,
            low=deployed.usd_per_1m * cap.value / cap.high / rec.usd_per_1m,
            high=deployed.usd_per_1m * cap.value / cap.low / rec.usd_per_1m,
        )
        items.append(
            _item("usd_per_1m", "recorded", "usd", rec.usd_per_1m, deployed.usd_per_1m, cost,
                  opts.recorded_tolerance, why_not)
        )  # fmt: skip
    if opts.data is not None:
        items.append(_source_quality_item(deployed.quality, setup.options.max_drop))
    elif setup.recorded is not None:
        items.append(_quality_item("recorded", setup.recorded.quality, deployed.quality, setup.options.max_drop))
    if flag is not None and not opts.judge_disturbed:
        items = [
            i.with_(outcome="disturbed", note=flag.text) if i.outcome != "skipped" and i.name != "quality" else i
            for i in items
        ]
    outcomes = {i.outcome for i in items}
    verdict: Verdict = "regressed" if "regressed" in outcomes else "disturbed" if "disturbed" in outcomes else "pass"
    return CheckResult(
        model=setup.name,
        run_id=setup.run.id,
        deployed_artifact=setup.deployed.id,
        candidate_artifact=(setup.candidate or setup.deployed).id,
        candidate_source=str(opts.model) if opts.model else "the deployed variant",
        engine=deployed.engine_label,
        batch_size=deployed.batch_size,
        hardware=hw.summary(),
        recorded_hardware=recorded_hw,
        workload=setup.workload.source,
        reference=setup.reference.description,
        items=tuple(items),
        verdict=verdict,
        attempts=attempts,
        trials=tuple(trials),
        paired=paired,
        disturbed=flag,
        judged_disturbed=flag is not None and opts.judge_disturbed,
    )


def _tail_alone(p95: Item, median: Estimate) -> Item:
    """A p95 regresses only when the median (``median``: the same comparison's p50 ratio) moved beyond the same
    limit too.

    A slower model moves the whole distribution, while a tail alone moves with whatever else shares the cores: an
    unchanged MLP's p95 came out 1.6-1.8x its recorded figure in 2 of 20 fresh processes on AMD EPYC Zen 4 with its
    median within 5%, and paired with a copy of itself 1.056x [1.042, 1.072] in 1 of 20. The same rule guards a
    rollout's latency (``serve.rollout``)."""
    if p95.outcome != "regressed":
        return p95
    if median.value > 1 + p95.limit and median.low > 1:
        return p95
    note = f"the tail alone moved: p50 {median.value:.3f}x (within {1 + p95.limit:g}x), not a regression"
    return p95.with_(outcome="pass", note=note)


def _recorded_cpu(run: StoredRun) -> str | None:
    hw: Any = run.payload.get("hardware")
    return str(hw["cpu_model"]) if isinstance(hw, dict) and hw.get("cpu_model") else None


def _quoted(paired: Estimate, value: float) -> Estimate:
    """$/1M: the ratio of the two figures the tables quote (each side's capacity, as cost uses it), with the paired
    interval around it (per-pair ratios of concurrent bursts; widened to hold the value)."""
    return Estimate(value=value, low=min(paired.low, value), high=max(paired.high, value))


def _ratio(now: Estimate, then: Estimate) -> Estimate:
    """``now / then`` with the widest interval the two intervals allow."""
    return Estimate(
        value=now.value / then.value,
        low=now.low / then.high if then.high else now.value / then.value,
        high=now.high / then.low if then.low else now.value / then.value,
    )


def _p95_ratio(deployed: Trial, cand: Trial) -> Estimate:
    return _ratio(cand.latency.estimate("p95"), deployed.latency.estimate("p95"))


def _ratio_item(
    name: str, against: Literal["paired", "recorded"], unit: str, ratio: Estimate, d: Trial, c: Trial, tol: float
) -> Item:
    return _item(name, against, unit, d.latency.value(name), c.latency.value(name), ratio, tol)


def _item(
    name: str,
    against: Literal["paired", "recorded"],
    unit: str,
    deployed: float,
    candidate: float,
    ratio: Estimate,
    tol: float,
    skip: str = "",
) -> Item:
    """Regressed: worse by more than ``tol`` and the interval wholly above 1."""
    rounded = Estimate(value=round(ratio.value, 4), low=round(ratio.low, 4), high=round(ratio.high, 4))
    if skip:
        outcome: Outcome = "skipped"
    elif ratio.value > 1 + tol and ratio.low > 1:
        outcome = "regressed"
    else:
        outcome = "pass"
    return Item(
        name=name, against=against, unit=unit, deployed=round(deployed, 6), candidate=round(candidate, 6),
        ratio=rounded, limit=tol, outcome=outcome, note=skip,
    )  # fmt: skip


def _source_quality_item(now: Quality, max_drop: float) -> Item:
    """On other data than the run's: the deployed variant's fidelity to the source model (1.0 to itself)."""
    h = now.headline()
    if h is None or h.name != "cosine":
        note = "other data with labels: the source model is not measured on it; give --model for a paired check"
        return Item(name="quality", against="source", unit="", limit=max_drop, outcome="skipped", note=note)
    drop = round(h.drop_from(1.0), 6)
    return Item(
        name="quality", against="source", unit=h.label, deployed=1.0, candidate=h.value, drop=drop,
        limit=max_drop, outcome="regressed" if drop > max_drop else "pass",
    )  # fmt: skip


def _quality_item(against: Literal["paired", "recorded"], before: Quality, after: Quality, max_drop: float) -> Item:
    a, b = before.headline(), after.headline()
    if a is None or b is None:
        return Item(name="quality", against=against, unit="", limit=max_drop, outcome="skipped", note="not measured")
    drop = round(b.drop_from(a.value), 6)
    return Item(
        name="quality", against=against, unit=a.label, deployed=a.value, candidate=b.value, drop=drop,
        limit=max_drop, outcome="regressed" if drop > max_drop else "pass",
    )  # fmt: skip
