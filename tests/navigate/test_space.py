"""The search space comes from the registries: what passes propose, what engines run, and plug-ins alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
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
    chains = [c for c, _ in proposed_chains(tiny_artifact)]
    assert [p.name for p in chains[0]] == ["optimize-graph", "quantize-dynamic"]
    assert chains[0][1].params.per_channel is True and chains[0][1].params.weight_type == "qint8"
    plain = candidates(tiny_artifact, fake_hardware(flags=("avx512_vnni",)))
    assert plain[0].passes == [] and plain[0].label == "fp32"
    skipped = {c.label: c.skip_reason for c in plain if c.skip_reason}
    assert any("fp16" in label for label in skipped) and all(skipped.values())
    # no chain is proposed twice, and every label tells the chains apart
    assert len({c.label for c in plain}) == len(plain)


def test_a_transformer_gets_fusion_and_other_graphs_get_graph_optimization(tiny_artifact: Artifact) -> None:
    names = {p.name for chain, _ in proposed_chains(tiny_artifact) for p in chain}
    assert "optimize-graph" in names and "fuse-transformer" not in names


def test_only_searched_engines_that_run_the_model_are_searched(tiny_artifact: Artifact) -> None:
    # PyTorch runs only a model with a PyTorch source (none here); ONNX Runtime and OpenVINO both open ONNX
    assert search_engines(tiny_artifact) == (["onnxruntime", "openvino"], {})
    assert ENGINES.get("torch").searched and not ENGINES.get("torch").served


def test_pytorch_one_liners_are_searched_on_the_source_model_only(digits_mlp: Any) -> None:
    import torch

    import lepton
    from lepton.passes import apply_chain
    from lepton.store import Store

    art = lepton.import_model(digits_mlp[0], example_input=torch.zeros(1, 64), name="digits")
    assert "torch" in search_engines(art)[0]
    ctx = PassContext(store=Store(), hardware=fake_hardware())
    variant = apply_chain(art, [PASSES.get("quantize-dynamic")()], ctx)
    assert "torch" not in search_engines(variant)[0]  # an optimized variant has no PyTorch module


def test_a_prior_skips_openvino_on_onnx_runtime_int8(tiny_artifact: Artifact) -> None:
    from lepton.passes import apply_chain
    from lepton.store import Store

    ctx = PassContext(store=Store(), hardware=fake_hardware())
    int8 = apply_chain(tiny_artifact, [PASSES.get("quantize-dynamic")()], ctx)
    engines, skipped = search_engines(int8)
    assert engines == ["onnxruntime"] and "0 int8 layers" in skipped["openvino"]
    assert search_engines(int8, exhaustive=True) == (["onnxruntime", "openvino"], {})


def test_each_engine_proposes_its_own_runtime_settings() -> None:
    bf16 = fake_hardware(flags=("avx512_bf16",))
    ort = ENGINES.get("onnxruntime")().runtime_options(bf16, [1, 8])
    ov = ENGINES.get("openvino")().runtime_options(bf16, [1])
    assert {(rc.intra_op_threads, rc.batch_size) for rc in ort} == {(2, 1), (1, 1), (2, 8), (1, 8)}
    assert {(rc.intra_op_threads, rc.options["precision"]) for rc in ov} == {(2, "f32"), (1, "f32"), (2, "bf16")}
    plain = ENGINES.get("openvino")().runtime_options(fake_hardware(), [1])
    assert all(rc.options["precision"] == "f32" for rc in plain)  # bf16 only where the CPU has it natively


def test_a_prior_skips_what_rarely_pays_unless_exhaustive(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 8, 8])],
        [w],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "cnn.onnx"))
    art = lepton.import_model(tmp_path / "cnn.onnx")
    hw = fake_hardware(flags=("avx512_vnni",))
    dynamic = [c for c in candidates(art, hw) if c.passes and c.passes[-1].name == "quantize-dynamic"]
    assert dynamic and all((c.skip_reason or "").startswith("prior: on CNNs dynamic int8") for c in dynamic)
    tried = [c for c in candidates(art, hw, exhaustive=True) if c.passes and c.passes[-1].name == "quantize-dynamic"]
    assert tried and not any(c.skip_reason for c in tried)


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
    assert tried and all(t.status != "failed" for t in tried), [(t.engine, t.error) for t in tried]
    assert {t.engine for t in tried} == {"onnxruntime", "openvino"}  # on every searched engine that runs it
    assert all((t.quality.cosine or 0) >= 0.9999 for t in tried)  # the rewrite kept the outputs (bf16 aside)
    assert "negate-twice" not in PASSES  # registered for the block only


def test_a_pass_for_another_model_family_is_not_proposed(tiny_artifact: Artifact) -> None:
    class ConvOnly(Negate):
        """Proposed only on convolutional networks."""

        model_families = frozenset({"conv"})

    with PASSES.registered("conv-only", ConvOnly):
        assert not any(p.name == "conv-only" for chain, _ in proposed_chains(tiny_artifact) for p in chain)
