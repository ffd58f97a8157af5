"""The chains the navigator tries by default, best recipe first, and the sensitivity-guided int8 variants.

The recipe measured best for transformer encoders on a 2-core AVX512-VNNI CPU:
fuse the graph, then dynamic int8 with signed per-channel weights, keeping the few most
sensitive MatMul nodes in float when the fidelity target needs it. Figures: the passes report to the lead
(MiniLM, length 128, batch 32, side by side in one process).
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from lepton.cost.hardware import Hardware
from lepton.ir.artifact import Artifact
from lepton.passes.base import Feeds, Pass, PassContext
from lepton.passes.chain import apply_chain
from lepton.passes.graph import FuseTransformer, OptimizeGraph, looks_like_encoder
from lepton.passes.precision import BFloat16, Float16
from lepton.passes.prune import StructuredPrune
from lepton.passes.quantize import DynamicInt8, StaticInt8
from lepton.passes.sensitivity import SensitivityReport, measure_sensitivity


def graph_chain(artifact: Artifact) -> list[Pass]:
    """Fusion for transformer encoders, ONNX Runtime's portable offline optimization for the rest."""
    model = onnx.load(str(artifact.model_path), load_external_data=False)
    return [FuseTransformer()] if looks_like_encoder(model) else [OptimizeGraph(level="extended")]


def candidate_chains(artifact: Artifact, hw: Hardware, *, with_pruning: bool = False) -> list[list[Pass]]:
    """The default chains to try on ``artifact`` (the empty chain is the float baseline), best-known first.

    Chains whose first pass refuses this artifact or machine are left out; later steps may still raise
    NotApplicable when applied, which the navigator records as the candidate's reason.
    """
    g = graph_chain(artifact)
    chains: list[list[Pass]] = [
        [*g, DynamicInt8(per_channel=True, weight_type="qint8")],
        [DynamicInt8(per_channel=True, weight_type="qint8")],
        [StaticInt8(calibrate_method="percentile", per_channel=True)],  # fails on fused graphs (histograms)
        [*g, DynamicInt8(per_channel=False, weight_type="qint8")],
        [],
        g,
        [*g, Float16()],
        [*g, BFloat16()],
    ]
    if with_pruning:
        chains.append([*g, StructuredPrune(sparsity=0.25), DynamicInt8()])
    return [c for c in chains if not c or c[0].check(artifact, hw) is None]


def sensitivity_candidates(
    artifact: Artifact,
    ctx: PassContext,
    *,
    feeds: Sequence[Feeds] | None = None,
    target: float = 0.99,
    quant: DynamicInt8 | None = None,
    extra_ks: Sequence[int] = (0,),
) -> tuple[SensitivityReport, list[list[Pass]]]:
    """Measure per-node sensitivity on the graph-optimized model and return int8 chains that keep the top-k
    nodes in float, for the k that reaches ``target`` and its neighbours.

    ``feeds`` should be real inputs shaped like production (e.g. sentences padded to the serving length):
    dynamic quantization scales activations per batch, so padding changes what it sees.
    """
    g = graph_chain(artifact)
    base = apply_chain(artifact, g, ctx)
    quant = quant or DynamicInt8(per_channel=True, weight_type="qint8")
    report = measure_sensitivity(base, ctx, quant, feeds=feeds, target=target)
    params = quant.params()
    chains: list[list[Pass]] = []
    for k in report.candidate_ks(extra_ks):
        chains.append([*g, DynamicInt8(**{**params, "nodes_to_exclude": report.top(k)})])
    return report, chains
