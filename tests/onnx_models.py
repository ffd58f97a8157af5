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


def with_extra_work(src: Path, dst: Path, share: float) -> Path:
    """``src`` (one float input ``[batch, n]``, one float output ``[batch, k]``) with a side branch that adds
    about ``share`` of its MatMul work and nothing to its output: ``out + (x @ A) @ 0``. The answers stay the same
    and each call gets slower; ONNX Runtime cannot fold the branch away (it depends on the input)."""
    model = onnx.load(str(src))
    g = model.graph
    x, out = g.input[0], g.output[0]
    n = x.type.tensor_type.shape.dim[-1].dim_value
    k = out.type.tensor_type.shape.dim[-1].dim_value
    macs = sum(
        int(np.prod(numpy_helper.to_array(i).shape)) for i in g.initializer if len(i.dims) == 2
    )  # the MatMul weights' elements: one multiply-add each per row
    m = max(1, round(share * macs / (n + k)))
    rng = np.random.default_rng(1)
    g.initializer.extend(
        [
            numpy_helper.from_array(rng.standard_normal((n, m)).astype(np.float32), "extra_a"),
            numpy_helper.from_array(np.zeros((m, k), np.float32), "extra_zero"),
        ]
    )
    for node in g.node:
        node.output[:] = [f"{out.name}_pre" if o == out.name else o for o in node.output]
    g.node.extend(
        [
            helper.make_node("MatMul", [x.name, "extra_a"], ["extra_h"], name="extra_a"),
            helper.make_node("MatMul", ["extra_h", "extra_zero"], ["extra_z"], name="extra_z"),
            helper.make_node("Add", [f"{out.name}_pre", "extra_z"], [out.name], name="extra_add"),
        ]
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return dst


def batch_one_tagger(path: Path, *, seq: int = 16, vocab: int = 40, dim: int = 12, seed: int = 0) -> Path:
    """A sequence tagger that declares ``x: int64[batch, seq]`` and ``mask: bool[batch, seq]`` but fixes the batch
    at 1 (and its sequence at ``seq``) inside: Gather -> Reshape to ``[1, seq, 3, dim/3]`` (node 'node_view') ->
    MatMul -> ReduceSum over the 3 heads -> tags[batch, seq, 5]. It runs at batch 1 and fails at 2, as exported
    sequence taggers sometimes do. (A shape computed from ``Shape(x)`` would not do: ONNX Runtime folds it.)"""
    rng = np.random.default_rng(seed)
    table = (rng.standard_normal((vocab, dim)) * 0.5).astype(np.float32)
    w = (rng.standard_normal((dim // 3, 5)) * 0.5).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["table", "x"], ["emb"], name="embed"),  # [b, s, dim]
        helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["emb", "mask3"], ["masked"]),
        helper.make_node("Reshape", ["masked", "view_shape"], ["viewed"], name="node_view"),
        helper.make_node("MatMul", ["viewed", "w"], ["per_head"], name="classify"),  # [1, s, 3, 5]
        helper.make_node("ReduceSum", ["per_head", "two"], ["tags"], keepdims=0),  # [1, s, 5]
    ]
    graph = helper.make_graph(
        nodes,
        "tagger",
        [
            helper.make_tensor_value_info("x", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("tags", TensorProto.FLOAT, ["batch", "seq", 5])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(w, "w"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "two"),
            numpy_helper.from_array(np.array([1, seq, 3, dim // 3], dtype=np.int64), "view_shape"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def graph_network(path: Path, *, features: int = 8, hidden: int = 6, seed: int = 0) -> Path:
    """A one-layer message-passing network as graph libraries export it: ``feat: float[num_nodes, features]``,
    ``edge_index: int64[2, num_edges]`` (rows of ``feat``), ``batch: int64[num_nodes]`` (node -> graph).
    Messages Gather the source nodes, ScatterElements adds them into the target nodes, and a ScatterND pools the
    nodes into ``max(batch) + 1`` graphs: out float[num_graphs, hidden]."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((features, hidden)) * 0.3).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["edge_index", "zero"], ["src"], axis=0),  # [E]
        helper.make_node("Gather", ["edge_index", "one"], ["dst"], axis=0),  # [E]
        helper.make_node("Gather", ["feat", "src"], ["msg_in"], axis=0, name="gather_src"),  # [E, F]
        helper.make_node("MatMul", ["msg_in", "w"], ["msg"]),  # [E, H]
        helper.make_node("MatMul", ["feat", "w"], ["self_h"]),  # [N, H]
        helper.make_node("Unsqueeze", ["dst", "axis1"], ["dst_col"]),  # [E, 1]
        helper.make_node("Shape", ["msg"], ["msg_shape"]),
        helper.make_node("Expand", ["dst_col", "msg_shape"], ["dst_idx"]),  # [E, H]
        helper.make_node(
            "ScatterElements", ["self_h", "dst_idx", "msg"], ["agg"], axis=0, reduction="add", name="scatter_dst"
        ),  # [N, H]
        helper.make_node("Relu", ["agg"], ["h"]),
        helper.make_node("ReduceMax", ["batch"], ["last_graph"], keepdims=1),  # [1]
        helper.make_node("Add", ["last_graph", "one_1d"], ["graphs"]),
        helper.make_node("Concat", ["graphs", "hidden"], ["pool_shape"], axis=0),
        helper.make_node(
            "ConstantOfShape", ["pool_shape"], ["pool0"], value=numpy_helper.from_array(np.zeros(1, np.float32))
        ),
        helper.make_node("Unsqueeze", ["batch", "axis1"], ["batch_col"]),  # [N, 1]
        helper.make_node("ScatterND", ["pool0", "batch_col", "h"], ["out"], reduction="add", name="pool"),
    ]
    graph = helper.make_graph(
        nodes,
        "gnn",
        [
            helper.make_tensor_value_info("feat", TensorProto.FLOAT, ["num_nodes", features]),
            helper.make_tensor_value_info("edge_index", TensorProto.INT64, [2, "num_edges"]),
            helper.make_tensor_value_info("batch", TensorProto.INT64, ["num_nodes"]),
        ],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["num_graphs", hidden])],
        [
            numpy_helper.from_array(w, "w"),
            numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
            numpy_helper.from_array(np.array(1, dtype=np.int64), "one"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "one_1d"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
            numpy_helper.from_array(np.array([hidden], dtype=np.int64), "hidden"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
