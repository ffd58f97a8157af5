"""Check request tensors against the model's signature (names, dtypes, shapes, sizes): 400 saying why."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from lepton.errors import ServeError
from lepton.ir.signature import Signature, TensorSpec
from lepton.wire import from_bytes, v2_datatype

_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}  # JSON values each dtype kind accepts

MAX_ELEMENTS = 64 * 1024 * 1024  # per request and input, whatever the body limit says


def bad(message: str) -> ServeError:
    return ServeError(message, 400)


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for quoting what a client sent in a one-line error."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shape_text(spec: TensorSpec) -> str:
    return "[" + ", ".join(str(d) for d in spec.shape) + "]"


def from_json_data(data: Any, spec: TensorSpec, shape: list[int] | None) -> np.ndarray:
    """A JSON ``data`` value (flat or nested lists) -> an array of the spec's dtype, strictly converted."""
    if spec.dtype == "str":
        return _strings(data, spec, shape)
    try:
        raw = np.asarray(data)
    except (ValueError, TypeError):
        raise bad(f"input {spec.name!r}: data is not a rectangular list of numbers") from None
    if raw.dtype == object or raw.dtype.kind not in "biuf":
        raise bad(f"input {spec.name!r}: data must be numbers ({spec.dtype}); got {raw.dtype.kind!r} values")
    want = np.dtype(spec.dtype)
    if raw.size and raw.dtype.kind not in _KINDS.get(want.kind, want.kind):
        raise bad(
            f"input {spec.name!r} takes {spec.dtype}; got {raw.dtype} values. "
            f"Send {'integers' if want.kind in 'iu' else 'numbers'}"
        )
    arr = raw.astype(want, copy=False)
    if shape is not None:
        if arr.size != int(np.prod(shape)):
            raise bad(f"input {spec.name!r}: shape {shape} needs {int(np.prod(shape))} values; got {arr.size}")
        arr = arr.reshape(shape)
    return arr


def _strings(data: Any, spec: TensorSpec, shape: list[int] | None) -> np.ndarray:
    """JSON strings (flat or nested lists) -> an object array, as ONNX Runtime takes string tensors."""
    try:
        arr = np.array(data, dtype=object)
    except (ValueError, TypeError):
        raise bad(f"input {spec.name!r}: data is not a rectangular list of strings") from None
    if arr.size and not all(isinstance(v, str) for v in arr.flat):
        raise bad(f'input {spec.name!r} takes strings; send a rectangular list of strings (e.g. [["red"]])')
    if shape is not None:
        if arr.size != int(np.prod(shape)):
            raise bad(f"input {spec.name!r}: shape {shape} needs {int(np.prod(shape))} values; got {arr.size}")
        arr = arr.reshape(shape)
    return arr


def from_binary(buf: bytes | memoryview, spec: TensorSpec, datatype: str, shape: list[int]) -> np.ndarray:
    """A binary input (``wire.from_bytes``), or a 400 saying why it does not fit."""
    try:
        return from_bytes(buf, datatype, shape)
    except ValueError as e:
        raise bad(f"input {spec.name!r}: {e}") from None


def check_datatype(spec: TensorSpec, datatype: str | None) -> None:
    if datatype is None:
        return
    expected = v2_datatype(spec.dtype)
    if datatype.upper() != expected:
        raise bad(f"input {spec.name!r} is {expected}; got datatype {datatype!r}. Send {expected}")


def check_shape(shape: Any, name: str) -> list[int]:
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise bad(f"input {name!r}: 'shape' must be a list of integers; got {shape!r}")
    if any(d < 0 for d in shape):
        raise bad(f"input {name!r}: dims must be >= 0; got {shape}")
    if math.prod(shape) > MAX_ELEMENTS:
        raise bad(f"input {name!r}: shape {shape} is larger than this server accepts ({MAX_ELEMENTS} values)")
    return shape


def check_indices(name: str, arr: np.ndarray, rows: int) -> None:
    """Values of an index input must lie in -rows..rows-1 (ONNX Gather), see ``ir.graph_ranges.index_bounds``."""
    if arr.size and arr.dtype.kind in "iu":
        lo, hi = int(arr.min()), int(arr.max())
        if lo < -rows or hi >= rows:
            worst = lo if lo < -rows else hi
            raise bad(f"input {name!r} has value {worst}; the model looks up a table of {rows} rows with it")


def validate_feeds(
    signature: Signature, feeds: Mapping[str, np.ndarray], max_rows: int, bounds: Mapping[str, int] | None = None
) -> int:
    """Check a complete set of inputs (and index inputs against ``bounds``); returns the rows (the batch dim)."""
    want = {t.name: t for t in signature.inputs}
    unknown = sorted(set(feeds) - set(want))
    if unknown:
        raise bad(f"unknown input(s) {', '.join(map(repr, unknown))}; the model's inputs are {', '.join(want)}")
    missing = [n for n in want if n not in feeds]
    if missing:
        raise bad(f"missing input(s) {', '.join(map(repr, missing))}; the model needs {', '.join(want)}")
    sizes: dict[str, tuple[int, str]] = {}
    rows = -1
    for name, spec in want.items():
        arr = feeds[name]
        if arr.dtype != (np.dtype(object) if spec.dtype == "str" else np.dtype(spec.dtype)):
            raise bad(f"input {name!r} takes {spec.dtype}; got {arr.dtype}")
        if arr.ndim != len(spec.shape):
            raise bad(f"input {name!r} has {len(spec.shape)} dims {_shape_text(spec)}; got shape {list(arr.shape)}")
        for axis, (d, got) in enumerate(zip(spec.shape, arr.shape, strict=True)):
            if isinstance(d, int):
                if d != got:
                    raise bad(f"input {name!r}: dim {axis} must be {d} (shape {_shape_text(spec)}); got {got}")
            elif d in sizes and sizes[d][0] != got:
                other = sizes[d][1]
                raise bad(f"inputs {other!r} and {name!r} must agree on dim {d!r}; got {sizes[d][0]} and {got}")
            else:
                sizes[d] = (got, name)
            if got == 0:
                raise bad(f"input {name!r}: dim {axis} is 0; send at least one value")
        if bounds and name in bounds:
            check_indices(name, arr, bounds[name])
        if rows < 0:
            rows = int(arr.shape[0]) if arr.ndim else 1
        elif arr.ndim and arr.shape[0] != rows:
            raise bad(f"all inputs must have the same batch size; {name!r} has {arr.shape[0]}, others {rows}")
    if rows > max_rows:
        raise bad(f"the request has {rows} rows; this model takes at most {max_rows} per request. Split it")
    return max(rows, 1)
