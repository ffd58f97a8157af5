"""Per-node quality of a quantized variant against a model with a known bad layer (measure/node_quality.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from lepton.hardware import detect_hardware
from lepton.ir.artifact import Artifact
from lepton.ir.signature import Signature
from lepton.ir.source import OnnxSource
from lepton.measure.node_quality import node_quality
from lepton.passes import PASSES, PassContext, apply_chain
from lepton.store import Store

D = 32


def bad_layer_model(path: Path) -> Path:
    """x -> fc1 (+ bias 1000 on one channel) -> relu -> fc2 -> relu -> fc3 -> relu -> fc4 -> y. fc2's input spans
    [0, 1000] in one channel and about [0, 1] in the rest, and fc2 barely reads that channel: int8 with one scale
    per tensor rounds the channels it does read to zero. fc2 is the bad layer; the others quantize well."""
    rng = np.random.default_rng(0)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.3).astype(np.float32)

    b1 = np.zeros(D, np.float32)
    b1[0] = 1000.0
    w2 = w(D, D)
    w2[0, :] = 1e-4
    inits = [numpy_helper.from_array(a, n) for a, n in ((w(D, D), "w1"), (b1, "b1"), (w2, "w2"), (w(D, D), "w3"))]
    inits.append(numpy_helper.from_array(w(D, D), "w4"))
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["m1"], name="fc1"),
        helper.make_node("Add", ["m1", "b1"], ["a1"], name="bias1"),
        helper.make_node("Relu", ["a1"], ["r1"], name="relu1"),
        helper.make_node("MatMul", ["r1", "w2"], ["m2"], name="fc2"),
        helper.make_node("Relu", ["m2"], ["r2"], name="relu2"),
        helper.make_node("MatMul", ["r2", "w3"], ["m3"], name="fc3"),
        helper.make_node("Relu", ["m3"], ["r3"], name="relu3"),
        helper.make_node("MatMul", ["r3", "w4"], ["y"], name="fc4"),
    ]
    graph = helper.make_graph(
        nodes,
        "bad-layer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", D])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", D])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Artifact, list[dict[str, np.ndarray]]]:
    folder = tmp_path_factory.mktemp("bad-layer")
    store = Store(folder / "home")
    path = bad_layer_model(folder / "bad.onnx")
    with store.workdir() as wd:
        shutil.copy(path, wd / "model.onnx")
        art = store.commit_artifact(wd, signature=Signature.from_onnx(onnx.load(str(path))), source=OnnxSource())
    rng = np.random.default_rng(1)
    return store, art, [{"x": rng.standard_normal((16, D)).astype(np.float32)} for _ in range(2)]


@pytest.mark.parametrize("pass_name", ["quantize-dynamic", "quantize-static"])
def test_the_bad_layer_ranks_first(pass_name: str, bad: tuple[Store, Artifact, list[dict[str, np.ndarray]]]) -> None:
    store, art, feeds = bad
    ctx = PassContext(store=store, hardware=detect_hardware(), calibration=feeds)
    variant = apply_chain(art, [PASSES.get(pass_name)()], ctx)
    report = node_quality(art.model_path, variant.model_path, feeds)
    first = report.nodes[0]
    assert first.node == "fc2" and first.quantized
    assert first.sqnr_db < 10 < first.input_sqnr_db  # the signal breaks here, not upstream
    assert report.output_cosine < 0.95 and report.rows == 32
    assert all(n.added_noise < first.added_noise / 100 for n in report.nodes[1:])  # downstream only inherits


def test_a_node_kept_in_float_is_marked_and_recovers_the_output(
    bad: tuple[Store, Artifact, list[dict[str, np.ndarray]]],
) -> None:
    store, art, feeds = bad
    ctx = PassContext(store=store, hardware=detect_hardware(), calibration=feeds)
    quant = PASSES.get("quantize-dynamic")().excluding(["fc2"])
    variant = apply_chain(art, [quant], ctx)
    report = node_quality(art.model_path, variant.model_path, feeds, kept_float=["fc2"])
    fc2 = next(n for n in report.nodes if n.node == "fc2")
    assert fc2.kept_float and not fc2.quantized
    assert report.output_cosine > 0.99
    assert report.top(3) and "fc2" not in report.top(3)


def test_the_sensitivity_stages_losses_rank_first_where_it_measured(
    bad: tuple[Store, Artifact, list[dict[str, np.ndarray]]],
) -> None:
    store, art, feeds = bad
    ctx = PassContext(store=store, hardware=detect_hardware(), calibration=feeds)
    variant = apply_chain(art, [PASSES.get("quantize-dynamic")()], ctx)
    report = node_quality(art.model_path, variant.model_path, feeds).with_stage_losses({"fc4": 0.5, "fc3": 0.1})
    assert [n.node for n in report.nodes[:3]] == ["fc4", "fc3", "fc2"]  # measured first, then by added noise
    assert report.nodes[0].stage_loss == 0.5 and report.nodes[2].stage_loss is None


def test_the_recovery_measured_by_switching_is_what_quantizing_again_without_the_node_gives(
    bad: tuple[Store, Artifact, list[dict[str, np.ndarray]]],
) -> None:
    store, art, feeds = bad
    ctx = PassContext(store=store, hardware=detect_hardware(), calibration=feeds)
    variant = apply_chain(art, [PASSES.get("quantize-static")()], ctx)
    report = node_quality(art.model_path, variant.model_path, feeds, measure_rows=32)
    first = report.nodes[0]
    assert first.node == "fc2" and first.recovered is not None and first.recovered > 0.02
    assert report.measured == sum(n.quantized for n in report.nodes) >= 3 and report.measured_rows == 32
    assert all(n.recovered is not None and n.recovered < first.recovered / 10 for n in report.nodes[1:])
    assert report.switched_cosine == pytest.approx(report.output_cosine, abs=1e-3)  # the switches cost nothing
    again = apply_chain(art, [PASSES.get("quantize-static")().excluding(["fc2"])], ctx)
    kept = node_quality(art.model_path, again.model_path, feeds, ["fc2"], measured=0)
    assert kept.output_cosine - report.output_cosine == pytest.approx(first.recovered, abs=2e-3)


def test_the_recovery_runs_on_the_first_rows_only_cutting_a_large_batch(
    bad: tuple[Store, Artifact, list[dict[str, np.ndarray]]],
) -> None:
    store, art, feeds = bad
    ctx = PassContext(store=store, hardware=detect_hardware(), calibration=feeds)
    variant = apply_chain(art, [PASSES.get("quantize-static")()], ctx)
    report = node_quality(art.model_path, variant.model_path, feeds, measure_rows=5)
    assert report.rows == 32 and report.measured_rows == 5 and report.nodes[0].node == "fc2"
    assert node_quality(art.model_path, variant.model_path, feeds, measured=0).measured == 0
