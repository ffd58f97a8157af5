"""The rollout's typed records: its plan, each variant's live figures, the test's evidence, and each stored event.

Serve owns these types; the store keeps their JSON (``store.rollouts``), as it keeps the navigator's Deployment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lepton.contract import Contract

Action = Literal["start", "resume", "step", "promote", "rollback"]
Phase = Literal["evaluating", "ramping", "promoted", "rolled_back"]
FINAL: tuple[Phase, ...] = ("promoted", "rolled_back")


class RolloutPlan(Contract):
    """What ``lepton serve --candidate`` was told: where traffic goes, and the test that decides."""

    candidate: str  # the ref, as given (NAME:recommended, a path ...)
    shadow_rate: float = Field(0.0, ge=0, le=1)  # share of requests the candidate also answers off the answer path
    canary: float = Field(0.0, ge=0, lt=1)  # share of live requests the candidate answers while it is tested
    steps: tuple[float, ...] = (0.05, 0.25, 0.5, 1.0)  # the shares it ramps through once promoted (above canary)
    step_requests: int = Field(50, ge=1)  # candidate answers without an error or a latency breach before the next step
    # a request agrees when its fidelity drop is within this: lepton optimize's --max-drop (None: the candidate's
    # optimize run's, else 0.01; ``ModelRegistry.start_rollout`` fills it in)
    max_drop: float | None = Field(None, ge=0, lt=1)
    q0: float = 0.01  # disagreement rate of a good candidate
    q1: float = 0.10  # disagreement rate of a bad candidate
    alpha: float = 0.05  # chance of rolling back a good candidate
    beta: float = 0.05  # chance of promoting a bad candidate
    min_samples: int = Field(50, ge=1)  # comparisons before any decision
    min_latency: int = Field(50, ge=1)  # candidate answers before the latency guard applies
    latency_bound_ms: float | None = Field(None, gt=0)  # absolute p95 bound for the candidate (None: relative)
    latency_ratio: float = Field(1.5, gt=1)  # relative bound: candidate p95 <= ratio x incumbent p95


class VariantFigures(Contract):
    """One variant's live figures over the rollout (latencies over its last ``window`` answers, ms)."""

    name: str
    artifact_id: str
    requests: int = 0  # answers given to clients
    shadowed: int = 0  # answers computed off the answer path (never returned)
    errors: int = 0
    timeouts: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    service_p50: float | None = None  # median of its session's batch run times, ms (queueing left out)
    shadow_cpu_p50: float | None = None  # median CPU time of its off-path runs on one low-priority thread, ms
    usd_per_1m: float | None = None  # at the rows per busy second of its own session (cost.model.usd_per_1m)


class Evidence(Contract):
    """What the sequential test has seen: comparisons on the same requests, and the log-likelihood ratio."""

    compared: int = 0
    disagreements: int = 0
    agreement: float | None = None  # share of compared requests within --max-drop
    mean_cosine: float | None = None
    min_cosine: float | None = None
    llr: float = 0.0
    dropped: int = 0  # shadow copies dropped because the off-path queue was full (no evidence either way)
    upper: float = 0.0  # roll back at or above
    lower: float = 0.0  # promote at or below
    incumbent: VariantFigures | None = None
    candidate: VariantFigures | None = None


class RolloutEvent(Contract):
    """One stored step or decision, with the evidence it was taken on."""

    rollout_id: str
    seq: int
    t: float  # Unix time
    model: str
    action: Action
    phase: Phase
    share: float  # of live requests the candidate answers after this event
    reason: str
    by: Literal["test", "guard", "admin", "ramp", "server"] = "test"
    incumbent_artifact: str
    candidate_artifact: str
    plan: RolloutPlan
    evidence: Evidence


class RolloutStatus(Contract):
    """The rollout now, as ``/dashboard/data`` and ``/admin/rollout/{name}`` show it."""

    rollout_id: str
    model: str
    phase: Phase
    share: float
    shadow_rate: float
    plan: RolloutPlan
    evidence: Evidence
    events: list[RolloutEvent]
