"""The Pareto frontier: trials no other trial beats on every objective at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lepton.navigate.judged import JudgedTrial

Objective = Callable[[JudgedTrial], float]  # lower is better


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def pareto_front(trials: Sequence[JudgedTrial], objectives: Sequence[Objective]) -> list[JudgedTrial]:
    """The non-dominated trials, in input order (O(n^2): n is a few hundred at most)."""
    points = [tuple(f(t) for f in objectives) for t in trials]
    return [
        t
        for i, t in enumerate(trials)
        if not any(dominates(points[j], points[i]) for j in range(len(trials)) if j != i)
    ]


def default_objectives(slo_metric: str = "p95") -> list[Objective]:
    """Latency (at the trial's batch size), cost per 1M inferences, quality drop."""
    return [
        lambda t: t.latency.value(slo_metric),
        lambda t: t.usd_per_1m,
        lambda t: float(t.quality_drop or 0.0),
    ]
