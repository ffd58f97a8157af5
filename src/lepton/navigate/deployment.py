"""``Deployment``: what an optimize run recommends to serve, stored with the run and read back by
``lepton serve NAME:recommended`` (the store keeps its JSON; navigate owns its type)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from lepton.contract import Contract
from lepton.engines.base import RuntimeConfig
from lepton.measure.prediction import Prediction
from lepton.measure.timing import Latency
from lepton.store.store import Store


class Deployment(Contract):
    """What a run recommends to serve: the variant, the engine and runtime it was measured with, and the
    figures the navigator measured (the server compares them with what it sees); on a cluster, the kind of
    machine it was measured on, and the replicas it needs at the run's target QPS."""

    artifact_id: str
    engine: str = "onnxruntime"
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    throughput_per_s: float | None = None  # per replica (the navigator's capacity)
    latency_ms: Latency | None = None
    usd_per_1m: float | None = None
    hardware_kind: str | None = None
    qps: float | None = None  # the target load the run priced
    replicas: int | None = None  # replicas at that load

    def prediction(self) -> Prediction | None:
        """The predicted figures as the server's metrics publish them (None: the run measured none)."""
        p = Prediction(throughput_per_s=self.throughput_per_s, latency_ms=self.latency_ms, usd_per_1m=self.usd_per_1m)
        return p if p.to_json() else None

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> Deployment | None:
        """The deployment a stored run names (``StoredRun.deployment``: ``deployment``; runs of older versions:
        ``recommended_artifact`` ...)."""
        if summary.get("deployment"):
            return cls.from_json(summary["deployment"])
        if not summary.get("recommended_artifact"):
            return None
        prediction = summary.get("prediction") or {}
        return cls(
            artifact_id=summary["recommended_artifact"],
            engine=summary.get("recommended_engine", "onnxruntime"),
            runtime=RuntimeConfig.from_json(summary.get("recommended_runtime") or {}),
            throughput_per_s=prediction.get("throughput_per_s"),
            latency_ms=Latency.from_json(prediction["latency_ms"]) if prediction.get("latency_ms") else None,
            usd_per_1m=prediction.get("usd_per_1m"),
        )


def recommended(store: Store, model: str) -> tuple[str, Deployment] | None:
    """The latest finished optimize run of ``model`` and what it recommends to serve (None: no such run)."""
    run = store.latest_run(model)
    deployment = Deployment.from_summary(run.deployment) if run else None
    return (run.id, deployment) if run and deployment else None
