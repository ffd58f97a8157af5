"""Inputs made from a model's signature *and* its graph, for models that come without data.

Shapes: the batch axis of each input (dim 0 usually; ``state [2, batch, 128]`` has it at 1; scalars have
none), ``--shape`` pins, and symbolic dims shared by name (``src_len`` in two inputs gets one size).
Values: inside the ranges the graph allows (``lepton.ir.graph_ranges``): indices inside their table,
values a comparison expects, masks of ones with padding for text, positions and lengths that agree with
the shapes. Every input gets a line saying where its values came from.

The one synthesis: workloads (``measure``), calibration feeds (``passes``) and ``lepton loadtest`` (from the
server's metadata, ``synthesize_from``) all make their inputs here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx

from lepton.errors import UserError
from lepton.ir.artifact import Artifact
from lepton.ir.graph_ranges import ValueRange, input_ranges
from lepton.ir.signature import Dim, Signature, TensorSpec, numpy_dtype

SEQ_NAMES = ("sequence", "seq", "seq_len", "sequence_length", "length", "tokens")
MAX_VALUES = 1 << 22  # at most ~4M values per input set (16 MB of float32): fewer rows for large inputs
MIN_ROWS = 8
_GENERIC_DIM = re.compile(r"^(dim\d+|\?|-1|)$")  # names that do not identify a dim across inputs


@dataclass
class Synthesized:
    """Arrays (batch along ``batch_axes[name]``, None: the same array for every batch) and their provenance."""

    arrays: dict[str, np.ndarray]
    batch_axes: dict[str, int | None] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)

    def batches(self, batch: int, count: int) -> list[dict[str, np.ndarray]]:
        """``count`` batches of ``batch`` rows, wrapping around when there are fewer rows."""
        n = row_count(self.arrays, self.batch_axes)
        return [take_rows(self.arrays, self.batch_axes, (np.arange(batch) + i * batch) % n) for i in range(count)]


def row_count(arrays: Mapping[str, np.ndarray], axes: Mapping[str, int | None]) -> int:
    """The rows of a set of inputs: the size of the first batched input along its batch axis (default 0)."""
    for k, v in arrays.items():
        axis = axes.get(k, 0)
        if axis is not None:
            return int(v.shape[axis])
    return 1


def take_rows(
    arrays: Mapping[str, np.ndarray], axes: Mapping[str, int | None], idx: np.ndarray | slice
) -> dict[str, np.ndarray]:
    """Rows ``idx`` of each input along its batch axis (default 0); an input with axis None is fed whole."""
    out = {}
    for k, v in arrays.items():
        axis = axes.get(k, 0)
        if axis is None:
            out[k] = v
        elif isinstance(idx, slice):
            out[k] = v[(slice(None),) * axis + (idx,)]
        else:
            out[k] = np.ascontiguousarray(np.take(v, idx, axis=axis))
    return out


def shared(d: Dim) -> bool:
    """Whether a symbolic dim's name means the same size wherever it appears (``batch``, ``src_len``)."""
    return isinstance(d, str) and not _GENERIC_DIM.match(d)


def batch_axes(signature: Signature) -> dict[str, int | None]:
    """The axis each input is batched along.

    Symbolic dim 0 names the batch (``batch``, ``N``); another input carrying that name at another axis is
    batched there. Inputs without it (scalars, fixed state) are the same in every batch. When every dim 0 is
    fixed, dim 0 of the first input is the (fixed) batch, shared by inputs with the same size there.
    """
    inputs = [s for s in signature.inputs if s.shape]
    names = {s.shape[0] for s in inputs if isinstance(s.shape[0], str)}
    out: dict[str, int | None] = {s.name: None for s in signature.inputs}
    if names:
        for s in inputs:
            if isinstance(s.shape[0], str):
                out[s.name] = 0
            else:
                out[s.name] = next((i for i, d in enumerate(s.shape) if shared(d) and d in names), None)
        return out
    if inputs:
        fixed = inputs[0].shape[0]
        for s in inputs:
            out[s.name] = 0 if s.shape[0] == fixed else None
    return out


def _pinned_sizes(signature: Signature, axes: Mapping[str, int | None]) -> dict[str, int]:
    """Sizes of named symbolic dims given by ``--shape`` pins, checked for agreement across inputs."""
    sizes: dict[str, int] = {}
    where: dict[str, str] = {}
    for spec in signature.inputs:
        pinned = signature.pinned.get(spec.name)
        if pinned is None:
            continue
        for i, d in enumerate(spec.shape):
            if i == axes.get(spec.name) or not shared(d):
                continue
            assert isinstance(d, str)
            if d in sizes and sizes[d] != pinned[i]:
                raise UserError(
                    f"--shape: dim {d!r} is {sizes[d]} for input {where[d]!r} but {pinned[i]} for input "
                    f"{spec.name!r}; a dim with one name has one size: give both the same value"
                )
            sizes[d], where[d] = int(pinned[i]), spec.name
    return sizes


def _shape(
    spec: TensorSpec,
    axis: int | None,
    rows: int,
    pinned: tuple[int, ...] | None,
    sizes: dict[str, int],
    text: bool,
    sequence: int,
    fill_unknown: int | None,
) -> tuple[int, ...]:
    out = []
    for i, d in enumerate(spec.shape):
        if i == axis and not isinstance(d, int):
            out.append(rows)
        elif pinned is not None:
            out.append(int(pinned[i]))
        elif isinstance(d, int):
            out.append(d)
        elif shared(d) and d in sizes:
            out.append(sizes[d])
        elif text or d.lower() in SEQ_NAMES:
            out.append(sequence)
        elif fill_unknown is not None:
            out.append(fill_unknown)
        else:
            example = ",".join(
                str(x) if isinstance(x, int) else ("1" if j == axis else "N") for j, x in enumerate(spec.shape)
            )
            raise UserError(
                f"cannot synthesize input {spec.name!r}: dim {i} ({d!r}) has no known size. "
                f"Give it with --shape {spec.name}={example} (N your size), or pass --data"
            )
        if shared(d) and i != axis:
            sizes.setdefault(str(d), out[-1])
    return tuple(out)


def _row_count(shapes: Mapping[str, tuple[int, ...]], axes: Mapping[str, int | None], rows: int) -> int:
    """``rows``, or fewer (never under MIN_ROWS) when one row of every input together is large (images)."""
    per_row = sum(
        int(np.prod([n for i, n in enumerate(shape) if i != axes.get(name)]))
        for name, shape in shapes.items()
        if axes.get(name) is not None
    )
    if per_row * rows <= MAX_VALUES:
        return rows
    return max(min(rows, MIN_ROWS), MAX_VALUES // max(per_row, 1))


def _longest(sizes: Mapping[str, int], axes_names: set[str], sequence: int) -> int:
    """The sequence length other inputs were given: a length input must agree with it."""
    seq = [n for d, n in sizes.items() if d not in axes_names]
    return max(seq) if seq else sequence


def _mask(shape: tuple[int, ...], dtype: np.dtype, axis: int | None, pad: bool, rng: np.random.Generator) -> np.ndarray:
    arr = np.ones(shape, dtype=dtype)
    if pad and len(shape) == 2 and axis == 0 and shape[1] > 1:
        length = shape[1]
        for r in range(1, shape[0], 2):  # every other row padded: realistic text batches are ragged
            arr[r, int(rng.integers(max(1, length // 4), length)) :] = 0
    return arr


def _integers(
    spec: TensorSpec,
    shape: tuple[int, ...],
    dtype: np.dtype,
    hint: ValueRange | None,
    axis: int | None,
    ctx: _Context,
) -> tuple[np.ndarray, str]:
    name = spec.name
    lname = name.lower()
    rng = ctx.rng
    if hint is not None and hint.kind == "index" and (hint.dim or not hint.rows):
        return _axis_indices(shape, dtype, hint, ctx)
    if hint is not None and hint.kind == "index":
        lo, hi = hint.low, hint.high
        if "position" in lname or lname in ("pos", "pos_ids", "positions"):
            arr = np.broadcast_to(np.arange(shape[-1]) % (hi - lo + 1) + lo, shape).astype(dtype) if shape else None
            if arr is not None:
                return arr, f"{hint.why}: positions {lo}..{min(hi, lo + shape[-1] - 1)} along the last axis"
        start = lo + 1000 if hint.rows > 2000 and hi - lo > 2000 else lo  # large vocabularies start with specials
        return rng.integers(start, hi + 1, size=shape).astype(dtype), f"{hint.why}: values {start}..{hi}"
    if hint is not None and hint.kind == "choice":
        values = np.asarray(hint.choices)
        arr = rng.choice(values, size=shape).astype(dtype)
        shown = ", ".join(map(str, hint.choices)) if len(values) <= 4 else f"{values.min()}..{values.max()}"
        return arr, f"{hint.why}: values drawn from its {len(values)} constant(s) ({shown})"
    if (hint is not None and hint.kind == "mask") or "mask" in lname:
        pad = ctx.text and "mask" in lname
        why = hint.why if hint is not None else "is named like a mask"
        return _mask(shape, dtype, axis, pad, rng), f"{why}: ones" + (
            ", trailing zeros on every other row (padded text)" if pad and len(shape) == 2 else ""
        )
    if "len" in lname and len(shape) <= 1:
        n = ctx.longest
        return np.full(shape, n, dtype=dtype), f"is named like a length: {n}, the sequence length of the other inputs"
    if hint is not None and hint.kind == "shape":
        why = f"{hint.why}: its values cannot be guessed (ones)"
        return np.ones(shape, dtype=dtype), why
    if "type_ids" in lname:
        return np.zeros(shape, dtype=dtype), "is named like token type ids: zeros"
    if "position" in lname and shape:
        return np.broadcast_to(np.arange(shape[-1]), shape).astype(dtype), "is named like positions: 0..L-1"
    if "ids" in lname:
        return rng.integers(1, 1000, size=shape).astype(dtype), "is named like token ids (vocabulary unknown): 1..999"
    return rng.integers(0, 10, size=shape).astype(dtype), "nothing in the graph bounds it: integers 0..9"


def _axis_indices(shape: tuple[int, ...], dtype: np.dtype, hint: ValueRange, ctx: _Context) -> tuple[np.ndarray, str]:
    """Indices into an axis of symbolic size (``num_nodes`` of another input), a sorted node-to-graph map (the
    axis it indexes is as long as its largest value + 1), or zeros where the graph hides the size."""
    span = hint.bounds(ctx.sizes)
    if hint.segments:
        graphs = max(1, min(4, shape[-1] if shape else 1))
        arr = np.sort(ctx.rng.integers(0, graphs, size=shape), axis=-1).astype(dtype) if shape else np.zeros(shape)
        return arr.astype(dtype), f"{hint.why}: sorted graph ids 0..{graphs - 1} (a node-to-graph map)"
    if span is None or (hint.dim == "" and not hint.rows):
        return np.zeros(shape, dtype=dtype), f"{hint.why}: zeros (give real indices with --data)"
    lo, hi = max(span[0], 0), span[1]
    if hi < lo:
        raise UserError(
            f"cannot synthesize indices that {hint.why}: that axis is too short for them; "
            "give it a larger size with --shape, or pass --data"
        )
    return ctx.rng.integers(lo, hi + 1, size=shape).astype(dtype), f"{hint.why}: values {lo}..{hi}"


@dataclass
class _Context:
    rng: np.random.Generator
    text: bool
    longest: int
    sizes: dict[str, int] = field(default_factory=dict)  # every named dim's size (the batch's included)


def synthesize_artifact(
    artifact: Artifact, *, rows: int, seed: int = 0, sequence: int = 128, fill_unknown: int | None = None
) -> Synthesized:
    """Inputs for ``artifact`` from its signature and graph (text: an embedding model, or inputs named ``ids``)."""
    model = onnx.load(str(artifact.model_path), load_external_data=False)
    text = artifact.task == "embedding" or any("ids" in s.name for s in artifact.signature.inputs)
    return synthesize(
        model, artifact.signature, text=text, rows=rows, seed=seed, sequence=sequence, fill_unknown=fill_unknown
    )


def synthesize(
    model: onnx.ModelProto,
    signature: Signature,
    *,
    text: bool,
    rows: int,
    seed: int = 0,
    sequence: int = 128,
    fill_unknown: int | None = None,
) -> Synthesized:
    """Arrays for every input of ``signature`` with ``rows`` rows (fewer for large inputs; the fixed batch
    when the model has one). Open dims other than the batch: pins, shared names, ``sequence`` for text and
    sequence-named dims, ``fill_unknown``, else a UserError asking for ``--shape``."""
    return synthesize_from(
        input_ranges(model),
        signature,
        text=text,
        rows=rows,
        seed=seed,
        sequence=sequence,
        fill_unknown=fill_unknown,
    )


def synthesize_from(
    hints: Mapping[str, ValueRange],
    signature: Signature,
    *,
    text: bool,
    rows: int,
    seed: int = 0,
    sequence: int = 128,
    fill_unknown: int | None = None,
) -> Synthesized:
    """``synthesize`` with the value ranges given (``hints``) rather than read from a graph: what a client
    that knows a model only by its metadata uses."""
    axes = batch_axes(signature)
    batched = [(s, a) for s in signature.inputs if (a := axes[s.name]) is not None]
    if not batched:
        rows = 1
    elif not any(isinstance(s.shape[a], str) for s, a in batched):
        rows = int(batched[0][0].shape[batched[0][1]])  # a fixed batch: exactly that many rows
    graph = {h.dim for h in hints.values() if h.dim} & {str(s.shape[a]) for s, a in batched}
    if graph:  # indices into another input's rows (edge_index into num_nodes): one graph, fed whole every run
        axes = {k: None for k in axes}
        batched = []
    sizes = _pinned_sizes(signature, axes)
    for dim in graph:
        sizes.setdefault(dim, rows)
    shapes = {
        s.name: _shape(s, axes[s.name], rows, signature.pinned.get(s.name), sizes, text, sequence, fill_unknown)
        for s in signature.inputs
    }
    n = _row_count(shapes, axes, rows)
    if n != rows:
        shapes = {k: tuple(n if i == axes[k] else d for i, d in enumerate(v)) for k, v in shapes.items()}
    batch_names = {str(s.shape[a]) for s, a in batched}
    ctx = _Context(np.random.default_rng(seed), text, _longest(sizes, batch_names, sequence), dict(sizes))
    for s, a in batched:
        ctx.sizes.setdefault(str(s.shape[a]), shapes[s.name][a])
    out = Synthesized({}, dict(axes))
    for spec in signature.inputs:
        shape, dtype, hint = shapes[spec.name], numpy_dtype(spec.dtype), hints.get(spec.name)
        if np.issubdtype(dtype, np.floating):
            arr, why = ctx.rng.standard_normal(shape).astype(dtype), "floats ~ N(0, 1)"
        elif dtype == np.bool_:
            if (hint is not None and hint.kind == "mask") or "mask" in spec.name.lower():
                arr, why = np.ones(shape, dtype=bool), f"{hint.why if hint else 'is named like a mask'}: all True"
            else:
                arr, why = ctx.rng.random(shape) > 0.5, "booleans, half True"
        elif np.issubdtype(dtype, np.integer):
            arr, why = _integers(spec, shape, dtype, hint, axes[spec.name], ctx)
        else:
            raise UserError(f"cannot synthesize input {spec.name!r} of dtype {spec.dtype}; pass --data")
        out.arrays[spec.name] = arr
        out.provenance[spec.name] = f"input {spec.name!r} {list(shape)} {spec.dtype} {why}"
    return out
