"""Small real models for the engine tests, built with onnx.helper and committed to the test's store."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lepton.ir.artifact import Artifact
from lepton.ir.signature import Signature
from lepton.store import Store

TABLE = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def cnn_model(path: Path) -> Path:
    """x[batch,3,16,16] -> Conv(8) -> Relu -> Conv(16) -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> [batch,10]."""
    rng = np.random.default_rng(0)

    def t(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "c1w", "c1b"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "c2w", "c2b"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fcw", "fcb"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [t("c1w", 8, 3, 3, 3), t("c1b", 8), t("c2w", 16, 8, 3, 3), t("c2b", 16), t("fcw", 10, 16), t("fcb", 10)],
    )
    return _save(graph, path)


def token_model(path: Path) -> Path:
    """input_ids, attention_mask int64 [batch, sequence] -> masked mean of an embedding table -> emb [batch, 8]."""
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["tok"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["tok", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),
        helper.make_node("Div", ["summed", "count"], ["emb"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tokens",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["batch", 8])],
        [
            numpy_helper.from_array(TABLE, "table"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        ],
    )
    return _save(graph, path)


def token_reference(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """What ``token_model`` computes, in numpy."""
    m = mask[..., None].astype(np.float32)
    return (TABLE[ids] * m).sum(1) / m.sum(1)


def commit(store: Store, onnx_path: Path, task: str = "generic") -> Artifact:
    with store.workdir() as wd:
        shutil.copy(onnx_path, wd / "model.onnx")
        sig = Signature.from_onnx(onnx.load(str(onnx_path)))
        return store.commit_artifact(wd, signature=sig, task=task, source={"kind": "onnx"})


def commit_ir(store: Store, parent: Artifact) -> Artifact:
    """``parent`` as OpenVINO IR (read and saved by OpenVINO, weights kept fp32), committed as a root artifact."""
    import openvino as ov

    with store.workdir() as wd:
        ov.save_model(ov.Core().read_model(str(parent.model_path)), str(wd / "model.xml"), compress_to_fp16=False)
        return store.commit_artifact(
            wd, signature=parent.signature, task=parent.task, source={"kind": "openvino"}, format="openvino"
        )
