"""Small ONNX models shaped like ones users bring: integer inputs that index tables, masks, state, scalars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(model: onnx.ModelProto, path: Path) -> Path:
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def embedding_model(path: Path, *, segment_rows: int = 4, vocab: int = 50, positions: int = 64) -> Path:
    """Four int64 inputs sharing a dynamic length, like an exported text encoder:

    ``input_ids`` -> Gather on a ``vocab``-row word table; ``segment`` -> Cast(int32) -> Sub(1) -> Gather on a
    ``segment_rows``-row table (valid values 1..segment_rows); ``position_ids`` -> Gather on a position table;
    ``attention_mask`` -> Unsqueeze -> Cast -> Mul (masked mean pooling) -> MatMul -> ``out [batch, 8]``.
    """
    rng = np.random.default_rng(0)
    dim = 16

    def table(name: str, rows: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal((rows, dim)).astype(np.float32), name)

    inits = [
        table("word", vocab),
        table("seg_table", segment_rows),
        table("pos_table", positions),
        numpy_helper.from_array(np.array(1, dtype=np.int32), "one"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(rng.standard_normal((dim, 8)).astype(np.float32), "proj"),
    ]
    nodes = [
        helper.make_node("Gather", ["word", "input_ids"], ["e_word"], name="word_emb"),
        helper.make_node("Cast", ["segment"], ["seg32"], name="seg_cast", to=TensorProto.INT32),
        helper.make_node("Sub", ["seg32", "one"], ["seg0"], name="seg_shift"),
        helper.make_node("Gather", ["seg_table", "seg0"], ["e_seg"], name="emb"),
        helper.make_node("Gather", ["pos_table", "position_ids"], ["e_pos"], name="pos_emb"),
        helper.make_node("Add", ["e_word", "e_seg"], ["e1"]),
        helper.make_node("Add", ["e1", "e_pos"], ["e2"]),
        helper.make_node("Unsqueeze", ["attention_mask", "axis2"], ["m3"], name="mask_unsqueeze"),
        helper.make_node("Cast", ["m3"], ["mf"], name="mask_cast", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["e2", "mf"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mf", "axis1"], ["count"], keepdims=0),
        helper.make_node("Div", ["summed", "count"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "proj"], ["out"], name="proj"),
    ]
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
        for n in ("input_ids", "segment", "position_ids", "attention_mask")
    ]
    graph = helper.make_graph(
        nodes, "embedder", inputs, [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 8])], inits
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def stateful_model(path: Path) -> Path:
    """A VAD-like model: ``audio [batch, samples]``, ``state [2, batch, 4]`` (batched along axis 1) and a
    scalar ``sr`` that an If compares with 16000 (any other rate takes a branch that fails)."""
    zero = numpy_helper.from_array(np.array([0], dtype=np.int64), "zero")
    then_g = helper.make_graph(
        [helper.make_node("ReduceMean", ["audio"], ["score"], keepdims=1, axes=[1])],
        "ok",
        [],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 1])],
    )
    else_g = helper.make_graph(
        [helper.make_node("Gather", ["audio", "bad"], ["score2"], axis=1)],
        "bad_rate",
        [],
        [helper.make_tensor_value_info("score2", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(np.array([10**6], dtype=np.int64), "bad")],
    )
    nodes = [
        helper.make_node("Constant", [], ["rate"], value=numpy_helper.from_array(np.array(16000, dtype=np.int64))),
        helper.make_node("Equal", ["sr", "rate"], ["is16k"], name="rate_check"),
        helper.make_node("If", ["is16k"], ["score_out"], name="branch", then_branch=then_g, else_branch=else_g),
        helper.make_node("ReduceSum", ["state", "zero"], ["state_sum"], keepdims=0),
        helper.make_node("Identity", ["state"], ["state_out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "vad",
        [
            helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", "samples"]),
            helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 4]),
            helper.make_tensor_value_info("sr", TensorProto.INT64, []),
        ],
        [
            helper.make_tensor_value_info("score_out", TensorProto.FLOAT, ["batch", 1]),
            helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [2, "batch", 4]),
        ],
        [zero],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return _save(model, path)


def reshape_by_input_model(path: Path) -> Path:
    """A model whose integer input is a shape: no range in the graph can make a random guess valid."""
    nodes = [helper.make_node("Reshape", ["x", "new_shape"], ["y"], name="reshape_by_input")]
    graph = helper.make_graph(
        nodes,
        "reshaper",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 6]),
            helper.make_tensor_value_info("new_shape", TensorProto.INT64, [3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["d0", "d1", "d2"])],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
