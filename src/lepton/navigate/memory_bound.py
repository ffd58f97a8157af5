"""Bounded memory: estimate what calibrating and building cost before any pass runs, and keep the search under a
bound (``--max-memory``, or ``SAFE_SHARE`` of the memory this process may use) by cutting calibration batches into
fewer rows, or skipping a pass, with the reason; the peak RSS of every stage and variant is reported."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lepton.hardware.memory import memory_budget
from lepton.ir.artifact import Artifact
from lepton.measure.memory import CALIBRATION_OVERHEAD, activation_bytes, rss_mb
from lepton.navigate.result import MemoryInfo
from lepton.navigate.run import RunState
from lepton.passes import PassContext
from lepton.passes.base import Pass
from lepton.passes.runner import cache_key

HEADROOM = 0.75  # of what is left under the bound, for calibration batches cut to fit: the rest for the build


@dataclass(frozen=True)
class MemoryPlan:
    """The bound, the calibration it allows, and what it changed (``skip``: why calibrating passes are not
    built at all). ``estimate_mb``: one calibration batch in flight (calibrators stream batch by batch)."""

    limit_mb: float
    source: str
    rows: int
    estimate_mb: float | None = None
    action: str | None = None
    skip: str | None = None
    batch: int | None = None  # rows per calibration batch

    def bound(self, free_mb: float) -> str:
        return f"{max(free_mb, 0):.0f} MB left under the memory bound ({self.limit_mb:.0f} MB, {self.source})"


def plan_memory(run: RunState, max_memory_gb: float | None) -> MemoryPlan:
    """The calibration batches that fit under the bound: calibrating holds one batch's activations at a time
    (``passes.calibration``), so a batch that does not fit is cut into fewer rows (sets ``run.calibration_cut``);
    a model whose batch is fixed cannot be cut, and its calibrating passes are skipped."""
    budget = memory_budget()
    limit_mb = round(max_memory_gb * 1000 if max_memory_gb is not None else budget.safe() / 1e6, 1)
    source = "--max-memory" if max_memory_gb is not None else budget.note()
    batch = run.calibration_batch
    rows = run.calibration_batches * batch
    per_batch = activation_bytes(run.artifact.model_path, run.workload.batch(batch))
    if per_batch is None:
        return MemoryPlan(limit_mb, source, rows, batch=batch)
    per_row_mb = per_batch / batch / 1e6 * CALIBRATION_OVERHEAD
    estimate = per_row_mb * batch
    free = limit_mb - rss_mb()
    plan = MemoryPlan(limit_mb, source, rows, round(estimate, 1), batch=batch)
    if estimate <= free:
        return plan
    why = (
        f"about {estimate:.0f} MB estimated for one calibration batch of {batch} rows ({per_batch / batch / 1e3:.0f} "
        f"KB of activations per row x {CALIBRATION_OVERHEAD:g}) > {plan.bound(free)}"
    )
    fit = int(max(free, 0) * HEADROOM // per_row_mb)
    if fit >= 1 and not run.artifact.signature.fixed_batch():
        run.calibration_cut = fit
        cut = run.calibration_batches * fit
        action = f"calibration batches cut from {batch} to {fit} rows ({cut} rows in all): {why}"
        return MemoryPlan(limit_mb, source, cut, round(fit * per_row_mb, 1), action, batch=fit)
    skip = f"not built: {why}"
    return MemoryPlan(limit_mb, source, 0, round(estimate, 1), skip, skip, batch=batch)


def build_too_big(run: RunState, passes: Sequence[Pass[Any]], ctx: PassContext) -> str | None:
    """Why a chain is not built under the memory bound, or None: each pass not cached yet needs about
    ``build_memory`` x its parent's size (+ one calibration batch when it calibrates) over what is held now."""
    if run.memory is None:
        return None
    current: Artifact | None = run.artifact
    size_mb = run.artifact.size_mb
    for p in passes:
        if current is not None:  # steps already built cost nothing: follow the cache while it has them
            hit = ctx.store.find_cached(current.id, p.name, cache_key(current, p, ctx))
            if hit is not None:
                current, size_mb = hit, hit.size_mb
                continue
            current = None  # past the first step to build, sizes are the last known parent's
        if p.build_memory is None:
            continue
        calibration = (run.memory.estimate_mb or 0.0) if p.calibrates else 0.0
        need = p.build_memory * size_mb + calibration
        free = run.memory.limit_mb - rss_mb()
        if need > free:
            calib = f" + {calibration:.0f} MB for a calibration batch" if calibration else ""
            return (
                f"not built: {p.name} needs about {need:.0f} MB ({p.build_memory:g} x the {size_mb:.0f} MB model"
                f"{calib}) > {run.memory.bound(free)}"
            )
    return None


def memory_info(run: RunState, plan: MemoryPlan, passes: dict[str, float]) -> MemoryInfo:
    stages = dict(run.clock.peak_mb)
    return MemoryInfo(
        peak_rss_mb=round(max([*stages.values(), *passes.values(), rss_mb()]), 1),
        stages=stages,
        passes=passes,
        limit_mb=plan.limit_mb,
        limit_source=plan.source,
        calibration_rows=plan.rows,
        calibration_batch=plan.batch,
        calibration_estimate_mb=plan.estimate_mb,
        action=plan.action,
    )
