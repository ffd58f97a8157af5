"""What the store says about runs: ``RunSummary`` (one row of ``lepton runs``) and ``StoredRun`` (a run with what its
stage wrote). The stage that ran owns the types of its payload, its trials and the deployment it recommends
(``navigate.deployment.Deployment``): the store keeps their JSON and gives it back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from lepton.contract import Contract

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


class RunSummary(Contract):
    """One run as ``lepton runs`` lists it."""

    id: str
    kind: str
    model: str | None = None
    artifact_id: str | None = None
    status: str
    created: float
    finished: float | None = None


@dataclass(frozen=True)
class StoredRun:
    """A run with the payload its stage wrote (``OptimizeResult`` without trials, ...), its trials' JSON, and the
    JSON of what it recommends to serve (``deployment``; runs of older versions: ``recommended_artifact`` ...)."""

    summary: RunSummary
    payload: dict[str, Any] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)
    deployment: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.summary.id
