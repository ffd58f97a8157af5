"""What the store says about runs: ``RunSummary`` (one row of ``lepton runs``) and the ``Deployment`` an optimize
run chose, which ``lepton serve NAME:recommended`` reads. The stage that ran owns the rest of the payload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import Field

from lepton.contract import Contract
from lepton.engines.base import RuntimeConfig
from lepton.measure.prediction import Prediction
from lepton.measure.timing import Latency

RunStatus = Literal["running", "done", "no-fit", "failed", "interrupted"]


class Record(Protocol):
    """A trial as the store keeps it: an id, an artifact, a status, and its JSON form."""

    @property
    def id(self) -> str: ...

    @property
    def artifact_id(self) -> str: ...

    @property
    def status(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


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
        """The deployment a stored summary names (``deployment``; older runs: ``recommended_artifact`` ...)."""
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


class RunSummary(Contract):
    """One run as ``lepton runs`` lists it."""

    id: str
    kind: str
    model: str | None = None
    artifact_id: str | None = None
    status: str
    created: float
    finished: float | None = None
    deployment: Deployment | None = None


@dataclass(frozen=True)
class StoredRun:
    """A run with the payload its stage wrote (``OptimizeResult`` without trials, ...) and its trials' JSON."""

    summary: RunSummary
    payload: dict[str, Any] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.summary.id
