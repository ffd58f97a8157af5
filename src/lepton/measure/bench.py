"""``bench``: one model measured under one or more engines and batch sizes, with its typed result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from lepton.constraints import SECONDS, Constraint, Interval, check_constraints
from lepton.contract import Contract, JsonForm
from lepton.cost.catalog import PriceCatalog, PricePoint
from lepton.engines.base import ENGINES, RuntimeConfig, runnable_engines
from lepton.errors import EngineUnavailable, UserError
from lepton.hardware import Hardware, detect_hardware
from lepton.ir.artifact import Artifact, ArtifactSummary
from lepton.measure.failures import check_runs
from lepton.measure.timing import TimingPlan
from lepton.measure.trial import Trial, TrialSpec, failed_trial, measure_trial, reference_for
from lepton.measure.workload import make_workload
from lepton.options import QPS, check_known, int_list, option_names, optional_path, shape_pins
from lepton.progress import Progress
from lepton.quality import Quality
from lepton.store.store import Store

HardwareField = Annotated[Hardware, JsonForm(Hardware)]


BENCH_CONSTRAINTS: dict[str, Constraint] = {
    "threads": Interval(0, None, integer=True, note="0: the engine's default"),
    "seconds": SECONDS,
    "price_per_hour": Interval(0, None, closed="neither", note="USD per hour"),
    "qps": QPS,
}


@dataclass(frozen=True)
class BenchOptions:
    """The options of ``lepton bench``; field names are the CLI's option names."""

    example: str | None = None
    engine: tuple[str, ...] | None = None
    batch: tuple[int, ...] | None = None  # None: 1, or the batch size a model with a fixed batch dim takes
    threads: int = 0
    data: Path | None = None
    shape: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    instance: str | None = None
    price_per_hour: float | None = None
    qps: float | None = None
    seconds: float = 2.0
    json: Path | None = None

    @classmethod
    def build(cls, **values: Any) -> BenchOptions:
        check_known(values, option_names(cls), "bench")
        v = dict(values)
        if isinstance(v.get("engine"), str):
            v["engine"] = tuple(e.strip() for e in v["engine"].split(",") if e.strip()) or None
        elif v.get("engine") is not None:
            v["engine"] = tuple(v["engine"])
        if "batch" in v:
            v["batch"] = int_list(v["batch"], "--batch")
        for key in ("data", "json"):
            if key in v:
                v[key] = optional_path(v[key])
        if "shape" in v:
            v["shape"] = shape_pins(v["shape"])
        opts = cls(**v)
        check_constraints(opts, BENCH_CONSTRAINTS)
        return opts

    def plan(self) -> TimingPlan:
        return TimingPlan(min_seconds=self.seconds, max_seconds=max(10 * self.seconds, 20.0))


class BenchResult(Contract):
    """What ``lepton bench`` prints and ``--json`` writes."""

    model: ArtifactSummary
    hardware: HardwareField
    price: PricePoint
    workload: str
    run_id: str | None = None
    trials: tuple[Trial, ...] = ()


def bench(
    artifact: Artifact,
    options: BenchOptions,
    *,
    store: Store,
    plan: TimingPlan | None = None,
    progress: Progress | None = None,
) -> BenchResult:
    """Measure ``artifact`` under each engine and batch size on this machine; every trial is stored."""
    hw = detect_hardware()
    price = PriceCatalog.load().price(hw, instance=options.instance, price_per_hour=options.price_per_hour)
    engines = list(options.engine) if options.engine else runnable_engines(artifact)
    for name in engines:
        why = ENGINES.get(name)().unavailable(artifact)
        if why:
            raise EngineUnavailable(f"engine {name!r} cannot run this model: {why}")
    fixed = artifact.signature.fixed_batch()
    batches = options.batch or ((fixed,) if fixed else (1,))
    if fixed is not None and set(batches) != {fixed}:
        raise UserError(
            f"--batch {','.join(map(str, batches))}: this model takes batches of exactly {fixed} rows (its "
            f"inputs' first dim is fixed); leave --batch out or give --batch {fixed}"
        )
    workload = make_workload(artifact, options.data)
    check_runs(artifact, workload, batch_size=batches[0])  # inputs the model refuses: one line, before any run
    reference = reference_for(artifact, workload, engines)
    run_id = store.start_run("bench", artifact.name, artifact.id)
    trials: list[Trial] = []
    total = len(engines) * len(batches)
    status = "failed"
    try:
        for engine in engines:
            quality: Quality | None = None  # outputs do not depend on the batch size: evaluate each engine once
            for b in batches:
                tid = f"t{len(trials) + 1}"
                if progress:
                    progress(f"{engine} batch {b}", len(trials), total)
                spec = TrialSpec(engine, artifact, RuntimeConfig(intra_op_threads=options.threads, batch_size=b))
                try:
                    trial = measure_trial(
                        tid,
                        spec,
                        workload,
                        reference,
                        price,
                        plan=plan or options.plan(),
                        qps=options.qps,
                        quality=quality,
                    )
                    quality = trial.quality
                except EngineUnavailable:
                    raise
                except Exception as e:  # noqa: BLE001  one failing configuration is recorded, not fatal
                    trial = failed_trial(tid, spec, e)
                trials.append(trial)
                store.add_trial(run_id, trial)
        if progress:
            progress("done", total, total)
        status = "done"
    finally:
        store.finish_run(run_id, status, {"trials": len(trials)})
    return BenchResult(
        model=artifact.summary(),
        hardware=hw,
        price=price,
        workload=workload.source,
        run_id=run_id,
        trials=tuple(trials),
    )
