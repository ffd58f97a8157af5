"""``lepton explain RUN``: where one trial's time goes (per op type and block, beside its parent's) and, with
``quality``, where a quantized variant loses its accuracy (per node).

The trial is profiled again here, under its engine and runtime settings on a batch of the run's inputs; its parent
is the artifact its last pass started from (the lineage), profiled the same way. Timings taken now are this
moment's, not the run's: the explanation quotes the trial's measured latency beside them, and says when other
processes took CPU while it profiled.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lepton.contract import Contract
from lepton.engines.profile import Feeds, OpProfile
from lepton.errors import UserError
from lepton.ir.artifact import Artifact
from lepton.measure.interference import Disturbance, Watch
from lepton.measure.node_quality import NodeQualityReport, node_quality
from lepton.measure.op_diff import OpDiff, diff_profiles
from lepton.measure.trial import Trial
from lepton.measure.workload import make_workload
from lepton.navigate.profiled import profile_artifact
from lepton.navigate.result import OptimizeResult
from lepton.navigate.stored import stored_result
from lepton.store.store import Store

RUNS = 10  # profiled calls per model
QUALITY_BATCHES = 4  # batches the per-node quality compares on


class Explanation(Contract):
    """One trial explained: its profile, its parent's (the artifact its last pass started from), their diff, and
    (asked for) the per-node quality of a quantized variant."""

    run_id: str
    trial_id: str
    variant: str
    engine: str
    batch_size: int
    last_pass: str | None = None
    parent_variant: str | None = None  # the parent's chain label when the run measured it, else its artifact id
    measured_ms: float | None = None  # the trial's mean latency as the run measured it
    profile: OpProfile
    parent_profile: OpProfile | None = None
    diff: OpDiff | None = None
    quality: NodeQualityReport | None = None
    disturbed: Disturbance | None = None  # other processes took CPU while this profiled: its times are not facts


def pick_trial(result: OptimizeResult, trial_id: str | None) -> Trial:
    """The trial asked for, or the recommended one, or else the fastest measured variant."""
    if trial_id is not None:
        try:
            return result.trial(trial_id)
        except KeyError:
            ids = ", ".join(t.id for t in result.current[:12])
            raise UserError(f"--trial: run {result.run_id} has no trial {trial_id!r}; its trials: {ids}") from None
    rec = result.recommended_trial
    if rec is not None and not rec.is_baseline and rec.chain:
        return rec
    variants = [t for t in result.current if t.measured and t.chain and not t.is_baseline]
    if not variants:
        raise UserError(f"run {result.run_id} measured no optimized variant to explain; pass --trial ID")
    return max(variants, key=lambda t: t.throughput)


def parent_artifact(store: Store, art: Artifact) -> Artifact | None:
    """The artifact ``art``'s last pass started from, when the store still has it."""
    parent = art.lineage.parent
    if not parent:
        return None
    try:
        return store.artifact(parent)
    except UserError:
        return None


def explain(
    store: Store,
    run_id: str,
    trial_id: str | None = None,
    *,
    quality: bool = False,
    data: str | Path | None = None,
    runs: int = RUNS,
) -> Explanation:
    """Explain trial ``trial_id`` (default: see ``pick_trial``) of optimize run ``run_id`` (or ``latest``)."""
    result = stored_result(store, run_id)
    t = pick_trial(result, trial_id)
    art = store.artifact(t.artifact_id)
    base = store.artifact(result.model.artifact_id)
    workload = make_workload(base, data)
    feeds = workload.batch(t.batch_size)
    parent = parent_artifact(store, art) if t.chain else None
    watch = Watch()
    watch.start_block()
    profile = profile_artifact(art, t.engine, t.runtime, feeds, runs)
    parent_profile = profile_artifact(parent, t.engine, t.runtime, feeds, runs) if parent is not None else None
    watch.end_block()
    report = None
    if quality:
        report = quality_report(t, art, parent, workload.batches(t.batch_size, QUALITY_BATCHES))
        sens = result.sensitivity
        if sens is not None and sens.ranking and sens.quant is not None and t.chain:
            same = {k: v for k, v in sens.quant.items() if k != "nodes_to_exclude"}
            mine = {k: v for k, v in t.chain[-1].params.items() if k != "nodes_to_exclude"}
            if same == mine:  # the stage ranked this quantization: its own measurement, cited
                report = report.with_stage_losses({n.node: n.loss for n in sens.ranking})
    parent_label = next(
        (x.variant for x in result.current if parent is not None and x.artifact_id == parent.id), None
    ) or (parent.id if parent is not None else None)
    return Explanation(
        run_id=result.run_id,
        trial_id=t.id,
        variant=t.variant,
        engine=t.engine,
        batch_size=t.batch_size,
        last_pass=t.last_pass,
        parent_variant=parent_label,
        measured_ms=t.latency.mean if t.measured else None,
        profile=profile,
        parent_profile=parent_profile,
        diff=diff_profiles(parent_profile, profile) if parent_profile is not None else None,
        quality=report,
        disturbed=watch.disturbance(),
    )


def stored_explanations(store: Store, run_id: str) -> tuple[Explanation, ...]:
    """The explanations kept with run ``run_id`` when its report was first written (``Store.add_explanation``)."""
    return tuple(Explanation.from_json(e) for e in store.explanations(run_id))


def quality_report(t: Trial, art: Artifact, parent: Artifact | None, feeds: Sequence[Feeds]) -> NodeQualityReport:
    """Per-node quality of ``art`` against the float artifact its quantization started from."""
    if parent is None or art.format != "onnx" or parent.format != "onnx":
        raise UserError(
            f"--quality: trial {t.id} ({t.variant}) has no ONNX parent to compare with; pick a quantized variant "
            "with --trial"
        )
    kept = t.chain[-1].params.get("nodes_to_exclude") if t.chain else None
    kept_float = [str(n) for n in kept] if isinstance(kept, list | tuple) else []
    return node_quality(parent.model_path, art.model_path, feeds, kept_float)
