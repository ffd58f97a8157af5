"""The Pareto frontier: records no other record beats on every objective at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Objective = Callable[[dict[str, Any]], float]  # lower is better


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def pareto_front(records: Sequence[dict[str, Any]], objectives: Sequence[Objective]) -> list[dict[str, Any]]:
    """The non-dominated records, in input order (O(n^2): n is a few hundred at most)."""
    points = [tuple(f(r) for f in objectives) for r in records]
    return [
        r
        for i, r in enumerate(records)
        if not any(dominates(points[j], points[i]) for j in range(len(records)) if j != i)
    ]


def default_objectives(slo_metric: str = "p95") -> list[Objective]:
    """Latency (at the record's batch size), cost per 1M inferences, quality drop."""
    return [
        lambda r: float(r["latency_ms"][slo_metric]),
        lambda r: float(r["cost"]["usd_per_1m"]),
        lambda r: float(r.get("quality_drop") or 0.0),
    ]
