"""Small real models for the pass tests: an MLP trained on sklearn digits (Gemm nodes, as exporters write
them) and a small CNN (Conv/Relu/BatchNorm), each committed to the test's own store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_models import small_cnn
from pass_helpers import commit

from lepton.hardware import Hardware, detect_hardware
from lepton.ir.artifact import Artifact
from lepton.passes import PassContext
from lepton.store import Store


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y.astype(np.int64)


def _save(model: onnx.ModelProto, path: Path) -> Path:
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def digits_mlp_onnx(tmp_path_factory: pytest.TempPathFactory, digits: tuple[np.ndarray, np.ndarray]) -> Path:
    """64 -> 256 -> 128 -> 10, trained briefly on digits; Gemm nodes with transB=1 like torch writes them."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=30, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(x, y)
    inits, nodes, prev = [], [], "x"
    for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_, strict=True)):
        inits += [
            numpy_helper.from_array(w.T.astype(np.float32).copy(), f"w{i}"),
            numpy_helper.from_array(b.astype(np.float32), f"b{i}"),
        ]
        out = f"g{i}" if i < len(clf.coefs_) - 1 else "logits"
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [out], name=f"fc{i}", transB=1))
        if i < len(clf.coefs_) - 1:
            nodes.append(helper.make_node("Relu", [out], [f"r{i}"], name=f"relu{i}"))
            prev = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return _save(model, tmp_path_factory.mktemp("models") / "digits_mlp.onnx")


@pytest.fixture(scope="session")
def cnn_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """x[batch,1,8,8] -> Conv(8) -> BatchNorm -> Relu -> Conv(16) -> Relu -> GAP -> Flatten -> Gemm."""
    return small_cnn(tmp_path_factory.mktemp("models") / "cnn.onnx")


@pytest.fixture
def store(lepton_home: Path) -> Store:
    return Store()


@pytest.fixture
def mlp(store: Store, digits_mlp_onnx: Path) -> Artifact:
    out: Artifact = commit(store, digits_mlp_onnx, files={"tokenizer": "tokenizer"})
    return out


@pytest.fixture
def cnn(store: Store, cnn_onnx: Path) -> Artifact:
    out: Artifact = commit(store, cnn_onnx)
    return out


@pytest.fixture
def hw() -> Hardware:
    return detect_hardware()


@pytest.fixture
def digits_feeds(digits: tuple[np.ndarray, np.ndarray]) -> list[dict[str, np.ndarray]]:
    x, _ = digits
    return [{"x": x[i : i + 64]} for i in range(0, 256, 64)]


@pytest.fixture
def ctx_for(store: Store, hw: Hardware, digits_feeds: list[dict[str, np.ndarray]]) -> Callable[..., PassContext]:
    def make(**kw: object) -> PassContext:
        return PassContext(store=store, hardware=kw.pop("hardware", hw), **kw)  # type: ignore[arg-type]

    return make
