"""One measured configuration -> one ``Trial``: the typed record bench and optimize produce and store."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, JsonValue, model_validator

from lepton.contract import Contract
from lepton.cost.catalog import PricePoint
from lepton.cost.model import CostEstimate, estimate_cost
from lepton.engines.base import ENGINES, EngineSettings, RuntimeConfig, Session, open_session
from lepton.errors import EngineError
from lepton.ir.artifact import Artifact
from lepton.measure.failures import run_failure
from lepton.measure.generation import GenerationFigures
from lepton.measure.interference import Disturbance
from lepton.measure.memory import PeakRss
from lepton.measure.timing import Concurrent, Estimate, Latency, LatencyStats, TimingPlan, measure_latency
from lepton.measure.workload import Workload
from lepton.quality import Quality, fidelity, task_metrics

Outputs = dict[str, np.ndarray]
_DEFAULT_OPTIONS = {("precision", "f32"), ("hint", "latency")}
# One JSON field for a measurement and its verdict: measurement writes ok or failed, only the navigator rejects.
Status = Literal["ok", "rejected", "failed"]


class ChainStep(Contract):
    """One pass of a variant's chain, with the params it ran with."""

    pass_: str = Field(alias="pass")
    params: dict[str, JsonValue] = Field(default_factory=dict)  # checked against the pass's Params

    @model_validator(mode="after")
    def _registered(self) -> ChainStep:
        from lepton.passes import check_step

        check_step(self.pass_, self.params)  # a pass that does not exist, or a param it does not take
        return self


class Trial(Contract):
    """One candidate (variant x engine x runtime settings) measured on this machine, or on a node of a cluster
    (``hardware_kind``: the kind of hardware, priced as such; ``node``: the node that measured it).

    A failed trial has ``error`` and no figures. Measurement writes ``status`` ok or failed; the navigator's
    verdict (rejected, its reasons, the quality drop, which rung measured it) lives on its own record,
    ``navigate.judged.JudgedTrial``, which extends this one field for field, so the JSON of both is one shape.
    """

    id: str
    status: Status = "ok"
    role: Literal["baseline"] | None = None
    engine: str
    variant: str = "base"
    artifact_id: str
    batch_size: int
    threads: int | None = None
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    engine_settings: EngineSettings = Field(default_factory=dict)  # what the engine reports it really used
    latency_ms: Latency | None = None
    throughput_per_s: float | None = None
    peak_rss_mb: float | None = None
    rss_delta_mb: float | None = None
    model_mb: float | None = None
    quality: Quality = Field(default_factory=Quality)
    cost: CostEstimate | None = None
    concurrent: Concurrent | None = None
    capacity_per_s: float | None = None  # the best of single-stream and concurrent throughput: what cost uses
    chain: tuple[ChainStep, ...] = ()
    parent_variant: str | None = None
    error: str | None = None
    hardware_kind: str | None = None  # None: the machine the run ran on
    node: str | None = None  # the cluster node that measured it (a Ray node id)
    disturbed: Disturbance | None = None  # other processes took CPU while it was timed: its figures are not facts
    generation: GenerationFigures | None = None  # a causal LM: TTFT, time per token, tokens/s, $/1M tokens

    # -- typed access to the figures of a measured trial ------------------------------------------------
    @property
    def measured(self) -> bool:
        return self.status != "failed" and self.latency_ms is not None and self.cost is not None

    @property
    def latency(self) -> Latency:
        if self.latency_ms is None:
            raise ValueError(f"trial {self.id} has no latency ({self.status}: {self.error or 'not measured'})")
        return self.latency_ms

    @property
    def priced(self) -> CostEstimate:
        if self.cost is None:
            raise ValueError(f"trial {self.id} has no cost ({self.status}: {self.error or 'not measured'})")
        return self.cost

    @property
    def usd_per_1m(self) -> float:
        return self.priced.usd_per_1m

    @property
    def throughput(self) -> float:
        """Single-stream items per second."""
        if self.throughput_per_s is None:
            raise ValueError(f"trial {self.id} has no throughput ({self.status})")
        return self.throughput_per_s

    @property
    def capacity(self) -> float:
        """Items per second one replica serves: loaded throughput when measured, else single-stream."""
        return self.capacity_per_s if self.capacity_per_s is not None else self.throughput

    def throughput_estimate(self) -> Estimate:
        """Single-stream throughput with its interval (batch size over the mean latency's interval)."""
        return self.latency.estimate("mean").inverse(self.batch_size * 1000.0)

    def capacity_estimate(self) -> Estimate:
        """Capacity with its interval, from whichever measurement gave it."""
        if self.concurrent is not None and self.capacity_per_s is not None and self.capacity_per_s > self.throughput:
            return self.concurrent.throughput()
        return self.throughput_estimate()

    @property
    def is_baseline(self) -> bool:
        return self.role == "baseline"

    @property
    def last_pass(self) -> str | None:
        return self.chain[-1].pass_ if self.chain else None

    def config_key(self) -> tuple[str, str, int | None, str, str | None]:
        """A configuration is a variant under an engine, a thread setting and the engine's options (OpenVINO's
        precision) on a kind of hardware; its trials differ by batch size."""
        return (self.artifact_id, self.engine, self.threads, self.options_text, self.hardware_kind)

    @property
    def options_text(self) -> str:
        """The engine options a person needs to tell settings apart (``bf16``); empty for the defaults."""
        shown = {k: v for k, v in self.runtime.options.items() if (k, v) not in _DEFAULT_OPTIONS}
        return " ".join(v if k == "precision" else f"{k}={v}" for k, v in sorted(shown.items()))

    @property
    def engine_label(self) -> str:
        """The engine and its non-default options: ``openvino bf16``."""
        return f"{self.engine} {self.options_text}".strip()


@dataclass
class Reference:
    """What quality is judged against: labels, or a reference model's outputs on the same rows."""

    labels: np.ndarray | None = None
    outputs: Outputs | None = None
    description: str = ""
    engine: str | None = None  # the engine whose outputs these are

    def head(self, rows: int) -> Reference:
        """The reference for the first ``rows`` rows (``Workload.head``)."""
        labels = self.labels[:rows] if self.labels is not None else None
        outputs = {k: v[:rows] for k, v in self.outputs.items()} if self.outputs is not None else None
        return Reference(labels, outputs, self.description, self.engine)


def compared_output(outputs: Mapping[str, np.ndarray]) -> str:
    """The output fidelity is computed on: the first floating-point one (scores, embeddings)."""
    for name, v in outputs.items():
        if np.issubdtype(v.dtype, np.floating):
            return name
    return next(iter(outputs))


def run_all(session: Session, workload: Workload, batch_size: int = 32) -> Outputs:
    """Every workload row through ``session``; outputs concatenated along the row axis.

    A failing run raises EngineError with the failing node and the engine's reason in one line.
    """
    parts: dict[str, list[np.ndarray]] = {}
    step = min(batch_size, workload.max_batch or batch_size)
    for i, chunk in enumerate(workload.chunks(step)):
        try:
            outputs = session.run(chunk)
        except EngineError:
            raise
        except Exception as e:  # noqa: BLE001  each engine raises its own types
            first = i * step
            raise EngineError(
                f"{session.engine} failed on rows {first}..{min(first + step, workload.n_rows) - 1} at {run_failure(e)}"
            ) from e
        for k, v in outputs.items():
            parts.setdefault(k, []).append(np.asarray(v))
    return {k: np.concatenate(v) if v[0].ndim else np.asarray(v) for k, v in parts.items()}


def quality_of(task: str, outputs: Outputs, reference: Reference) -> Quality:
    if reference.labels is not None:
        return Quality(kind="task", **task_metrics(task, reference.labels, outputs))
    if reference.outputs is not None:
        name = compared_output(reference.outputs)
        if name in outputs:
            return Quality(
                kind="fidelity",
                output=name,
                against=reference.description,
                **fidelity(reference.outputs[name], outputs[name]),
            )
    return Quality()


def reference_engine(artifact: Artifact, engines: Sequence[str] = ()) -> str:
    """The engine whose outputs are the truth for fidelity: PyTorch when the source module exists, else ORT."""
    if "torch" in engines or ENGINES.get("torch")().unavailable(artifact) is None:
        return "torch"
    return "onnxruntime"


def reference_for(artifact: Artifact, workload: Workload, engines: Sequence[str] = ()) -> Reference:
    """Labels when the data has them; else the source model's outputs (PyTorch when it exists, else ORT fp32)."""
    if workload.labels is not None:
        return Reference(labels=workload.labels, description="labels")
    engine = reference_engine(artifact, engines)
    session = open_session(engine, artifact, RuntimeConfig())
    try:
        outputs = run_all(session, workload)
    except EngineError as e:  # the source model itself refuses these inputs: the user's to fix
        from lepton.measure.failures import inputs_rejected

        raise inputs_rejected(e, workload, artifact.signature.input_names) from None
    finally:
        session.close()
    return Reference(outputs=outputs, description=f"{engine} fp32", engine=engine)


@dataclass
class TrialSpec:
    engine: str
    artifact: Artifact
    runtime: RuntimeConfig
    variant: str = "base"
    chain: tuple[ChainStep, ...] = ()
    parent_variant: str | None = None
    role: Literal["baseline"] | None = None


def _rounded(cost: CostEstimate) -> CostEstimate:
    """Six significant digits: figures a person reads, identical in every report."""
    from dataclasses import replace

    def six(v: float | None) -> float | None:
        return None if v is None else float(f"{v:.6g}")

    return replace(
        cost,
        usd_per_hour=float(f"{cost.usd_per_hour:.6g}"),
        usd_per_1m=float(f"{cost.usd_per_1m:.6g}"),
        qps=six(cost.qps),
        usd_per_month=six(cost.usd_per_month),
        max_utilization=float(f"{cost.max_utilization:.6g}"),
    )


def priced_at(throughput: float, point: PricePoint, qps: float | None) -> CostEstimate:
    """The cost of serving at ``throughput`` items/s on ``point``'s machine (and replicas at ``qps``).

    ``qps`` is rounded as every report shows it before the replicas are counted, so they follow from the printed
    figures: a load of exactly 12 streams at 0.8 utilization is 15 replicas, and unrounded it came out 15 while
    the figures shown gave 16."""
    shown = None if qps is None else float(f"{qps:.6g}")
    return _rounded(estimate_cost(throughput, point, qps=shown))


def measure_trial(
    trial_id: str,
    spec: TrialSpec,
    workload: Workload,
    reference: Reference,
    price_point: PricePoint,
    *,
    plan: TimingPlan | None = None,
    qps: float | None = None,
    with_quality: bool = True,
    quality: Quality | None = None,
    stop_early: Callable[[list[float]], bool] | None = None,
    percentiles: Sequence[str] = (),
    session: Session | None = None,
) -> Trial:
    """Open the session, measure latency at ``spec.runtime.batch_size``, quality, memory and cost.

    ``quality`` already measured for this artifact (it does not depend on the runtime) skips re-running it;
    ``percentiles`` names latency percentiles to record beyond p50/p95/p99 (an SLO's ``p99.9``); ``session``
    already open with the same engine, threads and options (the batch size is only the inputs' shape) is used
    and left open, so the caller can measure several batch sizes on one session.
    """
    b = spec.runtime.batch_size
    own = session is None
    with PeakRss() as mem:
        if session is None:
            session = open_session(spec.engine, spec.artifact, spec.runtime)
        try:
            if quality is None and with_quality:
                quality = quality_of(spec.artifact.task, run_all(session, workload, max(b, 8)), reference)
            batches = workload.batches(b, max(1, min(8, workload.n_rows // b or 1)))
            stats = measure_latency(session.run, batches, plan, stop_early=stop_early)
            # what the engine really used, where it reports it (OpenVINO: precision, streams, int8 layers)
            engine_settings = dict(getattr(session, "settings", None) or {})
        finally:
            if own:
                session.close()
    return measured_trial(
        trial_id, spec, stats, quality or Quality(), engine_settings, mem, price_point, qps, percentiles
    )


def measured_trial(
    trial_id: str,
    spec: TrialSpec,
    stats: LatencyStats,
    quality: Quality,
    engine_settings: Mapping[str, Any],
    mem: PeakRss,
    price_point: PricePoint,
    qps: float | None,
    percentiles: Sequence[str] = (),
) -> Trial:
    """The record of one timed configuration (``measure_trial``'s, and each side of a paired comparison's)."""
    throughput = stats.throughput_per_s
    return Trial(
        id=trial_id,
        role=spec.role,
        engine=spec.engine,
        variant=spec.variant,
        artifact_id=spec.artifact.id,
        batch_size=spec.runtime.batch_size,
        threads=ENGINES.get(spec.engine)().threads_used(spec.runtime),
        runtime=spec.runtime,
        engine_settings=dict(engine_settings),
        latency_ms=stats.summary(percentiles),
        throughput_per_s=round(throughput, 3),
        peak_rss_mb=round(mem.peak_mb, 1),
        rss_delta_mb=round(mem.delta_mb, 1),
        model_mb=round(spec.artifact.size_mb, 3),
        quality=quality,
        cost=priced_at(throughput, price_point, qps),
        chain=spec.chain,
        parent_variant=spec.parent_variant,
        disturbed=stats.disturbance,
    )


def failed_trial(trial_id: str, spec: TrialSpec, error: BaseException) -> Trial:
    return Trial(
        id=trial_id,
        status="failed",
        role=spec.role,
        engine=spec.engine,
        variant=spec.variant,
        artifact_id=spec.artifact.id,
        batch_size=spec.runtime.batch_size,
        runtime=spec.runtime,
        chain=spec.chain,
        parent_variant=spec.parent_variant,
        error=f"{type(error).__name__}: {error}",
    )
