"""Choose one record among the feasible ones, say why, and when nothing fits say what to relax."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from lepton.navigate.targets import Slo, Targets, violations
from lepton.report.format import ms, usd


def quality_text(r: dict[str, Any]) -> str:
    q = r.get("quality") or {}
    if q.get("kind") == "task" and "accuracy" in q:
        return f"accuracy {q['accuracy']:.4f}"
    if "rmse" in q:
        return f"rmse {q['rmse']:.4g}"
    if "cosine" in q:
        return f"fidelity {q['cosine']:.4f}"
    return "quality n/a"


def describe(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    return (
        f"{r['variant']}, {r['threads']} thread{'s' if r['threads'] != 1 else ''}, batch {r['batch_size']}: "
        f"p95 {ms(lat['p95'])} ms, {usd(r['cost']['usd_per_1m'])} per 1M, {quality_text(r)}"
    )


def _key(objective: str, slo_metric: str) -> Any:
    if objective == "latency":
        return lambda r: (r["latency_ms"][slo_metric], r["cost"]["usd_per_1m"])
    if objective == "throughput":
        return lambda r: (-r.get("capacity_per_s", r["throughput_per_s"]), r["cost"]["usd_per_1m"])
    return lambda r: (r["cost"]["usd_per_1m"], r["latency_ms"][slo_metric])


_WHY = {"cost": "cheapest", "latency": "fastest", "throughput": "highest throughput"}


def choose(feasible: Sequence[dict[str, Any]], targets: Targets) -> tuple[dict[str, Any] | None, str]:
    """The recommended record by the objective, and its plain-language reason."""
    if not feasible:
        return None, ""
    metric = targets.slo.metric if targets.slo else "p95"
    best = min(feasible, key=_key(targets.objective, metric))
    meets = f"that meets {targets.describe()}"
    return best, f"{describe(best)}; {_WHY[targets.objective]} {meets}"


def feasible_records(records: Sequence[dict[str, Any]], targets: Targets, slo_batch: int) -> list[dict[str, Any]]:
    """Measured records with no violation whose configuration also meets the SLO at the SLO batch size."""
    ok = [r for r in records if r.get("status") in ("ok", "rejected") and "latency_ms" in r]
    bad_configs = {
        config_key(r)
        for r in ok
        if violations(r, targets, slo_batch) and r["batch_size"] == slo_batch and targets.slo is not None
    }
    return [r for r in ok if not violations(r, targets, slo_batch) and config_key(r) not in bad_configs]


def config_key(r: dict[str, Any]) -> tuple[Any, ...]:
    """A configuration is a variant under a thread setting; its records differ only by batch size."""
    return (r["artifact_id"], r["engine"], r.get("threads"))


def closest_miss(records: Sequence[dict[str, Any]], targets: Targets, slo_batch: int) -> dict[str, Any]:
    """When nothing meets the targets: the nearest miss on each broken target and what relaxing it gives."""
    ok = [r for r in records if "latency_ms" in r]
    parts: list[str] = []
    relaxed: Targets | None = None
    if targets.slo:
        at_batch = [r for r in ok if r["batch_size"] == slo_batch and (r.get("quality_drop") or 0) <= targets.max_drop]
        if at_batch and not any(r["latency_ms"][targets.slo.metric] <= targets.slo.max_ms for r in at_batch):
            fastest = min(r["latency_ms"][targets.slo.metric] for r in at_batch)
            bound = _round_up(fastest)
            parts.append(f"{targets.slo.text} is met by nothing; the fastest is {ms(fastest)} ms")
            relaxed = replace(targets, slo=Slo(targets.slo.metric, bound, targets.slo.batch_size))
    drops = [r.get("quality_drop") for r in ok if r.get("quality_drop") is not None]
    if drops and min(drops) > targets.max_drop:
        best = min(drops)
        parts.append(f"quality drop <= {targets.max_drop:g} is met by nothing; the smallest drop is {best:.4f}")
        relaxed = replace(relaxed or targets, max_drop=_round_up(best, 4))
    if targets.budget is not None:
        months = [r["cost"]["usd_per_month"] for r in ok if r["cost"].get("usd_per_month") is not None]
        if months and min(months) > targets.budget:
            cheapest = min(months)
            parts.append(f"${targets.budget:g}/month is met by nothing; the cheapest is ${cheapest:.0f}/month")
            relaxed = replace(relaxed or targets, budget=math.ceil(cheapest))
    out: dict[str, Any] = {
        "text": "; ".join(parts) or "no candidate meets the targets together",
        "relaxed": None,
    }
    if relaxed is not None:
        rec, reason = choose(feasible_records(ok, relaxed, slo_batch), relaxed)
        if rec is not None:
            out["text"] += f"; with {relaxed.describe()} the recommendation would be {rec['id']}: {reason}"
            out["relaxed"] = relaxed.to_json()
            out["would_recommend"] = rec["id"]
    return out


def _round_up(x: float, digits: int = 0) -> float:
    """A readable bound just above ``x``: 14.2 -> 15, 0.0123 -> 0.0124 (digits=4)."""
    if digits:
        f = 10**digits
        return math.ceil(x * f + 1e-9) / f
    return float(math.ceil(x + 1e-9))
