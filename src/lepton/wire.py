"""The Open Inference Protocol v2 (KServe / Triton) on the wire: the one datatype table and the one codec that
the server (``serve.protocols.v2``, ``serve.validate``), ``lepton.Client`` and ``lepton loadtest`` share.

A tensor travels as JSON (``data``: the values flat in row-major order) or, with Triton's binary tensor data
extension, as raw little-endian bytes after the JSON header: the body then starts with the header, whose
length is in ``Inference-Header-Content-Length``, and each binary tensor says its size in
``parameters.binary_data_size``, in order.

A base module (numpy and JSON only): the client imports it without the server's stack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

HEADER_LENGTH = "Inference-Header-Content-Length"
JSON = "application/json"
BINARY = "application/octet-stream"

# Open Inference Protocol datatypes <-> numpy dtype names ("str": BYTES, sent as JSON strings only)
V2_TO_NUMPY: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "str",
}
NUMPY_TO_V2: dict[str, str] = {v: k for k, v in V2_TO_NUMPY.items()}


def dumps(obj: Any) -> bytes:
    """JSON bytes, numpy arrays and scalars included: the one encoder of the server, client and load test."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def v2_datatype(dtype: str) -> str:
    """The v2 datatype of a numpy dtype name: ``float32`` -> ``FP32``, ``str`` -> ``BYTES``."""
    return NUMPY_TO_V2.get(dtype, dtype.upper())


def numpy_dtype(datatype: str) -> np.dtype:
    """The numpy dtype of a v2 datatype (``BYTES``: a unicode string); KeyError for one not in the table."""
    return np.dtype(V2_TO_NUMPY[datatype])


def to_bytes(arr: np.ndarray) -> bytes:
    """The raw little-endian bytes of ``arr`` in row-major order (a binary tensor)."""
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()


def from_bytes(buf: bytes | memoryview, datatype: str, shape: Sequence[int]) -> np.ndarray:
    """A binary tensor back as an array of ``shape`` in native byte order; ValueError when ``datatype`` has no
    binary form (BYTES, unknown) or the byte count does not fill ``shape``."""
    name = V2_TO_NUMPY.get(datatype)
    if name is None or name == "str":
        raise ValueError(f"datatype {datatype!r} is not supported for binary data")
    dtype = np.dtype(name)
    expected = int(np.prod(shape)) if len(shape) else 1
    if len(buf) != expected * dtype.itemsize:
        raise ValueError(f"shape {list(shape)} needs {expected} {datatype} values; got {len(buf)} bytes")
    return np.frombuffer(buf, dtype=dtype.newbyteorder("<")).reshape(shape).astype(dtype, copy=False)


def encode_tensor(
    name: str, arr: np.ndarray, *, binary: bool, datatype: str | None = None
) -> tuple[dict[str, Any], bytes | None]:
    """One tensor entry of a request or response, and its bytes when ``binary`` (else None: the values are in
    ``data``). ``datatype`` defaults to the array's."""
    desc: dict[str, Any] = {
        "name": name,
        "datatype": datatype or v2_datatype(arr.dtype.name),
        "shape": list(arr.shape),
    }
    if binary:
        raw = to_bytes(arr)
        desc["parameters"] = {"binary_data_size": len(raw)}
        return desc, raw
    flat = np.ascontiguousarray(arr).reshape(-1)
    desc["data"] = flat if flat.dtype.kind in "iuf" and flat.dtype.itemsize >= 4 else flat.tolist()
    return desc, None


def encode_body(header: Mapping[str, Any], blobs: Sequence[bytes]) -> tuple[bytes, dict[str, str]]:
    """A request or response body and the headers that frame it: the JSON alone, or (with ``blobs``) the JSON
    header followed by the binary tensors, its length in ``Inference-Header-Content-Length``."""
    head = dumps(header)
    if not blobs:
        return head, {"Content-Type": JSON}
    return head + b"".join(blobs), {HEADER_LENGTH: str(len(head)), "Content-Type": BINARY}


def encode_request(
    arrays: Mapping[str, np.ndarray],
    *,
    binary: bool,
    binary_output: bool = False,
    datatypes: Mapping[str, str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an ``infer`` request for named arrays; ``binary_output`` asks for binary outputs."""
    entries, blobs = [], []
    for name, arr in arrays.items():
        desc, raw = encode_tensor(name, arr, binary=binary, datatype=(datatypes or {}).get(name))
        entries.append(desc)
        if raw is not None:
            blobs.append(raw)
    header: dict[str, Any] = {"inputs": entries}
    if binary_output:
        header["parameters"] = {"binary_data_output": True}
    return encode_body(header, blobs)


def split_body(body: bytes, header_length: str | int | None) -> tuple[bytes, memoryview]:
    """The JSON header and the binary data after it; ValueError when the length is not a count inside the body."""
    if header_length is None:
        return body, memoryview(b"")
    n = int(header_length)
    if not 0 <= n <= len(body):
        raise ValueError(f"{HEADER_LENGTH.lower()} is {n} but the body has {len(body)} bytes")
    return body[:n], memoryview(body)[n:]


def decode_tensors(entries: Sequence[Mapping[str, Any]], blob: memoryview | bytes) -> dict[str, np.ndarray]:
    """Arrays of tensor entries (JSON ``data`` or binary data taken from ``blob`` in order), by name."""
    out: dict[str, np.ndarray] = {}
    offset = 0
    for t in entries:
        size = (t.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            out[t["name"]] = from_bytes(blob[offset : offset + size], t["datatype"], t["shape"])
            offset += size
        else:
            dtype = np.dtype(object) if t["datatype"] == "BYTES" else numpy_dtype(t["datatype"])
            out[t["name"]] = np.asarray(t["data"], dtype=dtype).reshape(t["shape"])
    return out


def decode_response(body: bytes, header_length: str | int | None) -> dict[str, np.ndarray]:
    """The outputs of an ``infer`` response, JSON or binary."""
    head, blob = split_body(body, header_length)
    return decode_tensors(json.loads(head)["outputs"], blob)
