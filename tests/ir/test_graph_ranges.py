"""Ranges read from the graph: each integer input followed through the ops that pass it on to what bounds it."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lepton.ir.graph_ranges import input_ranges


def _model(
    nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], inits: list[onnx.TensorProto]
) -> onnx.ModelProto:
    out = helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", inputs, [out], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _int(name: str, shape: list[int | str], kind: int = TensorProto.INT64) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, kind, shape)


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(value, name)


def test_an_index_through_unsqueeze_concat_and_an_added_constant_keeps_its_bound() -> None:
    nodes = [
        helper.make_node("Unsqueeze", ["a", "ax"], ["a2"]),
        helper.make_node("Unsqueeze", ["b", "ax"], ["b2"]),
        helper.make_node("Concat", ["a2", "b2"], ["ab"], axis=1),
        helper.make_node("Add", ["ab", "two"], ["shifted"]),
        helper.make_node("Gather", ["table", "shifted"], ["e"], name="lookup"),
    ]
    inits = [
        _const("ax", np.array([1], dtype=np.int64)),
        _const("two", np.array(2, dtype=np.int64)),
        _const("table", np.zeros((10, 3), dtype=np.float32)),
    ]
    ranges = input_ranges(_model(nodes, [_int("a", ["n"]), _int("b", ["n"])], inits))
    for name in ("a", "b"):  # indexes a 10-row table after +2: 0..7 (values below 0 are not offered)
        r = ranges[name]
        assert (r.kind, r.low, r.high, r.rows) == ("index", 0, 7, 10)
        assert r.why == "indexes Gather 'lookup' on table 'table' (10 rows)"


def test_two_tables_give_the_tighter_bound_and_onehot_gives_its_depth() -> None:
    nodes = [
        helper.make_node("Gather", ["big", "ids"], ["e1"], name="g1"),
        helper.make_node("Gather", ["small", "ids"], ["e2"], name="g2"),
        helper.make_node("OneHot", ["cls", "depth", "onoff"], ["oh"], name="oh"),
        helper.make_node("Add", ["e1", "e2"], ["e"]),
    ]
    inits = [
        _const("big", np.zeros((100, 2), dtype=np.float32)),
        _const("small", np.zeros((7, 2), dtype=np.float32)),
        _const("depth", np.array(5, dtype=np.int64)),
        _const("onoff", np.array([0, 1], dtype=np.float32)),
    ]
    ranges = input_ranges(_model(nodes, [_int("ids", ["n"]), _int("cls", ["n"], TensorProto.INT32)], inits))
    assert (ranges["ids"].low, ranges["ids"].high) == (0, 6)
    assert (ranges["cls"].kind, ranges["cls"].low, ranges["cls"].high) == ("index", 0, 4)


def test_a_comparison_inside_an_if_branch_and_a_boolean_mask_are_found() -> None:
    then_g = helper.make_graph(
        [
            helper.make_node("Equal", ["mode", "modes"], ["is_mode"], name="inner_eq"),
            helper.make_node("Cast", ["is_mode"], ["t"], to=1),
        ],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)],
        [_const("modes", np.array([3, 5, 5, 9], dtype=np.int64))],
    )
    else_g = helper.make_graph(
        [helper.make_node("Constant", [], ["f"], value=_const("", np.array(0.0, dtype=np.float32)))],
        "else",
        [],
        [helper.make_tensor_value_info("f", TensorProto.FLOAT, None)],
    )
    nodes = [
        helper.make_node("Not", ["keep"], ["drop"], name="invert"),
        helper.make_node("If", ["drop_any"], ["r"], then_branch=then_g, else_branch=else_g),
    ]
    inputs = [
        _int("mode", []),
        helper.make_tensor_value_info("keep", TensorProto.BOOL, ["n"]),
        helper.make_tensor_value_info("drop_any", TensorProto.BOOL, []),
    ]
    ranges = input_ranges(_model(nodes, inputs, []))
    assert ranges["mode"].kind == "choice" and ranges["mode"].choices == (3, 5, 9)
    assert ranges["keep"].kind == "mask" and ranges["keep"].why == "feeds Not 'invert'"
    assert "drop_any" not in ranges  # a boolean nobody bounds gets no hint


def test_a_shape_argument_is_flagged_and_a_value_multiplied_away_is_free() -> None:
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["y"], name="rs"),
        helper.make_node("Mul", ["k", "zero"], ["kz"]),
        helper.make_node("Gather", ["table", "kz"], ["e"]),
    ]
    inits = [_const("zero", np.array(0, dtype=np.int64)), _const("table", np.zeros((3, 1), dtype=np.float32))]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6]), _int("shape", [2]), _int("k", [])]
    ranges = input_ranges(_model(nodes, inputs, inits))
    assert ranges["shape"].kind == "shape" and "Reshape 'rs'" in ranges["shape"].why
    assert "k" not in ranges  # a product is no longer the input's value: no bound is claimed
