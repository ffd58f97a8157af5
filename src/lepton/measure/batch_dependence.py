"""Fidelity at the batch sizes a server forms.

A variant whose activations are quantized per call (ONNX Runtime's dynamic int8, PyTorch's ``quantize_dynamic``)
scales each batch by its own range: a request's output then depends on the requests batched with it. Such a
variant (a pass or an engine option declares it: ``Pass.batch_dependent``, ``Engine.batch_dependent``) has its
first ``ROWS`` rows run alone and inside mixed batches of other rows at every batch size the run serves, and the
drop of the headline metric between the two is reported: per row for fidelity (the worst row counts), over the
checked rows for task metrics (accuracy, rmse: one row's 0/1 is not a drop a bound can judge).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lepton.engines.base import ENGINES, RuntimeConfig, Session
from lepton.ir.artifact import Artifact
from lepton.measure.trial import ChainStep, Outputs, Reference, compared_output, quality_of
from lepton.measure.workload import Workload
from lepton.quality import BatchDependence, Quality, row_cosines

ROWS = 32  # rows checked, each alone and in every arrangement
ARRANGEMENTS = 2  # mixes of batch-mates per batch size: the rows in order, then shuffled


def declared(chain: Sequence[ChainStep], engine: str, config: RuntimeConfig) -> bool:
    """Whether a pass of ``chain`` or the engine under ``config`` makes a row's output depend on its batch-mates."""
    from lepton.passes import PASSES

    return any(PASSES.get(s.pass_).batch_dependent for s in chain) or ENGINES.get(engine)().batch_dependent(config)


def _run_rows(session: Session, workload: Workload, rows: np.ndarray) -> Outputs:
    out = session.run(workload.select(rows).rows)
    return {k: np.asarray(v) for k, v in out.items()}


def _alone(session: Session, workload: Workload, n: int, fixed: int | None) -> Outputs:
    """Each of the first ``n`` rows run by itself (a model with a fixed batch: among copies of itself, which
    quantize exactly as the row alone does)."""
    parts: dict[str, list[np.ndarray]] = {}
    for i in range(n):
        out = _run_rows(session, workload, np.full(fixed or 1, i))
        for k, v in out.items():
            parts.setdefault(k, []).append(v[:1])
    return {k: np.concatenate(v) for k, v in parts.items()}


def _batched(session: Session, workload: Workload, n: int, size: int, arrangement: int) -> Outputs:
    """The first ``n`` rows, each run inside a batch of ``size`` rows drawn from a pool of other rows (wrapping
    around a short workload), in order (arrangement 0) or shuffled."""
    pool = max(n, 2 * size)
    order = np.arange(pool) if arrangement == 0 else np.random.default_rng(arrangement).permutation(pool)
    order = np.concatenate([order, order[: (-pool) % size]])
    found: dict[int, dict[str, np.ndarray]] = {}
    for start in range(0, len(order), size):
        positions = order[start : start + size]
        out = _run_rows(session, workload, positions % workload.n_rows)
        for j, p in enumerate(positions):
            if p < n and int(p) not in found:
                found[int(p)] = {k: v[j : j + 1] for k, v in out.items()}
    return {k: np.concatenate([found[i][k] for i in range(n)]) for k in found[0]}


def measure_batch_dependence(
    session: Session,
    workload: Workload,
    reference: Reference,
    task: str,
    batch_sizes: Sequence[int],
    *,
    fixed_batch: int | None = None,
    rows: int = ROWS,
) -> BatchDependence | None:
    """How much the headline metric drops for a row batched with others (at each of ``batch_sizes`` above 1)
    against the same row alone; None when there is nothing to compare (no batch above 1, rows not along axis 0,
    no reference)."""
    sizes = [fixed_batch] if fixed_batch else sorted({b for b in batch_sizes if b > 1})
    along_rows = all(a in (0, None) for a in workload.batch_axes.values())
    if not sizes or sizes[0] < 2 or workload.n_rows < 2 or not along_rows:
        return None
    n = min(rows, workload.n_rows)
    alone = _alone(session, workload, n, fixed_batch)
    score = _scorer(alone, reference.head(n), task)
    if score is None:
        return None
    metric, rate = score
    by_batch: dict[int, float] = {}
    worst_row: int | None = None
    worst = 0.0
    for size in sizes:
        drops = np.max([rate(_batched(session, workload, n, size, a)) for a in range(ARRANGEMENTS)], axis=0)
        by_batch[size] = round(float(np.max(drops)), 6)
        if drops.size > 1 and float(np.max(drops)) > worst:
            worst, worst_row = float(np.max(drops)), int(np.argmax(drops))
    return BatchDependence(
        metric=metric, worst=max(by_batch.values()), by_batch=by_batch, rows=n, row=worst_row if worst else None
    )


def _scorer(alone: Outputs, reference: Reference, task: str) -> tuple[str, Callable[[Outputs], np.ndarray]] | None:
    """The headline metric's name and what turns batched outputs into drops (one per row for fidelity, one for
    the rows together for task metrics), measured against the rows alone."""
    if reference.outputs is not None and reference.labels is None:
        name = compared_output(reference.outputs)
        if name not in alone:
            return None
        want = reference.outputs[name]
        base = row_cosines(want, alone[name])

        def per_row(batched: Outputs) -> np.ndarray:
            return np.asarray(np.maximum(0.0, base - row_cosines(want, batched[name])))

        return "cosine", per_row
    first = quality_of(task, alone, reference).headline()
    if first is None:
        return None

    def together(batched: Outputs) -> np.ndarray:
        h = quality_of(task, batched, reference).headline()
        return np.array([h.drop_from(first.value) if h is not None else 0.0])

    return first.name, together


@dataclass
class BatchProbe:
    """Batch-dependence, measured once per variant, engine and options in a run (quality is measured again at
    each rung; this is not)."""

    found: dict[tuple[str, str, str], BatchDependence | None] = field(default_factory=dict)

    def add_to(
        self,
        quality: Quality,
        session: Session,
        art: Artifact,
        engine: str,
        options: Mapping[str, str],
        chain: Sequence[ChainStep],
        workload: Workload,
        reference: Reference,
        batch_sizes: Sequence[int],
    ) -> Quality:
        """``quality`` with its batch-dependence when the chain or the engine options declare one."""
        if not declared(chain, engine, RuntimeConfig(options=options)):
            return quality
        key = (art.id, engine, json.dumps(dict(options), sort_keys=True))
        if key not in self.found:
            fixed = art.signature.fixed_batch()
            self.found[key] = measure_batch_dependence(
                session, workload, reference, art.task, batch_sizes, fixed_batch=fixed
            )
        found = self.found[key]
        return quality if found is None else quality.with_(batch_dependence=found)
