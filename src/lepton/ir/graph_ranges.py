"""What values an integer or boolean input may take, read from the graph that consumes it.

A signature says ``int64 [batch, sequence]``; the graph says more: the input indexes a 4-row embedding
table, or is compared with the 257 byte values, or ends in a ``Not``/``Where`` as a mask. Each input is
followed through the ops that pass its values on (Cast, Unsqueeze, Reshape, Concat, Slice, Add of a
constant, ...), subgraphs of If/Loop included, to the consumers that bound it. Synthesized inputs then
stay inside what the model accepts, and every range says where it came from.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
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
# ops whose output dims line up with their inputs' from the right (numpy broadcasting): a dim an input names is
# the output's, unless that input's dim is 1 (broadcast)
_BROADCAST = {
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where", "Relu", "Sigmoid", "Tanh", "Erf", "Gelu",
    "Exp", "Log", "Sqrt", "Neg", "Abs", "Clip", "Cast", "CastLike", "Identity", "LayerNormalization", "Softmax",
    "LeakyRelu", "HardSwish", "HardSigmoid", "Elu", "Selu", "Softplus", "Dropout", "Reciprocal",
}  # fmt: skip
_REDUCE = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceL1", "ReduceProd"}
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
    dim: str = ""  # an index into an axis of symbolic size: ``high`` counts from that size (high = size + high)
    segments: bool = False  # the axis' size follows the values themselves (max + 1): a sorted node-to-graph map

    def bounds(self, sizes: Mapping[str, int]) -> tuple[int, int] | None:
        """(low, high) of an index, the symbolic size resolved from ``sizes`` (None when it is not there)."""
        if not self.dim:
            return self.low, self.high
        if self.dim not in sizes:
            return None
        return self.low, sizes[self.dim] + self.high


@dataclass
class _Bound:
    low: int
    high: int
    why: str
    rows: int
    lookup: bool = True
    dim: str = ""  # symbolic: high counts from the size of this dim ("" with rows 0: a size the graph hides)


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
        self.producers: dict[str, onnx.NodeProto] = {}
        self._axis_sizes: dict[tuple[str, int], int | str | None] = {}
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
                for name in node.output:
                    self.producers[name] = node
                if node.op_type == "Constant" and node.output:
                    self._constant_node(node)
        self._inferred: dict[str, tuple[int, ...]] | None = None
        self._symbolic: dict[str, tuple[int | str | None, ...]] = {}
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
            try:  # data propagation carries Shape -> Gather -> ConstantOfShape sizes (a scatter's target buffer)
                inferred = onnx.shape_inference.infer_shapes(self._model, data_prop=True)
            except Exception:  # noqa: BLE001
                try:
                    inferred = onnx.shape_inference.infer_shapes(self._model)
                except Exception:  # noqa: BLE001  inference is a hint; models with odd ops still synthesize
                    return None
            every = list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output)
            for v in every:
                if not v.type.tensor_type.HasField("shape"):
                    continue
                dims = v.type.tensor_type.shape.dim
                self._symbolic[v.name] = tuple(
                    int(d.dim_value) if d.HasField("dim_value") else _named(d.dim_param) for d in dims
                )
                if dims and all(d.HasField("dim_value") for d in dims):
                    self._inferred[v.name] = tuple(int(d.dim_value) for d in dims)
        return self._inferred.get(name)

    def symbolic_dims(self, name: str) -> tuple[int | str | None, ...] | None:
        """The shape of a tensor with symbolic dims by name (``num_nodes``), as shape inference propagates them
        from the graph inputs; None for a dim it cannot name."""
        if name in self.dims:
            return self.dims[name]
        self.static_dims(name)
        return self._symbolic.get(name)

    def axis_size(self, name: str, axis: int) -> int | str | None:
        """The size of one axis of a tensor: as shape inference says, else read back through the ops that
        produced it (shape inference forgets a name where two differently named dims broadcast, ``unk`` + ``num_atoms``,
        though the one that is not 1 is the size); None when nothing says."""
        key = (name, axis)
        if key not in self._axis_sizes:
            self._axis_sizes[key] = None  # a cycle guard while this one is being resolved
            self._axis_sizes[key] = self._walk_axis(name, axis)
        return self._axis_sizes[key]

    def _walk_axis(self, name: str, axis: int) -> int | str | None:
        shape = self.symbolic_dims(name)
        if not shape or not -len(shape) <= axis < len(shape):
            return None
        size = shape[axis]
        if (isinstance(size, int) and size > 0) or isinstance(size, str):
            return size
        node = self.producers.get(name)
        if node is None:
            return None
        back = axis - len(shape) if axis >= 0 else axis  # from the right
        if node.op_type in _BROADCAST:
            for src in node.input[:3] if node.op_type != "LayerNormalization" else node.input[:1]:
                src_shape = self.symbolic_dims(src) if src else None
                if src_shape and len(src_shape) >= -back:
                    found = self.axis_size(src, back)
                    if found is not None and found != 1:
                        return found
            return None
        if node.op_type == "Gemm" and axis in (0, -2):
            return self.axis_size(node.input[0], 1 if _attr(node, "transA") else 0)
        if node.op_type == "MatMul" and back == -2:
            return self.axis_size(node.input[0], -2)
        if node.op_type in _REDUCE:
            return self._reduced_axis(node, name, axis)
        return None

    def _reduced_axis(self, node: onnx.NodeProto, name: str, axis: int) -> int | str | None:
        src_shape = self.symbolic_dims(node.input[0])
        out_shape = self.symbolic_dims(name)
        axes_value = self.values.get(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        axes = [int(a) for a in axes_value.reshape(-1)] if axes_value is not None else None
        for a in node.attribute:
            if a.name == "axes":
                axes = list(a.ints)
        if not src_shape or not out_shape or not axes:
            return None
        rank = len(src_shape)
        reduced = {a % rank for a in axes}
        kept = [i for i in range(rank) if i not in reduced or _attr(node, "keepdims", 1)]
        out_axis = axis % len(out_shape)
        if len(kept) != len(out_shape) or kept[out_axis] in reduced:
            return None
        return self.axis_size(node.input[0], kept[out_axis])


def _named(dim_param: str) -> str | None:
    """A dim shape inference names after a graph input's dim; None for one it made up (``unk__2``)."""
    return dim_param if dim_param and not dim_param.startswith("unk__") else None


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
    if op in _AXIS_INDEXED and len(node.input) > 1 and node.input[1] == traced:
        if op in ("Gather", "GatherElements"):
            data_dims = g.static_dims(node.input[0])
            axis = _attr(node, "axis", 0)
            if data_dims:
                n = data_dims[axis if axis >= 0 else axis + len(data_dims)]
                table = node.input[0]
                where = f"{_label(node)}" + (f" on table {table!r}" if table != node.name else "")
                if n > 0:
                    return _Bound(0 - shift[0], n - 1 - shift[1], f"indexes {where} ({n} rows)", n)
                return None
        return _axis_bound(g, node, shift)
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


_AXIS_INDEXED = ("Gather", "GatherElements", "GatherND", "ScatterElements", "ScatterND")


def _axis_bound(g: _Graph, node: onnx.NodeProto, shift: tuple[int, int]) -> _Bound:
    """The bound of a Gather/Scatter's indices over an axis of its data whose size is symbolic (``num_nodes``, an
    axis of another input) or that the graph does not say (``rows`` 0, ``dim`` "": zeros are the one safe value)."""
    if node.op_type in ("GatherND", "ScatterND"):
        axis = 0  # the last dim of the indices addresses the leading dims of the data; the first is the bound
    else:
        axis = _attr(node, "axis", 0)
    size = g.axis_size(node.input[0], axis)
    data = node.input[0]
    if isinstance(size, int) and size > 0:
        return _Bound(0 - shift[0], size - 1 - shift[1], f"indexes axis {axis} of {_label(node)} ({size} rows)", size)
    if isinstance(size, str):
        why = f"indexes axis {axis} ({size!r}) of {data!r} in {_label(node)}"
        return _Bound(0 - shift[0], -1 - shift[1], why, 0, dim=size)
    why = f"indexes axis {axis} of {data!r} in {_label(node)}, whose size the graph does not say"
    return _Bound(0 - shift[0], 0 - shift[1], why, 0, lookup=True)


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
    static = [b for b in t.bounds if b.rows]
    if t.bounds and not static:  # indices over axes of symbolic or hidden size
        named = [b for b in t.bounds if b.dim]
        first = named[0] if named else t.bounds[0]
        why = "; ".join(dict.fromkeys(b.why for b in t.bounds))
        segments = not named and bool(t.shape)  # its own max sizes the axis it indexes (num_graphs = max + 1)
        if segments:
            why += f"; {t.shape}"
        return ValueRange("index", first.low, first.high, why=why, dim=first.dim, lookup=True, segments=segments)
    t = _Trace(static, t.choices, t.mask, t.shape) if t.bounds else t
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
        if r.kind == "index" and r.lookup and r.rows > 0 and r.low == 0 and r.high == r.rows - 1
    }
