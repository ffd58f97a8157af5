"""The verdict of a run: which trials meet the targets, the frontier, the recommendation with its reason.

The baseline (what the user would deploy without Lepton) competes like any candidate. When it wins, or when the
best variant does not beat it beyond the noise, the recommendation is to keep the current deployment.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from lepton.engines.torch_eager import one_liner, one_liner_code
from lepton.format import engine_name, ms, usd
from lepton.navigate.explain import slower_notes
from lepton.navigate.gains import MIN_GAIN, Pairings, gain, gains, objective_ratio
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.pareto import default_objectives, pareto_front
from lepton.navigate.profiled import cause_from_profiles
from lepton.navigate.recommend import TORCH, WHY, best_one_liner, choose, closest_miss, describe, feasible_trials
from lepton.navigate.result import ClosestMiss, Gain, Ratio, Verdict
from lepton.navigate.run import RunState
from lepton.navigate.targets import Targets, violations

_OBJECTIVE_WORDS = {"cost": "cheaper per 1M", "latency": "lower latency", "throughput": "more throughput"}


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    recommended: JudgedTrial | None
    reason: str
    frontier: list[JudgedTrial]
    gains: list[Gain]
    closest_miss: ClosestMiss | None
    best_by_engine: dict[str, str]
    best_by_hardware: dict[str, str]
    vs_torch_best: Gain | None = None  # the recommendation against the best PyTorch one-liner at its batch size


def judge(run: RunState) -> None:
    """Mark every current trial that misses a target as rejected, with its reasons, and add slower-than-parent
    notes; trials are replaced by updated copies in the run (and the store)."""
    targets, slo_batch = run.targets, run.slo_batch
    current = run.log.current()
    measured = [t for t in current if t.measured]
    feasible_ids = {t.id for t in feasible_trials(measured, targets, slo_batch)}
    slo_misses = {t.config_key() for t in measured if t.batch_size == slo_batch and violations(t, targets, slo_batch)}
    notes = slower_notes([t for t in current if not t.is_baseline], cause_from_profiles(run.store, run.workload.batch))
    for t in measured:
        changes: dict[str, object] = {}
        if t.id not in feasible_ids:
            reasons = violations(t, targets, slo_batch)
            if not reasons and t.config_key() in slo_misses:
                slo = targets.slo.text if targets.slo else "the SLO"
                reasons = [f"this configuration misses {slo} at batch {slo_batch}"]
            changes.update(status="rejected", reasons=tuple(reasons or ["not measured precisely"]))
        said = ((notes[t.variant],) if t.variant in notes and not t.is_baseline else ()) + batch_note(t)
        if said:
            changes["notes"] = said
        if changes:
            run.log.update(t.id, **changes)


def batch_note(t: JudgedTrial) -> tuple[str, ...]:
    """What a row's batch-mates do to it, for a batch-dependent variant served in batches (the worst row)."""
    mixed = t.quality.batch_dependence
    moved = mixed.within(t.batch_size) if mixed is not None else None
    if mixed is None or not moved:
        return ()
    row = f", row {mixed.row}" if mixed.row is not None else ""
    return (
        f"{t.variant} on {t.engine_label}: batch-mates move a row's {mixed.metric} by up to {moved:.4f} (the "
        f"{mixed.rows} rows checked alone vs in mixed batches of up to {t.batch_size}{row})",
    )


def decide(run: RunState) -> Decision:
    """The frontier and the recommendation among the judged trials."""
    targets = run.targets
    current = run.log.current()
    feasible = [t for t in current if t.status == "ok" and t.measured]
    front = pareto_front(feasible, default_objectives(targets.slo_metric))
    best = choose(feasible, targets)
    by_engine = best_by_engine(feasible, targets)
    by_kind = best_by_hardware(feasible, targets)
    if best is None:
        miss = closest_miss(current, targets, run.slo_batch)
        return Decision("no-fit", None, "", front, [], miss, by_engine, by_kind)
    verdict, rec, reason = _verdict(best, feasible, targets, run.pairings)
    measured = [t for t in current if t.measured]
    if verdict == "recommend":
        reason += why_this_engine(rec, feasible, targets, measured) + how_to_deploy_one_liner(rec)
    reason += why_this_hardware(rec, feasible, targets, measured)
    one_liner_trial = best_one_liner(rec, feasible, targets) if verdict == "recommend" else None
    vs_torch = gain(one_liner_trial, rec, run.pairings.get((one_liner_trial.id, rec.id))) if one_liner_trial else None
    rec_gains = gains(rec, current, run.pairings) if rec else []
    return Decision(verdict, rec, reason, front, rec_gains, None, by_engine, by_kind, vs_torch)


def best_by_engine(feasible: Sequence[JudgedTrial], targets: Targets) -> dict[str, str]:
    """The best feasible trial by the objective on each engine (with its options: ``openvino bf16``)."""
    out: dict[str, str] = {}
    for label in sorted({t.engine_label for t in feasible}):
        best = choose([t for t in feasible if t.engine_label == label], targets)
        if best is not None:
            out[label] = best.id
    return out


def best_by_hardware(feasible: Sequence[JudgedTrial], targets: Targets) -> dict[str, str]:
    """The best feasible trial by the objective on each kind of machine of a cluster (empty on one machine)."""
    out: dict[str, str] = {}
    for kind in sorted({t.hardware_kind for t in feasible if t.hardware_kind is not None}):
        best = choose([t for t in feasible if t.hardware_kind == kind], targets)
        if best is not None:
            out[kind] = best.id
    return out


def why_this_hardware(
    rec: JudgedTrial, feasible: Sequence[JudgedTrial], targets: Targets, measured: Sequence[JudgedTrial]
) -> str:
    """On a cluster, what the choice costs on its kind of machine and what the best on each other kind would
    (per month at the target QPS with its replicas, else per 1M inferences), or that nothing there meets the
    targets."""
    if rec.hardware_kind is None:
        return ""
    best = best_by_hardware(feasible, targets)
    others = []
    for kind in sorted({t.hardware_kind for t in measured if t.hardware_kind not in (None, rec.hardware_kind)}):
        assert kind is not None
        if kind in best:
            other = next(t for t in feasible if t.id == best[kind])
            others.append(
                f"{kind} would cost {_price_text(other)} ({other.id} {other.variant}, batch {other.batch_size})"
            )
            continue
        mine = [t for t in measured if t.hardware_kind == kind and t.measured]
        fastest = min(mine, key=lambda t: t.latency.value(targets.slo_metric))
        others.append(
            f"nothing on {kind} meets {targets.describe()} (its fastest, {fastest.id}, has "
            f"{targets.slo_metric} {ms(fastest.latency.value(targets.slo_metric))} ms)"
        )
    here = f". On {rec.hardware_kind}: {_price_text(rec)}"
    return here + ("; " + "; ".join(others) if others else "")


def _price_text(t: JudgedTrial) -> str:
    """``$X/month for N QPS with R replicas`` at a target load, else ``$X per 1M``."""
    c = t.priced
    if c.usd_per_month is not None and c.qps is not None:
        replicas = f"{c.replicas} replica{'s' if c.replicas != 1 else ''}"
        return f"${c.usd_per_month:,.2f}/month for {c.qps:g} QPS with {replicas}"
    return f"{usd(c.usd_per_1m)} per 1M"


def why_this_engine(
    rec: JudgedTrial, feasible: Sequence[JudgedTrial], targets: Targets, measured: Sequence[JudgedTrial] = ()
) -> str:
    """Why this engine on this machine: against the best variant on each other searched engine, same batch (and
    the same kind of machine, on a cluster), and against the best PyTorch one-liner (``vs_one_liner``)."""
    parts = []
    here = [t for t in feasible if t.hardware_kind == rec.hardware_kind]
    for engine in sorted({t.engine for t in here if not t.is_baseline and t.engine not in (rec.engine, TORCH)}):
        other = choose([t for t in here if t.engine == engine and t.batch_size == rec.batch_size], targets)
        if other is None:
            continue
        ratio = objective_ratio(other, rec, targets.objective, targets.slo_metric)
        mine, theirs = rec.quality.headline(), other.quality.headline()
        quality = f"; {mine.text} vs {theirs.formatted}" if mine and theirs else ""
        parts.append(
            f"{ratio.x:.2f}x {_OBJECTIVE_WORDS[targets.objective]} than the best on {engine_name(engine)} "
            f"({other.id} {other.variant}) at batch {rec.batch_size} here{quality}"
        )
    parts += [p for p in [vs_one_liner(rec, feasible, targets, measured)] if p]
    return f". {engine_name(rec.engine)}: " + "; ".join(parts) if parts else ""


def how_to_deploy_one_liner(rec: JudgedTrial) -> str:
    """For a recommended PyTorch one-liner: the line to add to the user's own PyTorch deployment."""
    if rec.engine != TORCH or rec.is_baseline or not rec.runtime.options:
        return ""
    return (
        f". It is a PyTorch one-liner: {one_liner_code(rec.runtime.options)} in your PyTorch deployment "
        "(lepton serve serves the ONNX model on ONNX Runtime instead)"
    )


def vs_one_liner(
    rec: JudgedTrial, feasible: Sequence[JudgedTrial], targets: Targets, measured: Sequence[JudgedTrial] = ()
) -> str:
    """What ``rec`` gains over the best PyTorch one-liner that meets the targets at its batch size, with the
    interval (``2.10x cheaper per 1M than the best PyTorch one-liner (bf16 autocast) at batch 32 [1.90-2.30]``);
    when the one-liners measured there all miss the targets, that is said instead."""
    other = best_one_liner(rec, feasible, targets)
    if other is None:
        missed = best_one_liner(rec, [t for t in measured if t.id not in {f.id for f in feasible}], targets)
        if missed is None:
            return ""
        why = "; ".join(missed.reasons) or "it misses them"
        return (
            f"no PyTorch one-liner meets {targets.describe()} at batch {rec.batch_size} (the best, "
            f"{one_liner(missed.runtime.options)}: {why})"
        )
    r = objective_ratio(other, rec, targets.objective, targets.slo_metric)
    mine, theirs = rec.quality.headline(), other.quality.headline()
    quality = f"; {mine.text} vs {theirs.formatted}" if mine and theirs else ""
    return (
        f"{r.x:.2f}x {_OBJECTIVE_WORDS[targets.objective]} than the best PyTorch one-liner "
        f"({one_liner(other.runtime.options)}, {other.id}) at batch {rec.batch_size} [{r.low:.2f}-{r.high:.2f}]"
        f"{quality}"
    )


def _verdict(
    best: JudgedTrial, feasible: Sequence[JudgedTrial], targets: Targets, pairings: Pairings | None = None
) -> tuple[Verdict, JudgedTrial, str]:
    meets = f"{WHY[targets.objective]} that meets {targets.describe()}"
    if best.is_baseline:
        return "keep", best, f"keep your current deployment: {describe(best)} is the {meets}; no variant does better"
    base = next(
        (
            t
            for t in feasible
            if t.is_baseline and t.batch_size == best.batch_size and t.hardware_kind == best.hardware_kind
        ),
        None,
    )
    if base is None:  # the baseline misses the targets at this batch size: the variant is needed
        return "recommend", best, f"{describe(best)}; {meets}"
    paired = (pairings or {}).get((base.id, best.id))
    gain: Ratio = objective_ratio(base, best, targets.objective, targets.slo_metric, paired)
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
