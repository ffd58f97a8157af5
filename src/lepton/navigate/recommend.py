"""Choose one trial among the feasible ones, say why, and when nothing fits say what to relax."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

from lepton.format import engine_name, ms, usd
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.result import ClosestMiss
from lepton.navigate.targets import Targets, violations
from lepton.slo import Slo


def quality_text(t: JudgedTrial) -> str:
    h = t.quality.headline()
    return h.text if h else "quality n/a"


def describe(t: JudgedTrial) -> str:
    """One line a person reads: the configuration and its figures."""
    threads = "" if t.threads is None else f", {t.threads} thread{'s' if t.threads != 1 else ''}"
    engine = f" on {engine_name(t.engine)} {t.options_text}".rstrip()
    kind = f"{t.hardware_kind}: " if t.hardware_kind else ""
    return (
        f"{kind}{t.variant}{engine}{threads}, batch {t.batch_size}: p95 {ms(t.latency.p95)} ms, "
        f"{usd(t.usd_per_1m)} per 1M, {quality_text(t)}"
    )


def objective_key(objective: str, slo_metric: str) -> Callable[[JudgedTrial], tuple[float, float]]:
    """Sort key of the objective (smaller is better)."""
    if objective == "latency":
        return lambda t: (t.latency.value(slo_metric), t.usd_per_1m)
    if objective == "throughput":
        return lambda t: (-t.capacity, t.usd_per_1m)
    return lambda t: (t.usd_per_1m, t.latency.value(slo_metric))


WHY = {"cost": "cheapest", "latency": "fastest", "throughput": "highest throughput"}


def choose(feasible: Sequence[JudgedTrial], targets: Targets) -> JudgedTrial | None:
    """The best feasible trial by the objective (the baseline competes like any candidate)."""
    if not feasible:
        return None
    return min(feasible, key=objective_key(targets.objective, targets.slo_metric))


TORCH = "torch"  # the engine of the baseline and of the PyTorch one-liners (bf16 autocast, quantize_dynamic ...)


def best_one_liner(rec: JudgedTrial, trials: Sequence[JudgedTrial], targets: Targets) -> JudgedTrial | None:
    """The best PyTorch one-line variant among ``trials`` at ``rec``'s batch size on its machine (None when
    ``rec`` is itself on PyTorch, or none is there): what a PyTorch user would deploy instead of Lepton's choice."""
    if rec.engine == TORCH:
        return None
    same = [
        t
        for t in trials
        if t.engine == TORCH
        and not t.is_baseline
        and t.batch_size == rec.batch_size
        and t.hardware_kind == rec.hardware_kind
    ]
    return choose(same, targets)


def feasible_trials(trials: Sequence[JudgedTrial], targets: Targets, slo_batch: int) -> list[JudgedTrial]:
    """Measured trials with no violation whose configuration also meets the SLO at the SLO batch size."""
    ok = [t for t in trials if t.status in ("ok", "rejected") and t.measured]
    bad_configs = {
        t.config_key()
        for t in ok
        if targets.slo is not None and t.batch_size == slo_batch and violations(t, targets, slo_batch)
    }
    return [t for t in ok if not violations(t, targets, slo_batch) and t.config_key() not in bad_configs]


def closest_miss(trials: Sequence[JudgedTrial], targets: Targets, slo_batch: int) -> ClosestMiss:
    """When nothing meets the targets: the nearest miss on each broken target and what relaxing it gives."""
    ok = [t for t in trials if t.measured]
    parts: list[str] = []
    relaxed: Targets | None = None
    if targets.slo:
        metric = targets.slo.metric
        at_batch = [t for t in ok if t.batch_size == slo_batch and (t.quality_drop or 0) <= targets.max_drop]
        if at_batch and not any(t.latency.value(metric) <= targets.slo.max_ms for t in at_batch):
            fastest = min(t.latency.value(metric) for t in at_batch)
            parts.append(f"{targets.slo.text} is met by nothing; the fastest is {ms(fastest)} ms")
            relaxed = replace(targets, slo=Slo(metric, _round_up(fastest), targets.slo.batch_size))
    drops = [t.quality_drop for t in ok if t.quality_drop is not None]
    if drops and min(drops) > targets.max_drop:
        best = min(drops)
        parts.append(f"quality drop <= {targets.max_drop:g} is met by nothing; the smallest drop is {best:.4f}")
        relaxed = replace(relaxed or targets, max_drop=_round_up(best, 4))
    if targets.budget is not None:
        months = [t.priced.usd_per_month for t in ok if t.priced.usd_per_month is not None]
        if months and min(m for m in months if m is not None) > targets.budget:
            cheapest = min(m for m in months if m is not None)
            parts.append(f"${targets.budget:g}/month is met by nothing; the cheapest is ${cheapest:.0f}/month")
            relaxed = replace(relaxed or targets, budget=math.ceil(cheapest))
    text = "; ".join(parts) or "no candidate meets the targets together"
    if relaxed is not None:
        rec = choose(feasible_trials(ok, relaxed, slo_batch), relaxed)
        if rec is not None:
            reason = f"{describe(rec)}; {WHY[relaxed.objective]} that meets {relaxed.describe()}"
            text += f"; with {relaxed.describe()} the recommendation would be {rec.id}: {reason}"
            return ClosestMiss(text=text, relaxed=relaxed, would_recommend=rec.id)
    return ClosestMiss(text=text)


def _round_up(x: float, digits: int = 0) -> float:
    """A readable bound just above ``x``: 14.2 -> 15, 0.0123 -> 0.0124 (digits=4)."""
    if digits:
        f = 10**digits
        return float(math.ceil(x * f + 1e-9) / f)
    return float(math.ceil(x + 1e-9))
