"""The search space comes from the registries: what passes propose, what engines run, and plug-ins alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from machines import fake_hardware
from onnx import helper

import lepton
from lepton.engines.base import ENGINES
from lepton.ir.artifact import Artifact
from lepton.measure.timing import TimingPlan
from lepton.navigate.space import candidates, proposed_chains, search_engines
from lepton.passes import PASSES, PassContext
from lepton.passes.base import Pass, Proposal, load_model, save_model

FAST = {
    "quick": TimingPlan(warmup=1, min_runs=5, min_seconds=0.0, max_seconds=1.0),
    "precise": TimingPlan(warmup=1, min_runs=10, min_seconds=0.0, max_seconds=1.0),
}


def test_the_int8_recipe_comes_first_and_what_the_machine_lacks_is_skipped(tiny_artifact: Artifact) -> None:
    chains = proposed_chains(tiny_artifact)
    assert [p.name for p in chains[0]] == ["optimize-graph", "quantize-dynamic"]
    assert chains[0][1].params()["per_channel"] is True and chains[0][1].params()["weight_type"] == "qint8"
    plain = candidates(tiny_artifact, fake_hardware(flags=("avx512_vnni",)))
    assert plain[0].passes == [] and plain[0].label == "ort fp32"
    skipped = {c.label: c.skip_reason for c in plain if c.skip_reason}
    assert any("fp16" in label for label in skipped) and all(skipped.values())
    # no chain is proposed twice, and every label tells the chains apart
    assert len({c.label for c in plain}) == len(plain)


def test_a_transformer_gets_fusion_and_other_graphs_get_graph_optimization(tiny_artifact: Artifact) -> None:
    names = {p.name for chain in proposed_chains(tiny_artifact) for p in chain}
    assert "optimize-graph" in names and "fuse-transformer" not in names


def test_only_searched_engines_that_run_the_model_are_searched(tiny_artifact: Artifact) -> None:
    assert search_engines(tiny_artifact) == ["onnxruntime"]  # torch eager is a baseline, and has no source here
    assert not ENGINES.get("torch").searched


class Negate(Pass):
    """A plug-in pass: doubles the graph output's sign twice (a real, valid, harmless rewrite)."""

    family = "graph"
    proposals = (Proposal(rank=45),)

    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        model = load_model(artifact)
        out = model.graph.output[0].name
        for n in model.graph.node:
            n.output[:] = [o if o != out else out + "_pre" for o in n.output]
        model.graph.node.extend(
            [
                helper.make_node("Neg", [out + "_pre"], [out + "_neg"], name="plugin_neg1"),
                helper.make_node("Neg", [out + "_neg"], [out], name="plugin_neg2"),
            ]
        )
        save_model(model, work)


def test_a_registered_plug_in_pass_is_searched_without_editing_the_navigator(
    tiny_artifact: Artifact, tmp_path: Path
) -> None:
    x = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x)
    with PASSES.registered("negate-twice", Negate):
        assert any(c.passes and c.passes[0].name == "negate-twice" for c in candidates(tiny_artifact, fake_hardware()))
        result = lepton.optimize(tiny_artifact, data=tmp_path / "d.npz", batch=[1], sensitivity="off", **FAST)
    tried = [t for t in result.trials if [step.pass_ for step in t.chain] == ["negate-twice"]]
    assert tried and all(t.status != "failed" for t in tried)
    assert all(t.quality.cosine == pytest.approx(1.0) for t in tried)  # the rewrite kept the outputs
    assert "negate-twice" not in PASSES  # registered for the block only


def test_a_pass_for_another_model_family_is_not_proposed(tiny_artifact: Artifact) -> None:
    class ConvOnly(Negate):
        """Proposed only on convolutional networks."""

        model_families = frozenset({"conv"})

    with PASSES.registered("conv-only", ConvOnly):
        assert not any(p.name == "conv-only" for chain in proposed_chains(tiny_artifact) for p in chain)
