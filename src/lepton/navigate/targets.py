"""Targets and constraints: ``--slo "p95<=20ms"``, ``--max-drop``, ``--qps``, ``--budget``, ``--objective``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lepton.errors import UserError
from lepton.options import positive_qps
from lepton.slo import Slo

if TYPE_CHECKING:
    from lepton.navigate.judged import JudgedTrial

OBJECTIVES = ("cost", "latency", "throughput")


@dataclass(frozen=True)
class Targets:
    slo: Slo | None = None
    max_drop: float = 0.01
    qps: float | None = None
    budget: float | None = None  # USD per month at ``qps``
    objective: str = "cost"

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise UserError(f"--objective must be one of {', '.join(OBJECTIVES)}; got {self.objective!r}")
        if not 0 <= self.max_drop < 1:
            raise UserError(f"--max-drop is a fraction in [0, 1), e.g. 0.01 for 1%; got {self.max_drop}")
        positive_qps(self.qps)
        if self.budget is not None:
            if self.budget <= 0:
                raise UserError(f"--budget must be positive (USD per month); got {self.budget}")
            if self.qps is None:
                raise UserError("--budget is a monthly cost at a load: give --qps too")

    def describe(self) -> str:
        parts = []
        if self.slo:
            parts.append(self.slo.text)
        parts.append(f"quality drop <= {self.max_drop:g}")
        if self.qps:
            parts.append(f"{self.qps:g} req/s")
        if self.budget:
            parts.append(f"<= ${self.budget:g}/month")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "slo": self.slo.to_json() if self.slo else None,
            "max_drop": self.max_drop,
            "qps": self.qps,
            "budget": self.budget,
            "objective": self.objective,
            "text": self.describe(),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Targets:
        slo = d.get("slo")
        return cls(
            Slo.from_json(slo) if slo else None,
            float(d.get("max_drop", 0.01)),
            d.get("qps"),
            d.get("budget"),
            str(d.get("objective", "cost")),
        )

    @property
    def slo_metric(self) -> str:
        """The latency statistic targets are judged on: the SLO's, else p95."""
        return self.slo.metric if self.slo else "p95"


def violations(trial: JudgedTrial, targets: Targets, slo_batch: int) -> list[str]:
    """Why a measured trial breaks the targets (empty when it meets them all)."""
    out = []
    if targets.slo and trial.batch_size == slo_batch:
        v = trial.latency.value(targets.slo.metric)
        if v > targets.slo.max_ms:
            out.append(f"{targets.slo.metric} {v:.1f} ms > {targets.slo.max_ms:g} ms at batch {slo_batch}")
    drop = trial.quality_drop
    if drop is not None and drop > targets.max_drop + 1e-12:
        out.append(f"quality drop {drop:.4f} > {targets.max_drop:g}")
    mixed = trial.quality.batch_dependence
    moved = mixed.within(trial.batch_size) if mixed is not None else None
    if mixed is not None and moved is not None and moved > targets.max_drop + 1e-12:
        out.append(
            f"outputs depend on batch-mates: a row's {mixed.metric} drops {moved:.4f} in a mixed "
            f"batch of up to {trial.batch_size} against the row alone (> {targets.max_drop:g})"
        )
    month = trial.cost.usd_per_month if trial.cost else None
    if targets.budget is not None and month is not None and month > targets.budget:
        out.append(f"${month:.0f}/month > budget ${targets.budget:g} at {targets.qps:g} req/s")
    return out
