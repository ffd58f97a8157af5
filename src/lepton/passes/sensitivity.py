"""Per-node quantization sensitivity: which MatMul/Gemm nodes to keep in float to reach a fidelity target.

Each quantizable node is quantized alone (``one-at-a-time``) or all but it (``leave-one-out``); the outputs
are compared with the float model by cosine on the given feeds. Nodes are ranked by the fidelity they cost,
then the smallest top-k whose exclusion reaches the target is found by quantizing all but the top k.

The navigator builds candidates from the ranking::

    report = measure_sensitivity(artifact, ctx, DynamicInt8(), feeds=real_feeds, target=0.99)
    for k in report.candidate_ks():
        chain = [DynamicInt8(nodes_to_exclude=report.top(k))]
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from lepton.errors import NotApplicable, PassError
from lepton.ir.artifact import Artifact
from lepton.ir.onnx_intake import ort_session
from lepton.passes.base import Feeds, Pass, PassContext
from lepton.passes.quantize import DYNAMIC_OPS, DynamicInt8, quantizable_nodes
from lepton.passes.runner import apply_chain, build_scratch
from lepton.similarity import row_cosines

METHODS = ("one-at-a-time", "leave-one-out")


def mean_cosine(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> float:
    """Mean cosine between matching rows (first axis = batch) of two lists of arrays (``row_cosines``' rule)."""
    sims = [row_cosines(a, b) for a, b in zip(reference, candidate, strict=True)]
    return float(np.concatenate(sims).mean())


def run_model(path: Path, feeds: Sequence[Feeds], output: str | None = None) -> list[np.ndarray]:
    """Run an ONNX file on each feed dict with ONNX Runtime (CPU); returns the first (or named) output."""
    sess = ort_session(path, level="all")
    names = [i.name for i in sess.get_inputs()]
    out_name = output or sess.get_outputs()[0].name
    return [sess.run([out_name], {n: f[n] for n in names})[0] for f in feeds]


@dataclass
class NodeScore:
    node: str
    op_type: str
    loss: float  # fidelity this node costs (1 - fidelity alone, or gain when left out)


@dataclass
class SensitivityReport:
    """Nodes ranked most sensitive first, and the fewest to keep in float for ``target``."""

    target: float
    method: str
    all_quantized: float  # fidelity with every node quantized
    ranking: list[NodeScore]
    tried: dict[int, float] = field(default_factory=dict)  # k excluded -> fidelity
    exclude: list[str] = field(default_factory=list)  # the top-k that reaches the target ([] if none did)
    reached: bool = False

    def top(self, k: int) -> list[str]:
        return [s.node for s in self.ranking[:k]]

    def candidate_ks(self, extra: Sequence[int] = (0,)) -> list[int]:
        """k values worth building as candidates: the chosen k, its neighbours, and ``extra``."""
        k = len(self.exclude) if self.reached else max(self.tried, default=0)
        ks = {*extra, k, max(0, k - 1), min(len(self.ranking), k + 2)}
        return sorted(ks)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "method": self.method,
            "all_quantized": self.all_quantized,
            "ranking": [vars(s) for s in self.ranking],
            "tried": {str(k): v for k, v in self.tried.items()},
            "exclude": self.exclude,
            "reached": self.reached,
        }


def _fidelity(
    quant: Pass[Any],
    exclude: Sequence[str],
    artifact: Artifact,
    ctx: PassContext,
    feeds: Sequence[Feeds],
    reference: Sequence[np.ndarray],
    output: str,
) -> float:
    with tempfile.TemporaryDirectory(dir=ctx.store.tmp_dir) as tmp:
        try:
            model = build_scratch(artifact, quant.excluding(exclude), ctx, Path(tmp))
        except PassError as e:
            raise PassError(f"sensitivity: quantizing with {len(exclude)} nodes excluded failed: {e}") from e
        return mean_cosine(reference, run_model(model, feeds, output))


def measure_sensitivity(
    artifact: Artifact,
    ctx: PassContext,
    quant: Pass[Any] | None = None,
    *,
    feeds: Sequence[Feeds] | None = None,
    target: float = 0.99,
    method: str = "one-at-a-time",
    ks: Sequence[int] = (1, 2, 3, 4, 6, 8, 12, 16, 24),
    budget_s: float | None = None,
) -> SensitivityReport:
    """Rank the quantizable nodes of ``artifact`` under ``quant`` (default: dynamic int8, signed per-channel)
    by the fidelity each costs, then find the fewest top nodes to keep in float to reach ``target``.

    ``feeds``: real inputs (default: the context's calibration feeds, else synthesized ones). Costs one
    quantization and one run per node, plus one per k tried.
    """
    quant = quant or DynamicInt8()
    if not quant.keeps_nodes_in_float:
        raise NotApplicable(f"sensitivity analysis needs a pass that can keep nodes in float; {quant.name} cannot")
    if method not in METHODS:
        raise NotApplicable(f"sensitivity method {method!r} is not one of {', '.join(METHODS)}")
    why = quant.check(artifact, ctx.hardware)
    if why:
        raise NotApplicable(f"{quant.name}: {why}")
    feeds = list(feeds) if feeds is not None else ctx.feeds(artifact)
    output = artifact.signature.output_names[0]
    reference = run_model(artifact.model_path, feeds, output)
    model = onnx.load(str(artifact.model_path), load_external_data=False)
    ops = {n.name: n.op_type for n in model.graph.node}
    params = quant.params.to_json()
    fixed = set(params.get("nodes_to_exclude") or ())
    op_types = params.get("op_types") or DYNAMIC_OPS
    nodes = [n for n in quantizable_nodes(model, op_types) if n and n not in fixed]
    if not nodes:
        raise NotApplicable("sensitivity: no named quantizable nodes in the graph")

    def fid(exclude: Sequence[str]) -> float:
        return _fidelity(quant, [*fixed, *exclude], artifact, ctx, feeds, reference, output)

    t0 = time.perf_counter()
    everything = fid([])
    each = time.perf_counter() - t0
    if budget_s is not None and each * (len(nodes) + 2) > budget_s:  # one quantization per node, plus the k tried
        raise NotApplicable(
            f"sensitivity: ranking {len(nodes)} nodes would take about {each * (len(nodes) + 2):.0f} s "
            f"({each:.1f} s per quantization of {quant.name}), over the {budget_s:.0f} s it may take"
        )
    scores = []
    for node in nodes:
        if method == "one-at-a-time":
            loss = 1.0 - fid([n for n in nodes if n != node])
        else:
            loss = fid([node]) - everything
        scores.append(NodeScore(node, ops.get(node, "?"), loss))
    scores.sort(key=lambda s: s.loss, reverse=True)
    report = SensitivityReport(target, method, everything, scores, tried={0: everything})
    if everything >= target:
        report.reached = True
        return report
    for k in sorted({k for k in ks if 0 < k <= len(scores)}):
        f = fid(report.top(k))
        report.tried[k] = f
        if f >= target:
            report.exclude, report.reached = report.top(k), True
            break
    return report


def sensitivity_candidates(
    artifact: Artifact,
    ctx: PassContext,
    prefix: Sequence[Pass[Any]],
    quant: Pass[Any],
    *,
    feeds: Sequence[Feeds] | None = None,
    target: float = 0.99,
    extra_ks: Sequence[int] = (0,),
    budget_s: float | None = None,
) -> tuple[SensitivityReport, list[list[Pass[Any]]]]:
    """Rank the nodes ``quant`` would quantize on ``artifact`` after ``prefix`` (e.g. the graph pass), and return
    chains ``[*prefix, quant keeping the top-k in float]`` for the k that reaches ``target`` and its neighbours.

    ``feeds`` should be real inputs shaped like production (e.g. sentences padded to the serving length):
    dynamic quantization scales activations per batch, so padding changes what it sees.
    """
    base = apply_chain(artifact, prefix, ctx)
    report = measure_sensitivity(base, ctx, quant, feeds=feeds, target=target, budget_s=budget_s)
    return report, [[*prefix, quant.excluding(report.top(k))] for k in report.candidate_ks(extra_ks)]
