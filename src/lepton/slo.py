"""The one SLO grammar: ``--slo "p95<=20ms"`` for ``lepton optimize`` (trials are judged on it) and ``lepton serve``
(batches are sized towards it), and the names of latency statistics (``mean``, ``p95``, ``p99.9``) it uses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from lepton.errors import UserError
from lepton.format import plain_number

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


def metric_key(q: float) -> str:
    """The name of the q-th percentile in latency records: ``p95``, ``p99.9`` (what ``--slo`` names)."""
    return "p" + plain_number(q)


def metric_percentile(metric: str) -> float | None:
    """95.0 for ``p95``, 99.9 for ``p99.9``, None for ``mean``; ValueError for anything else."""
    if metric == "mean":
        return None
    try:
        q = float(metric[1:]) if metric.startswith("p") else -1.0
    except ValueError:
        q = -1.0
    if not 0 < q < 100:
        raise ValueError(f"latency metric {metric!r} is not mean or pNN with NN in (0, 100)")
    return q
