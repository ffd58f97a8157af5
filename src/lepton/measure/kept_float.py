"""What keeping one node in float recovers, measured on the quantized model itself, one node at a time.

Graph surgery on the variant: beside each candidate node's quantized form, a float copy of the node is added
(the float model's node with its float weights, reading the same activations the variant computes upstream), and
a switch chooses which of the two feeds the rest of the graph: ``Where(keep == k, float, quantized)``. One extra
scalar input (``keep``) selects the node kept in float (``-1``: none), so one session answers every node: for node
``k`` the output cosine to the float model with ``keep = k``, minus the cosine with ``keep = -1``, is what keeping
that node in float recovers, with every other node still quantized (the sensitivity stage's leave-one-out, without
quantizing again per node). It works for any quantized form that keeps the node's output tensor name (QDQ, dynamic
int8's integer subgraphs, QOperator).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lepton.engines.profile import Feeds
from lepton.ir.onnx_intake import ort_session
from lepton.similarity import row_cosines

KEEP = "lepton_keep_float"  # the switch input: index of the node run in float, -1 for none
_P = "lepton_float::"


def _switched(ref: onnx.ModelProto, var: onnx.ModelProto, nodes: Sequence[onnx.NodeProto]) -> tuple[list[str], int]:
    """Add a float copy and a switch to ``var`` (in place) for each of the float model's ``nodes`` it can place;
    returns the ids of the nodes switched, in switch order (their index is the ``keep`` value)."""
    ref_inits = {i.name: i for i in ref.graph.initializer}
    ref_consts = {o: n for n in ref.graph.node if n.op_type == "Constant" for o in n.output}
    producer = {o: n for n in var.graph.node for o in n.output}
    known = set(producer) | {i.name for i in var.graph.input} | {i.name for i in var.graph.initializer}
    copied: set[str] = set()
    head: list[onnx.NodeProto] = []
    after: dict[int, list[onnx.NodeProto]] = {}  # position of a producer in var -> nodes to insert after it
    position = {id(n): i for i, n in enumerate(var.graph.node)}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in var.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in var.graph.output}
    switched: list[str] = []
    for n in nodes:
        out = n.output[0]
        if out not in producer or any(o for o in n.output[1:]):
            continue
        inputs = []
        for name in n.input:
            if not name or name in known and name not in ref_inits and name not in ref_consts:
                inputs.append(name)
            elif name in ref_inits or name in ref_consts:
                inputs.append(_P + name)
            else:
                break
        else:
            for name in n.input:
                if (name in ref_inits or name in ref_consts) and name not in copied:
                    copied.add(name)
                    if name in ref_inits:
                        t = onnx.TensorProto()
                        t.CopyFrom(ref_inits[name])
                        t.name = _P + name
                        var.graph.initializer.append(t)
                    else:
                        c = onnx.NodeProto()
                        c.CopyFrom(ref_consts[name])
                        c.name, c.output[0] = _P + (c.name or name), _P + name
                        head.append(c)
            k = len(switched)
            twin = producer[out]
            copy = onnx.NodeProto()
            copy.CopyFrom(n)
            copy.name = _P + (n.name or out)
            del copy.input[:]
            copy.input.extend(inputs)
            copy.output[0] = f"{out}::float"
            on = [
                helper.make_node("Constant", [], [f"{out}::k"], value=numpy_helper.from_array(np.array(k))),
                helper.make_node("Equal", [KEEP, f"{out}::k"], [f"{out}::on"]),
            ]
            after.setdefault(position[id(twin)], []).extend(on)
            points = _switch_points(out, consumers, outputs)
            for i, point in enumerate(points):
                node = twin if point == out else producer[point]
                node.output[list(node.output).index(point)] = f"{point}::quantized"
                # the first switch computes the float node only when it is on (If runs one branch); others reuse it
                switch = (
                    _lazy(copy, f"{out}::on", f"{point}::quantized", point, _elem_type(ref, out))
                    if i == 0
                    else helper.make_node("Where", [f"{out}::on", points[0], f"{point}::quantized"], [point])
                )
                after.setdefault(position[id(node)], []).append(switch)
            switched.append(n.name or out)
    ordered = list(head)
    for i, node in enumerate(var.graph.node):
        ordered.append(node)
        ordered.extend(after.get(i, []))
    del var.graph.node[:]
    var.graph.node.extend(ordered)
    var.graph.input.append(helper.make_tensor_value_info(KEEP, TensorProto.INT64, []))
    return switched, len(switched)


def _elem_type(model: onnx.ModelProto, tensor: str) -> int:
    infos = [*model.graph.value_info, *model.graph.output]
    return next((v.type.tensor_type.elem_type for v in infos if v.name == tensor and v.type.tensor_type.elem_type), 1)


def _lazy(node: onnx.NodeProto, on: str, quantized: str, out: str, elem: int) -> onnx.NodeProto:
    """``If(on)``: ``node`` (the float copy) computed in the then-branch, the quantized value passed through in the
    else-branch, so a switched-off node costs no float compute."""
    then_out = helper.make_tensor_value_info(node.output[0], elem, None)
    else_out = helper.make_tensor_value_info(f"{out}::passed", elem, None)
    then = helper.make_graph([node], f"{node.name}::then", [], [then_out])
    other = helper.make_graph(
        [helper.make_node("Identity", [quantized], [f"{out}::passed"])], f"{node.name}::else", [], [else_out]
    )
    return helper.make_node("If", [on], [out], then_branch=then, else_branch=other)


def _switch_points(out: str, consumers: dict[str, list[onnx.NodeProto]], outputs: set[str]) -> list[str]:
    """Where the float value replaces the quantized one: after the Q/DQ pairs on the node's output when that is all
    that reads it (QDQ quantizes a quantized node's output too, and keeping the node in float removes them), else
    the node's output itself."""
    readers = consumers.get(out, [])
    if out in outputs or not readers or any(r.op_type != "QuantizeLinear" for r in readers):
        return [out]
    dqs = [d for q in readers for d in consumers.get(q.output[0], [])]
    if not dqs or any(d.op_type != "DequantizeLinear" for d in dqs):
        return [out]
    return [d.output[0] for d in dqs]


def recovered_by_node(
    float_model: onnx.ModelProto,
    variant_model: onnx.ModelProto,
    nodes: Sequence[onnx.NodeProto],
    feeds: Sequence[Feeds],
    reference: np.ndarray,
    output: str,
) -> tuple[dict[str, float], float]:
    """Per node of ``nodes`` (the float model's), the output cosine to ``reference`` gained by running that node
    alone in float in ``variant_model``; and the cosine with none kept (the base the gains are counted from)."""
    var = onnx.ModelProto()
    var.CopyFrom(variant_model)
    switched, count = _switched(float_model, var, nodes)
    if not count:
        return {}, float("nan")
    with tempfile.TemporaryDirectory(prefix="lepton-kept-float-") as tmp:
        path = Path(tmp) / "switched.onnx"
        onnx.save(var, str(path))
        sess = ort_session(path, level="all")
    names = [i.name for i in sess.get_inputs() if i.name != KEEP]

    def cosine(k: int) -> float:
        outs = [sess.run([output], {**{n: f[n] for n in names}, KEEP: np.array(k, np.int64)})[0] for f in feeds]
        got = np.concatenate([o.reshape(1, -1) if o.ndim == 0 else o for o in outs])
        return float(row_cosines(reference, got).mean())

    base = cosine(-1)
    return {node: cosine(k) - base for k, node in enumerate(switched)}, base
