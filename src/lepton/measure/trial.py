"""One measured configuration -> one Trial record (a JSON-able dict, the unit of bench/optimize output)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lepton.cost.catalog import PricePoint
from lepton.cost.model import estimate_cost
from lepton.engines.base import ENGINES, RuntimeConfig, Session, open_session
from lepton.ir.artifact import Artifact
from lepton.measure.memory import PeakRss
from lepton.measure.quality import fidelity, task_metrics
from lepton.measure.timing import LatencyStats, TimingPlan, measure_latency
from lepton.measure.workload import Workload

Outputs = dict[str, np.ndarray]


@dataclass
class Reference:
    """What quality is judged against: labels, or a reference model's outputs on the same rows."""

    labels: np.ndarray | None = None
    outputs: Outputs | None = None
    description: str = ""


def compared_output(outputs: Mapping[str, np.ndarray]) -> str:
    """The output fidelity is computed on: the first floating-point one (scores, embeddings)."""
    for name, v in outputs.items():
        if np.issubdtype(v.dtype, np.floating):
            return name
    return next(iter(outputs))


def run_all(session: Session, workload: Workload, batch_size: int = 32) -> Outputs:
    """Every workload row through ``session``; outputs concatenated along the row axis."""
    parts: dict[str, list[np.ndarray]] = {}
    for chunk in workload.chunks(batch_size):
        for k, v in session.run(chunk).items():
            parts.setdefault(k, []).append(np.asarray(v))
    return {k: np.concatenate(v) if v[0].ndim else np.asarray(v) for k, v in parts.items()}


def quality_of(task: str, outputs: Outputs, reference: Reference) -> dict[str, Any]:
    if reference.labels is not None:
        return {"kind": "task", **task_metrics(task, reference.labels, outputs)}
    if reference.outputs is not None:
        name = compared_output(reference.outputs)
        if name in outputs:
            return {
                "kind": "fidelity",
                "output": name,
                "against": reference.description,
                **fidelity(reference.outputs[name], outputs[name]),
            }
    return {}


@dataclass
class TrialSpec:
    engine: str
    artifact: Artifact
    runtime: RuntimeConfig
    variant: str = "base"
    extra: dict[str, Any] = field(default_factory=dict)


def measure_trial(
    trial_id: str,
    spec: TrialSpec,
    workload: Workload,
    reference: Reference,
    price: PricePoint,
    *,
    plan: TimingPlan | None = None,
    qps: float | None = None,
    with_quality: bool = True,
    quality: dict[str, Any] | None = None,
    stop_early: Callable[[list[float]], bool] | None = None,
) -> dict[str, Any]:
    """Open the session, measure latency at ``spec.runtime.batch_size``, quality, memory and cost.

    ``quality`` already measured for this artifact (it does not depend on the runtime) skips re-running it.
    """
    b = spec.runtime.batch_size
    with PeakRss() as mem:
        session = open_session(spec.engine, spec.artifact, spec.runtime)
        try:
            if quality is None and with_quality:
                quality = quality_of(spec.artifact.task, run_all(session, workload, max(b, 8)), reference)
            batches = workload.batches(b, max(1, min(8, workload.n_rows // b or 1)))
            stats: LatencyStats = measure_latency(session.run, batches, plan, stop_early=stop_early)
            # what the engine really used, where it reports it (OpenVINO: precision, streams, int8 layers)
            engine_settings = dict(getattr(session, "settings", None) or {})
        finally:
            session.close()
    throughput = stats.throughput_per_s
    cost = estimate_cost(throughput, price, qps=qps)
    engine = ENGINES.get(spec.engine)()
    return {
        "id": trial_id,
        "status": "ok",
        "engine": spec.engine,
        "variant": spec.variant,
        "artifact_id": spec.artifact.id,
        "batch_size": b,
        "threads": engine.threads_used(spec.runtime),
        "runtime": spec.runtime.to_json(),
        **({"engine_settings": engine_settings} if engine_settings else {}),
        "latency_ms": stats.to_json(),
        "throughput_per_s": round(throughput, 3),
        "peak_rss_mb": round(mem.peak_mb, 1),
        "rss_delta_mb": round(mem.delta_mb, 1),
        "model_mb": round(spec.artifact.size_mb, 3),
        "quality": quality or {},
        "cost": {k: (float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in cost.to_json().items()},
        **spec.extra,
    }


def failed_trial(trial_id: str, spec: TrialSpec, error: BaseException) -> dict[str, Any]:
    return {
        "id": trial_id,
        "status": "failed",
        "engine": spec.engine,
        "variant": spec.variant,
        "artifact_id": spec.artifact.id,
        "batch_size": spec.runtime.batch_size,
        "runtime": spec.runtime.to_json(),
        "error": f"{type(error).__name__}: {error}",
        **spec.extra,
    }
