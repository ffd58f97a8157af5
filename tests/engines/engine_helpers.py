"""Small real models for the engine tests, built with onnx.helper and committed to the test's store."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx_models import small_cnn

from lepton.ir.artifact import Artifact
from lepton.ir.signature import Signature
from lepton.ir.source import OnnxSource
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
    return small_cnn(path, channels=3, size=16, batchnorm=False)


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
    return np.asarray((TABLE[ids] * m).sum(1) / m.sum(1))


def commit(store: Store, onnx_path: Path, task: str = "generic") -> Artifact:
    with store.workdir() as wd:
        shutil.copy(onnx_path, wd / "model.onnx")
        sig = Signature.from_onnx(onnx.load(str(onnx_path)))
        return store.commit_artifact(wd, signature=sig, task=task, source=OnnxSource())


def commit_ir(store: Store, parent: Artifact) -> Artifact:
    """``parent`` as OpenVINO IR (read and saved by OpenVINO, weights kept fp32), committed as a root artifact."""
    import openvino as ov

    with store.workdir() as wd:
        ov.save_model(ov.Core().read_model(str(parent.model_path)), str(wd / "model.xml"), compress_to_fp16=False)
        return store.commit_artifact(wd, signature=parent.signature, task=parent.task, format="openvino")
