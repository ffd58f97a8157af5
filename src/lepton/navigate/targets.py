"""Targets and constraints: ``--slo "p95<=20ms"``, ``--max-drop``, ``--qps``, ``--budget``, ``--objective``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from lepton.errors import UserError
from lepton.measure.timing import metric_key, metric_percentile, plain_number
from lepton.options import positive_qps

if TYPE_CHECKING:
    from lepton.measure.trial import Trial

OBJECTIVES = ("cost", "latency", "throughput")
_SLO = re.compile(  # ASCII digits, bounded lengths: every match converts to a finite number
    r"^\s*(?P<metric>p(?P<q>\d{1,3}(?:\.\d{1,6})?)|mean)\s*<=?\s*(?P<value>\d{1,16}(?:\.\d{1,9})?|\.\d{1,9})\s*"
    r"(?P<unit>ms|s)?\s*(?:@\s*(?:batch\s*=?\s*)?(?P<batch>\d{1,9}))?\s*$",
    re.IGNORECASE | re.ASCII,
)
_MAX_MS = 1e12  # about 31 years: any larger bound is a typo
_EXAMPLE = "Example: --slo 'p95<=20ms' (or 'p99.9<=0.1s', 'mean<=5ms', 'p95<=20ms@8' at batch size 8)"


@dataclass(frozen=True)
class Slo:
    """A latency target: ``metric`` (``p95``, ``p99.9``, ``mean``) at or under ``max_ms``, at ``batch_size``.

    The one SLO grammar: ``lepton optimize`` judges measured trials on it, ``lepton serve`` batches towards it.
    """

    metric: str  # "mean", or "p" + the percentile written short: p50, p95, p99.9
    max_ms: float
    batch_size: int | None = None  # None: the smallest batch size measured (optimize); no cap (serve)

    @property
    def percentile(self) -> float | None:
        """95.0 for p95, 99.9 for p99.9; None for the mean."""
        return metric_percentile(self.metric)

    @property
    def quantile(self) -> float | None:
        """The percentile as a fraction (0.95); None for the mean."""
        q = self.percentile
        return None if q is None else q / 100.0

    @property
    def seconds(self) -> float:
        return self.max_ms / 1000.0

    @property
    def text(self) -> str:
        at = f"@{self.batch_size}" if self.batch_size else ""
        return f"{self.metric}<={plain_number(self.max_ms, 9)}ms{at}"  # reads back the same (no exponent)

    def __str__(self) -> str:
        return self.text

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Slo:
        return cls(str(d["metric"]), float(d["max_ms"]), d.get("batch_size"))


def parse_slo(text: str) -> Slo:
    """``p95<=20ms``, ``p99.9<=0.1s``, ``mean<=5ms``, ``p95<=20ms@8`` (at batch size 8); the unit defaults to ms."""
    m = _SLO.match(text) if isinstance(text, str) else None
    if not m:
        raise UserError(
            f"--slo: cannot read {text!r}; write METRIC<=TIME[@BATCH] (METRIC: pNN for any percentile, or mean; "
            f"TIME in ms or s). {_EXAMPLE}"
        )
    metric = "mean"
    if m["q"] is not None:
        q = float(m["q"])
        if not 0 < q < 100:
            raise UserError(f"--slo: the percentile must be between 0 and 100 (exclusive); got p{m['q']}. {_EXAMPLE}")
        metric = metric_key(q)
    value = round(float(m["value"]) * (1000.0 if (m["unit"] or "ms").lower() == "s" else 1.0), 9)
    if not 0 < value <= _MAX_MS:
        raise UserError(
            f"--slo: the latency bound must be positive and at most {_MAX_MS:.0f} ms; got {text!r}. {_EXAMPLE}"
        )
    batch = int(m["batch"]) if m["batch"] else None
    if batch is not None and not 1 <= batch <= 65536:
        raise UserError(f"--slo: the batch size after @ must be in 1..65536; got {m['batch']}. {_EXAMPLE}")
    return Slo(metric, value, batch)


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


def violations(trial: Trial, targets: Targets, slo_batch: int) -> list[str]:
    """Why a measured trial breaks the targets (empty when it meets them all)."""
    out = []
    if targets.slo and trial.batch_size == slo_batch:
        v = trial.latency.value(targets.slo.metric)
        if v > targets.slo.max_ms:
            out.append(f"{targets.slo.metric} {v:.1f} ms > {targets.slo.max_ms:g} ms at batch {slo_batch}")
    drop = trial.quality_drop
    if drop is not None and drop > targets.max_drop + 1e-12:
        out.append(f"quality drop {drop:.4f} > {targets.max_drop:g}")
    month = trial.cost.usd_per_month if trial.cost else None
    if targets.budget is not None and month is not None and month > targets.budget:
        out.append(f"${month:.0f}/month > budget ${targets.budget:g} at {targets.qps:g} req/s")
    return out
