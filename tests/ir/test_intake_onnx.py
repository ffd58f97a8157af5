"""Intake of .onnx files and folders: validation, copying, naming, pins, and a clean store on failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from intake_helpers import assert_store_empty, run_artifact, store_rows
from onnx import helper, numpy_helper

from lepton.errors import IntakeError, UserError
from lepton.ir.artifact import Artifact
from lepton.ir.onnx_intake import ort_max_opset
from lepton.store import Store
from lepton.store.intake import import_model


def _relu_model(opset: int) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model


@pytest.fixture
def external_onnx(tmp_path: Path) -> Path:
    """x[batch, 64] @ w[64, 32] with ``w`` (8 KB) kept in an external file ``weights.bin``."""
    w = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 32])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    folder = tmp_path / "ext"
    folder.mkdir()
    path = folder / "matmul.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location="weights.bin", size_threshold=0)
    return path


def test_onnx_file_is_stored_named_and_runs_like_the_original(tiny_onnx: Path, store: Store) -> None:
    art = import_model(tiny_onnx, store=store)

    x = np.random.default_rng(1).standard_normal((7, 8)).astype(np.float32)
    want = ort.InferenceSession(str(tiny_onnx)).run(None, {"x": x})[0]
    assert art.name == "mlp"
    assert store.model_artifact("mlp") == Artifact.load(art.path)
    assert art.signature.input("x").shape == ("batch", 8)
    assert art.task == "generic" and art.source is not None and art.source.kind == "onnx"
    np.testing.assert_array_equal(run_artifact(art, {"x": x})[0], want)


def test_unnamed_nodes_get_unique_names_and_named_ones_keep_theirs(tmp_path: Path, store: Store) -> None:
    body = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["nx"])], "then", [], [helper.make_tensor_value_info("nx", 1, ["batch", 4])]
    )
    other = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["rx"], name="Relu_0")], "else", [],
        [helper.make_tensor_value_info("rx", 1, ["batch", 4])],
    )  # fmt: skip
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["r"]),
            helper.make_node("ReduceMax", ["r"], ["m"], keepdims=0),
            helper.make_node("Cast", ["m"], ["c"], to=onnx.TensorProto.BOOL, name="keep_me"),
            helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=other),
        ],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "if.onnx"))
    art = import_model(tmp_path / "if.onnx", store=store)

    stored = onnx.load(str(art.model_path))
    top = [n.name for n in stored.graph.node]
    inner = [n.name for n in stored.graph.node[3].attribute[0].g.node] + [
        n.name for n in stored.graph.node[3].attribute[1].g.node
    ]
    names = top + inner
    assert all(names) and len(set(names)) == len(names) and "keep_me" in top and "Relu_0" in inner
    x = np.array([[1.0, -2.0, 3.0, 0.5]], dtype=np.float32)
    np.testing.assert_array_equal(run_artifact(art, {"x": x})[0], -x)


def test_task_and_name_can_be_given(tiny_onnx: Path, store: Store) -> None:
    art = import_model(tiny_onnx, name="scorer", task="regression", store=store)

    assert (art.name, art.task) == ("scorer", "regression")
    assert [m["name"] for m in store.models()] == ["scorer"]


def test_unknown_task_is_a_user_error(tiny_onnx: Path, store: Store) -> None:
    with pytest.raises(UserError, match="task 'vision' is not one of"):
        import_model(tiny_onnx, task="vision", store=store)


def test_shape_pins_are_recorded_in_the_signature_and_meta(tiny_onnx: Path, store: Store) -> None:
    art = import_model(tiny_onnx, shapes={"x": (4, 8)}, store=store)

    assert art.signature.pinned == {"x": (4, 8)}
    meta = json.loads((art.path / "meta.json").read_text())
    assert meta["signature"]["pinned"] == {"x": [4, 8]}


def test_a_pin_that_contradicts_a_fixed_dim_is_rejected_and_nothing_is_stored(tiny_onnx: Path, store: Store) -> None:
    with pytest.raises(UserError, match="fixed dim of 8"):
        import_model(tiny_onnx, shapes={"x": (4, 9)}, store=store)
    assert_store_empty(store)


def test_corrupt_file_is_rejected_and_the_store_stays_clean(tiny_onnx: Path, tmp_path: Path, store: Store) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(tiny_onnx.read_bytes()[:150])

    with pytest.raises(IntakeError, match="broken.onnx"):
        import_model(bad, store=store)
    assert_store_empty(store)


def test_text_file_named_onnx_is_rejected(tmp_path: Path, store: Store) -> None:
    bad = tmp_path / "notes.onnx"
    bad.write_text("this is not a model\n" * 20)

    with pytest.raises(IntakeError, match="notes.onnx"):
        import_model(bad, store=store)


def test_missing_external_data_is_rejected_naming_the_file(external_onnx: Path, store: Store) -> None:
    (external_onnx.parent / "weights.bin").unlink()

    with pytest.raises(IntakeError, match=r"missing: weights\.bin"):
        import_model(external_onnx, store=store)
    assert_store_empty(store)


def test_external_data_travels_with_the_artifact(external_onnx: Path, store: Store) -> None:
    art = import_model(external_onnx, store=store)
    shutil.rmtree(external_onnx.parent)  # the stored copy must not depend on the original folder

    x = np.ones((2, 64), np.float32)
    assert sorted(p.name for p in art.path.iterdir()) == ["meta.json", "model.onnx", "model.onnx.data"]
    assert run_artifact(art, {"x": x})[0].shape == (2, 32)


def test_opset_newer_than_onnxruntime_is_rejected(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "future.onnx"
    onnx.save(_relu_model(ort_max_opset() + 1), str(path))

    with pytest.raises(IntakeError, match=f"opset {ort_max_opset() + 1}.*up to {ort_max_opset()}"):
        import_model(path, store=store)


def test_ort_max_opset_is_the_limit_onnxruntime_enforces() -> None:
    limit = ort_max_opset()

    ort.InferenceSession(_relu_model(limit).SerializeToString())
    with pytest.raises(Exception, match=f"opset {limit}"):
        ort.InferenceSession(_relu_model(limit + 1).SerializeToString())


def test_missing_path_is_rejected(tmp_path: Path, store: Store) -> None:
    with pytest.raises(IntakeError, match="no such file or folder"):
        import_model(tmp_path / "nope.onnx", store=store)


def test_folder_that_is_not_a_model_is_rejected_listing_what_it_holds(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "notes.csv").write_text("a,b\n1,2\n")

    with pytest.raises(IntakeError, match=r"not a model .*found: notes\.csv"):
        import_model(folder, store=store)
    assert_store_empty(store)


def test_torch_checkpoint_file_gets_a_hint(tmp_path: Path, store: Store) -> None:
    ckpt = tmp_path / "weights.pt"
    ckpt.write_bytes(b"\x00")

    with pytest.raises(IntakeError, match="torch.nn.Module"):
        import_model(ckpt, store=store)


def test_unsupported_object_is_rejected(store: Store) -> None:
    with pytest.raises(IntakeError, match="cannot import a builtins.dict"):
        import_model({"weights": [1, 2]}, store=store)


def test_in_memory_model_proto_is_accepted(store: Store) -> None:
    art = import_model(_relu_model(17), store=store)

    assert art.name == "relu"
    assert run_artifact(art, {"x": -np.ones((3, 4), np.float32)})[0].sum() == 0


def test_stored_artifact_folder_is_reused_as_is(tiny_onnx: Path, store: Store) -> None:
    art = import_model(tiny_onnx, store=store)

    again = import_model(art.path, name="copy", store=store)
    assert again.id == art.id
    assert store_rows(store) == {"artifacts": 1, "models": 2}


def test_artifact_folder_from_another_store_is_copied_in(tiny_onnx: Path, tmp_path: Path, store: Store) -> None:
    other = import_model(tiny_onnx, shapes={"x": (1, 8)}, store=Store(tmp_path / "other-home"))

    art = import_model(other.path, store=store)
    assert art.id == other.id
    assert art.path.parent == store.artifacts_dir
    assert art.signature == other.signature and art.source == other.source
