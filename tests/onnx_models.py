"""Small real ONNX models built in the tests (no download): the CNN several test packages use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def small_cnn(
    path: Path,
    *,
    channels: int = 1,
    size: int = 8,
    batchnorm: bool = True,
    opset: int = 17,
    ir_version: int = 8,
    seed: int = 0,
    batch: int | str = "batch",
) -> Path:
    """x[batch, channels, size, size] -> Conv(8) [-> BatchNorm] -> Relu -> Conv(16) -> Relu -> GlobalAveragePool
    -> Flatten -> Gemm -> logits[batch, 10], saved at ``path`` (checked by onnx). ``batch`` may fix the batch dim."""
    rng = np.random.default_rng(seed)

    def t(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    inits = [t("c1w", 8, channels, 3, 3), t("c1b", 8)]
    nodes = [helper.make_node("Conv", ["x", "c1w", "c1b"], ["c1"], name="conv1", pads=[1, 1, 1, 1])]
    first = "c1"
    if batchnorm:
        inits += [t("bn_s", 8), t("bn_b", 8), t("bn_m", 8)]
        inits += [numpy_helper.from_array(np.abs(rng.standard_normal(8)).astype(np.float32) + 0.5, "bn_v")]
        nodes += [helper.make_node("BatchNormalization", ["c1", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn"], name="bn1")]
        first = "bn"
    inits += [t("c2w", 16, 8, 3, 3), t("c2b", 16), t("fcw", 10, 16), t("fcb", 10)]
    nodes += [
        helper.make_node("Relu", [first], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "c2w", "c2b"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fcw", "fcb"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, channels, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
