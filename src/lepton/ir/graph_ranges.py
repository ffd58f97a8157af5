"""What values an integer or boolean input may take, read from the graph that consumes it.

A signature says ``int64 [batch, sequence]``; the graph says more: the input indexes a 4-row embedding
table, or is compared with the 257 byte values, or ends in a ``Not``/``Where`` as a mask. Each input is
followed through the ops that pass its values on (Cast, Unsqueeze, Reshape, Concat, Slice, Add of a
constant, ...), subgraphs of If/Loop included, to the consumers that bound it. Synthesized inputs then
stay inside what the model accepts, and every range says where it came from.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

# ops whose output (input 0 unless listed) carries the traced values, possibly reshaped or selected
_PASS_THROUGH = {
    "Identity": (0,),
    "Cast": (0,),
    "CastLike": (0,),
    "Unsqueeze": (0,),
    "Squeeze": (0,),
    "Reshape": (0,),
    "Flatten": (0,),
    "Transpose": (0,),
    "Expand": (0,),
    "Tile": (0,),
    "Slice": (0,),
    "Split": (0,),
    "Gather": (0,),  # the traced tensor as *data*: the selected values are its own
    "GatherElements": (0,),
    "GatherND": (0,),
    "Where": (1, 2),
    "Concat": None,  # every input
    "Max": None,
    "Min": None,
    "ReduceMax": (0,),
    "ReduceMin": (0,),
}
_LOGICAL = {"Not", "And", "Or", "Xor"}
_SHAPE_ARGS = {"Reshape": 1, "Expand": 1, "Tile": 1, "ConstantOfShape": 0, "Resize": 3, "TopK": 1}
_MAX_CHOICES = 4096


@dataclass(frozen=True)
class ValueRange:
    """The values an input may hold, and why: ``kind`` is index | choice | mask | shape | free.

    ``low``/``high`` bound an index (inclusive); ``choices`` lists the values a choice is compared with.
    """

    kind: str
    low: int = 0
    high: int = 0
    choices: tuple[int, ...] = ()
    why: str = ""
    rows: int = 0  # the size of the table an index reads from (0: not an index)
    lookup: bool = False  # every bound is a table lookup that fails outside it (Gather; not OneHot's zeros)


@dataclass
class _Bound:
    low: int
    high: int
    why: str
    rows: int
    lookup: bool = True


@dataclass
class _Trace:
    bounds: list[_Bound] = field(default_factory=list)
    choices: list[tuple[tuple[int, ...], str]] = field(default_factory=list)
    mask: str = ""
    shape: str = ""


def _graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _graphs(g)


class _Graph:
    """Consumers, constants and static shapes of a model.

    Subgraphs (If branches, Loop bodies) share one namespace with the main graph: a node inside a branch
    that reads an outer tensor is one of its consumers, so traces cross into branches.
    """

    def __init__(self, model: onnx.ModelProto) -> None:
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        self.dims: dict[str, tuple[int, ...]] = {}  # constant tensors' shapes (known without their data)
        self.values: dict[str, np.ndarray] = {}  # small constants with their data
        for g in _graphs(model.graph):
            for init in g.initializer:
                self.dims[init.name] = tuple(int(d) for d in init.dims)
                self._keep_value(init.name, init)
            for node in g.node:
                for name in node.input:
                    if name:
                        self.consumers.setdefault(name, []).append(node)
                if node.op_type == "Constant" and node.output:
                    self._constant_node(node)
        self._inferred: dict[str, tuple[int, ...]] | None = None
        self._model = model

    def _keep_value(self, name: str, t: onnx.TensorProto) -> None:
        if t.data_location == onnx.TensorProto.EXTERNAL or int(np.prod(t.dims or [1])) > 1 << 16:
            return
        try:
            self.values[name] = numpy_helper.to_array(t)
        except Exception:  # noqa: BLE001  an odd constant only loses a hint
            pass

    def _constant_node(self, node: onnx.NodeProto) -> None:
        for attr in node.attribute:
            if attr.name == "value":
                self.dims[node.output[0]] = tuple(int(d) for d in attr.t.dims)
                self._keep_value(node.output[0], attr.t)
            elif attr.name in ("value_int", "value_float"):
                self.values[node.output[0]] = np.asarray(attr.i if attr.name == "value_int" else attr.f)
                self.dims[node.output[0]] = ()
            elif attr.name in ("value_ints", "value_floats"):
                vals = list(attr.ints) if attr.name == "value_ints" else list(attr.floats)
                self.values[node.output[0]] = np.asarray(vals)
                self.dims[node.output[0]] = (len(vals),)

    def static_dims(self, name: str) -> tuple[int, ...] | None:
        """The shape of a tensor: constant, or from ONNX shape inference when every dim is known."""
        if name in self.dims:
            return self.dims[name]
        if self._inferred is None:
            self._inferred = {}
            try:
                inferred = onnx.shape_inference.infer_shapes(self._model)
            except Exception:  # noqa: BLE001  inference is a hint; models with odd ops still synthesize
                return None
            for v in list(inferred.graph.value_info) + list(inferred.graph.output):
                dims = v.type.tensor_type.shape.dim
                if dims and all(d.HasField("dim_value") for d in dims):
                    self._inferred[v.name] = tuple(int(d.dim_value) for d in dims)
        return self._inferred.get(name)


def _label(node: onnx.NodeProto) -> str:
    return f"{node.op_type} {node.name!r}" if node.name else node.op_type


def _attr(node: onnx.NodeProto, name: str, default: int = 0) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    return default


def _const_offset(g: _Graph, node: onnx.NodeProto, traced: str) -> tuple[int, int] | None:
    """For Add/Sub of a constant integer tensor: the (lowest, highest) amount added to the traced values."""
    other = node.input[1] if node.input[0] == traced else node.input[0]
    value = g.values.get(other)
    if value is None or value.size == 0 or not np.issubdtype(value.dtype, np.integer):
        return None
    lo, hi = int(value.min()), int(value.max())
    if node.op_type == "Add":
        return lo, hi
    if node.input[0] == traced:  # x - c
        return -hi, -lo
    return None  # c - x reverses the order: no longer a simple shift


def _index_bound(g: _Graph, node: onnx.NodeProto, traced: str, shift: tuple[int, int]) -> _Bound | None:
    """The bound a Gather-like node puts on its indices, moved back through the shift applied so far."""
    op = node.op_type
    if op in ("Gather", "GatherElements") and len(node.input) > 1 and node.input[1] == traced:
        data_dims = g.static_dims(node.input[0])
        axis = _attr(node, "axis", 0)
        if data_dims is None or not data_dims:
            return None
        n = data_dims[axis if axis >= 0 else axis + len(data_dims)]
        table = node.input[0]
        where = f"{_label(node)}" + (f" on table {table!r}" if table != node.name else "")
    elif op == "OneHot" and node.input[0] == traced:
        depth = g.values.get(node.input[1])
        if depth is None or depth.size != 1:
            return None
        n = int(depth.reshape(-1)[0])
        where = f"{_label(node)} (depth {n})"
    elif op == "EmbedLayerNormalization" and node.domain == "com.microsoft":
        pairs = {0: 2, 1: 4, 8: 3}  # input_ids -> word table, segment_ids -> segment table, position_ids
        pos = list(node.input).index(traced)
        if pos not in pairs or len(node.input) <= pairs[pos]:
            return None
        dims = g.static_dims(node.input[pairs[pos]])
        if not dims:
            return None
        n = dims[0]
        where = f"{_label(node)} table {node.input[pairs[pos]]!r}"
    else:
        return None
    if n <= 0:
        return None
    lo, hi = 0 - shift[0], n - 1 - shift[1]
    return _Bound(lo, hi, f"indexes {where} ({n} rows)", n, lookup=op != "OneHot")


def _trace(g: _Graph, name: str) -> _Trace:
    out = _Trace()
    seen: set[tuple[str, tuple[int, int] | None]] = set()
    queue: deque[tuple[str, tuple[int, int] | None]] = deque([(name, (0, 0))])
    while queue:
        tensor, shift = queue.popleft()
        if (tensor, shift) in seen:
            continue
        seen.add((tensor, shift))
        for node in g.consumers.get(tensor, []):
            op = node.op_type
            if op in _LOGICAL or (op == "Where" and node.input[0] == tensor):
                out.mask = out.mask or f"feeds {_label(node)}"
                continue
            if op in _SHAPE_ARGS and list(node.input).index(tensor) == _SHAPE_ARGS[op] and not out.shape:
                out.shape = f"is the shape argument of {_label(node)}"
                continue
            if shift is not None:
                bound = _index_bound(g, node, tensor, shift)
                if bound is not None:
                    out.bounds.append(bound)
                    continue
                if op == "Equal":
                    other = node.input[1] if node.input[0] == tensor else node.input[0]
                    value = g.values.get(other)
                    if value is not None and np.issubdtype(value.dtype, np.integer):
                        uniq = np.unique(value) - shift[0]
                        if 0 < uniq.size <= _MAX_CHOICES and shift[0] == shift[1]:
                            out.choices.append((tuple(int(v) for v in uniq), f"is compared with {_label(node)}"))
                    continue
            if op in ("Add", "Sub") and shift is not None:
                delta = _const_offset(g, node, tensor)
                nxt = None if delta is None else (shift[0] + delta[0], shift[1] + delta[1])
                queue.append((node.output[0], nxt))
                continue
            ports = _PASS_THROUGH.get(op, ())
            if ports is None or (ports and list(node.input).index(tensor) in ports):
                for o in node.output:
                    if o:
                        queue.append((o, shift))
    return out


def _resolve(t: _Trace) -> ValueRange | None:
    if t.bounds:
        lo = max(b.low for b in t.bounds)
        hi = min(b.high for b in t.bounds)
        tightest = min(t.bounds, key=lambda b: b.high - b.low)
        if lo > hi:  # bounds that contradict: keep the tightest one
            lo, hi = tightest.low, tightest.high
        lo = max(lo, 0) if hi >= 0 else lo
        why = "; ".join(dict.fromkeys(b.why for b in t.bounds))
        lookup = all(b.lookup for b in t.bounds)
        return ValueRange("index", lo, hi, why=why, rows=tightest.rows, lookup=lookup)
    if t.choices:
        values, why = t.choices[0]
        return ValueRange("choice", min(values), max(values), choices=values, why=why)
    if t.mask:
        return ValueRange("mask", 0, 1, why=t.mask)
    if t.shape:
        return ValueRange("shape", why=t.shape)
    return None


def input_ranges(model: onnx.ModelProto) -> dict[str, ValueRange]:
    """For each integer or boolean graph input, the range its consumers allow (inputs with no hint are left out)."""
    g = _Graph(model)
    inits = {i.name for i in model.graph.initializer}
    kinds = {
        onnx.TensorProto.INT64,
        onnx.TensorProto.INT32,
        onnx.TensorProto.INT16,
        onnx.TensorProto.INT8,
        onnx.TensorProto.UINT8,
        onnx.TensorProto.UINT16,
        onnx.TensorProto.UINT32,
        onnx.TensorProto.UINT64,
        onnx.TensorProto.BOOL,
    }
    out: dict[str, ValueRange] = {}
    for v in model.graph.input:
        if v.name in inits or v.type.tensor_type.elem_type not in kinds:
            continue
        r = _resolve(_trace(g, v.name))
        if r is not None:
            out[v.name] = r
    return out


def index_bounds(model: onnx.ModelProto) -> dict[str, int]:
    """Integer inputs that index tables as they are (token ids, followed through Casts, Reshapes, ...) -> the
    rows of the smallest table: a value outside -rows..rows-1 fails the lookup (ONNX Gather), and with it a
    whole batch, so a server refuses such a request alone. Inputs shifted on the way (``ids + 2``) are left out.
    """
    return {
        name: r.rows
        for name, r in input_ranges(model).items()
        if r.kind == "index" and r.lookup and r.low == 0 and r.high == r.rows - 1
    }
