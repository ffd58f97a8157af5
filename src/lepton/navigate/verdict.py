"""The verdict of a run: which trials meet the targets, the frontier, the recommendation with its reason.

The baseline (what the user would deploy without Lepton) competes like any candidate. When it wins, or when the
best variant does not beat it beyond the noise, the recommendation is to keep the current deployment.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from lepton.measure.trial import Trial
from lepton.navigate.explain import slower_notes
from lepton.navigate.gains import MIN_GAIN, gains, objective_ratio
from lepton.navigate.pareto import default_objectives, pareto_front
from lepton.navigate.recommend import WHY, choose, closest_miss, describe, feasible_trials
from lepton.navigate.result import ClosestMiss, Gain, Ratio, Verdict
from lepton.navigate.run import RunState
from lepton.navigate.targets import Targets, violations
from lepton.report.format import engine_name

_OBJECTIVE_WORDS = {"cost": "cheaper per 1M", "latency": "lower latency", "throughput": "more throughput"}


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    recommended: Trial | None
    reason: str
    frontier: list[Trial]
    gains: list[Gain]
    closest_miss: ClosestMiss | None
    best_by_engine: dict[str, str]


def judge(run: RunState) -> None:
    """Mark every current trial that misses a target as rejected, with its reasons, and add slower-than-parent
    notes; trials are replaced by updated copies in the run (and the store)."""
    targets, slo_batch = run.targets, run.slo_batch
    current = run.current()
    measured = [t for t in current if t.measured]
    feasible_ids = {t.id for t in feasible_trials(measured, targets, slo_batch)}
    slo_misses = {t.config_key() for t in measured if t.batch_size == slo_batch and violations(t, targets, slo_batch)}
    notes = slower_notes([t for t in current if not t.is_baseline])
    for t in measured:
        changes: dict[str, object] = {}
        if t.id not in feasible_ids:
            reasons = violations(t, targets, slo_batch)
            if not reasons and t.config_key() in slo_misses:
                slo = targets.slo.text if targets.slo else "the SLO"
                reasons = [f"this configuration misses {slo} at batch {slo_batch}"]
            changes.update(status="rejected", reasons=tuple(reasons or ["not measured precisely"]))
        if t.variant in notes and not t.is_baseline:
            changes["notes"] = (notes[t.variant],)
        if changes:
            run.update(t.id, **changes)


def decide(run: RunState) -> Decision:
    """The frontier and the recommendation among the judged trials."""
    targets = run.targets
    current = run.current()
    feasible = [t for t in current if t.status == "ok" and t.measured]
    front = pareto_front(feasible, default_objectives(targets.slo_metric))
    best = choose(feasible, targets)
    by_engine = best_by_engine(feasible, targets)
    if best is None:
        return Decision("no-fit", None, "", front, [], closest_miss(current, targets, run.slo_batch), by_engine)
    verdict, rec, reason = _verdict(best, feasible, targets)
    if verdict == "recommend":
        reason += why_this_engine(rec, feasible, targets)
    return Decision(verdict, rec, reason, front, gains(rec, current) if rec else [], None, by_engine)


def best_by_engine(feasible: Sequence[Trial], targets: Targets) -> dict[str, str]:
    """The best feasible trial by the objective on each engine (with its options: ``openvino bf16``)."""
    out: dict[str, str] = {}
    for label in sorted({t.engine_label for t in feasible}):
        best = choose([t for t in feasible if t.engine_label == label], targets)
        if best is not None:
            out[label] = best.id
    return out


def why_this_engine(rec: Trial, feasible: Sequence[Trial], targets: Targets) -> str:
    """Why this engine on this machine: against the best variant on each other searched engine, same batch."""
    parts = []
    for engine in sorted({t.engine for t in feasible if not t.is_baseline and t.engine != rec.engine}):
        other = choose([t for t in feasible if t.engine == engine and t.batch_size == rec.batch_size], targets)
        if other is None:
            continue
        ratio = objective_ratio(other, rec, targets.objective, targets.slo_metric)
        mine, theirs = rec.quality.headline(), other.quality.headline()
        quality = f"; {mine.text} vs {theirs.formatted}" if mine and theirs else ""
        parts.append(
            f"{ratio.x:.2f}x {_OBJECTIVE_WORDS[targets.objective]} than the best on {engine_name(engine)} "
            f"({other.id} {other.variant}) at batch {rec.batch_size} here{quality}"
        )
    return f". {engine_name(rec.engine)}: " + "; ".join(parts) if parts else ""


def _verdict(best: Trial, feasible: Sequence[Trial], targets: Targets) -> tuple[Verdict, Trial, str]:
    meets = f"{WHY[targets.objective]} that meets {targets.describe()}"
    if best.is_baseline:
        return "keep", best, f"keep your current deployment: {describe(best)} is the {meets}; no variant does better"
    base = next((t for t in feasible if t.is_baseline and t.batch_size == best.batch_size), None)
    if base is None:  # the baseline misses the targets at this batch size: the variant is needed
        return "recommend", best, f"{describe(best)}; {meets}"
    gain: Ratio = objective_ratio(base, best, targets.objective, targets.slo_metric)
    if gain.beyond_noise:
        return "recommend", best, f"{describe(best)}; {meets}"
    return (
        "keep",
        base,
        f"keep your current deployment: nothing here is faster by more than the noise; the best candidate, "
        f"{best.id} {best.variant}, is {gain.text} {_OBJECTIVE_WORDS[targets.objective]} than {base.variant} at "
        f"batch {base.batch_size} (a gain needs an interval above 1x and at least {MIN_GAIN:.2f}x)",
    )


def elapsed(t_start: float) -> float:
    return round(time.perf_counter() - t_start, 1)
