"""The NNCF passes on real models and real OpenVINO sessions: int8 IR that is smaller, runs int8, and keeps
quality; accuracy control that meets its bound where plain int8 misses it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from pass_helpers import commit

from lepton.engines import ENGINES, open_session
from lepton.engines.base import RuntimeConfig
from lepton.engines.openvino import OpenVinoSession
from lepton.errors import UserError
from lepton.hardware import Hardware
from lepton.ir.artifact import Artifact
from lepton.ir.openvino_ir import read_model
from lepton.passes import PassContext, apply_chain, apply_pass, create
from lepton.passes.openvino import looks_like_transformer
from lepton.quality import fidelity
from lepton.store import Store

Feeds = dict[str, np.ndarray]


def ov_session(artifact: Artifact, runtime: RuntimeConfig | None = None) -> OpenVinoSession:
    """An OpenVINO session, typed as one (its ``settings`` say what it compiled with)."""
    session = open_session("openvino", artifact, runtime or RuntimeConfig())
    assert isinstance(session, OpenVinoSession)
    return session


@pytest.fixture(scope="session")
def outlier_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """x[batch,64] -> fc0 -> Relu -> fc1 -> Relu -> fc2 -> logits[batch,10], where one hidden unit of fc0 runs
    ~1000x larger than the rest and fc1 scales it back: fine in float, but per-tensor int8 on fc1's input
    flattens the other 255 units, so plain int8 loses fidelity that reverting fc1 restores."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((64, 256)).astype(np.float32) * 0.2
    w0[:, 0] *= 1000.0
    w1 = rng.standard_normal((256, 128)).astype(np.float32) * 0.1
    w1[0, :] /= 1000.0
    w2 = rng.standard_normal((128, 10)).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("MatMul", ["x", "w0"], ["h0"], name="fc0"),
        helper.make_node("Relu", ["h0"], ["r0"], name="relu0"),
        helper.make_node("MatMul", ["r0", "w1"], ["h1"], name="fc1"),
        helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
        helper.make_node("MatMul", ["r1", "w2"], ["logits"], name="fc2"),
    ]
    graph = helper.make_graph(
        nodes,
        "outlier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(w, n) for w, n in [(w0, "w0"), (w1, "w1"), (w2, "w2")]],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("models") / "outlier.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture
def outlier(store: Store, outlier_onnx: Path) -> Artifact:
    out: Artifact = commit(store, outlier_onnx)
    return out


@pytest.fixture
def outlier_feeds() -> list[Feeds]:
    rng = np.random.default_rng(1)
    return [{"x": np.abs(rng.standard_normal((8, 64))).astype(np.float32)} for _ in range(8)]


def outputs(art: Artifact, feeds: list[Feeds]) -> np.ndarray:
    session = ov_session(art)
    return np.concatenate([session.run(f)[art.signature.output_names[0]] for f in feeds])


def int8_layers(art: Artifact) -> int:
    return int(ov_session(art).settings["int8_layers"])


def test_int8_of_the_mlp_is_openvino_ir_smaller_runs_int8_and_keeps_accuracy(
    mlp: Artifact,
    ctx_for: Callable[..., PassContext],
    digits_feeds: list[Feeds],
    digits: tuple[np.ndarray, np.ndarray],
) -> None:
    ctx = ctx_for(calibration=digits_feeds)

    child = apply_pass(mlp, create("quantize-nncf"), ctx)

    assert child.format == "openvino" and child.model_path.name == "model.xml" and (child.path / "model.bin").exists()
    assert child.size_mb < 0.5 * mlp.size_mb
    assert child.lineage.parent == mlp.id and child.lineage.pass_params["calibration"] == ctx.calibration_key()
    session = ov_session(child)
    assert session.settings["int8_layers"] == 3 and session.settings["float_layers"] == 0
    assert session.settings["precision"] == "f32"  # the float parts stay f32: no silent bf16
    x, y = digits
    float_acc = np.mean(np.argmax(ov_session(mlp).run({"x": x})["logits"], 1) == y)
    int8_acc = np.mean(np.argmax(session.run({"x": x})["logits"], 1) == y)
    assert abs(float_acc - int8_acc) <= 0.02
    assert ENGINES.get("onnxruntime")().unavailable(child) is not None  # the navigator never pairs them
    assert apply_chain(mlp, [create("quantize-nncf")], ctx).id == child.id  # cached by (parent, pass, params)


def test_cnn_gets_the_default_preset_and_runs_int8_convolutions(
    cnn: Artifact, ctx_for: Callable[..., PassContext]
) -> None:
    x = np.random.default_rng(0).random((16, 1, 8, 8)).astype(np.float32)
    ctx = ctx_for(calibration=[{"x": x[i : i + 4]} for i in range(0, 16, 4)])

    child = apply_pass(cnn, create("quantize-nncf"), ctx)

    assert not looks_like_transformer(read_model(cnn.model_path))
    assert int8_layers(child) == 3  # two convolutions and the classifier
    cos = fidelity(outputs(cnn, [{"x": x}]), outputs(child, [{"x": x}]))["cosine"]
    assert cos > 0.99


def test_accuracy_control_meets_the_bound_that_plain_int8_misses(
    outlier: Artifact, outlier_feeds: list[Feeds], ctx_for: Callable[..., PassContext]
) -> None:
    ctx = ctx_for(calibration=outlier_feeds)
    bound = 0.002
    reference = outputs(outlier, outlier_feeds)

    plain = apply_pass(outlier, create("quantize-nncf"), ctx)
    controlled = apply_pass(outlier, create("quantize-nncf-accuracy", max_drop=bound), ctx)

    plain_drop = 1.0 - fidelity(reference, outputs(plain, outlier_feeds))["cosine"]
    controlled_drop = 1.0 - fidelity(reference, outputs(controlled, outlier_feeds))["cosine"]
    assert plain_drop > bound  # the case is real: int8 everywhere costs more than the bound
    assert controlled_drop <= bound
    assert 0 < int8_layers(controlled) < int8_layers(plain) == 3  # only what hurt went back to float
    assert controlled.lineage.pass_params["max_drop"] == bound


def test_accuracy_control_judges_task_accuracy_when_labels_exist(
    outlier: Artifact, outlier_feeds: list[Feeds], ctx_for: Callable[..., PassContext]
) -> None:
    plain = apply_pass(outlier, create("quantize-nncf"), ctx_for(calibration=outlier_feeds))
    # labels the fully int8 model gets right: by accuracy nothing needs to return to float (fidelity would)
    labels = [np.argmax(ov_session(plain).run(f)["logits"], 1) for f in outlier_feeds]
    ctx = ctx_for(calibration=outlier_feeds, labels=labels)

    controlled = apply_pass(outlier, create("quantize-nncf-accuracy", max_drop=0.002), ctx)

    assert int8_layers(controlled) == 3
    assert "labels" in controlled.lineage.pass_params  # labels are part of the cache key


def test_already_quantized_and_nothing_to_quantize_are_refused(
    mlp: Artifact, store: Store, hw: Hardware, ctx_for: Callable[..., PassContext], tmp_path: Path
) -> None:
    child = apply_pass(mlp, create("quantize-nncf"), ctx_for())
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "relu.onnx"))
    relu = commit(store, tmp_path / "relu.onnx")

    for name in ("quantize-nncf", "quantize-nncf-accuracy"):
        assert create(name).check(child, hw) == "the model is already quantized"
        assert create(name).check(relu, hw) == "no MatMul/Gemm/Conv to quantize"
    with pytest.raises(UserError, match="quantize-nncf: param model_type should be"):
        create("quantize-nncf", model_type="llm")  # a bad param is the user's mistake, refused when made
    with pytest.raises(UserError, match="quantize-nncf-accuracy: param max_drop should be less than 1; got 2.0"):
        create("quantize-nncf-accuracy", max_drop=2.0)


@pytest.mark.slow
def test_minilm_int8_transformer_preset_keeps_embeddings(
    minilm_imported: Path, store: Store, ctx_for: Callable[..., PassContext]
) -> None:
    """(``minilm_imported``: the session's one MiniLM export in this test's store, so import_example reuses it.)"""
    from lepton.examples import example_sentences, import_example
    from lepton.measure.workload import text_workload

    art = import_example("minilm", store)
    workload = text_workload(art, example_sentences(), source="bundled sentences")

    child = apply_pass(art, create("quantize-nncf"), ctx_for(calibration=workload.batches(8, 8)))

    assert looks_like_transformer(read_model(art.model_path))
    assert child.size_mb < 0.5 * art.size_mb and int8_layers(child) > 30
    rows = list(workload.chunks(32))
    assert fidelity(outputs(art, rows), outputs(child, rows))["cosine"] > 0.99


def test_a_fixed_batch_model_calibrates_on_batches_it_takes(
    store: Store, ctx_for: Callable[..., PassContext], tmp_path: Path
) -> None:
    """A model that takes exactly one row (``x [1, 1, 8, 8]``, like public OCR and layout models) calibrated on
    batches of four rows: every int8 pass re-cuts them (labels alike) rather than failing on the shape."""
    from onnx_models import small_cnn

    fixed = commit(store, small_cnn(tmp_path / "fixed.onnx", batch=1))
    rng = np.random.default_rng(0)
    feeds = [{"x": rng.random((4, 1, 8, 8)).astype(np.float32)} for _ in range(4)]
    labels = [np.argmax(np.concatenate([outputs(fixed, [{"x": r[None]}]) for r in f["x"]]), 1) for f in feeds]
    ctx = ctx_for(calibration=feeds, labels=labels)

    recut = ctx.feeds(fixed)
    assert len(recut) == 16 and all(f["x"].shape == (1, 1, 8, 8) for f in recut)
    assert [lab.tolist() for lab in ctx.labels_for(fixed) or []] == [[v] for lab in labels for v in lab.tolist()]

    for name in ("quantize-nncf", "quantize-nncf-accuracy", "quantize-static"):
        child = apply_pass(fixed, create(name), ctx)
        engine = "openvino" if child.format == "openvino" else "onnxruntime"
        out = open_session(engine, child).run(recut[0])["logits"]
        assert out.shape == (1, 10), name
