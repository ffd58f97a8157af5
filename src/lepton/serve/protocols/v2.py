"""The Open Inference Protocol v2 REST API (KServe / Triton), with Triton's binary tensor data extension.

Binary requests put ``Inference-Header-Content-Length: N`` on the request; the first N bytes are the JSON
header, and the inputs with ``parameters.binary_data_size`` follow as raw little-endian bytes in order.
Outputs are sent the same way when asked for (``binary_data`` per output, or ``binary_data_output``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from starlette.responses import Response

from lepton import __version__
from lepton.serve.limits import dumps, json_response, loads
from lepton.serve.models import ServedModel
from lepton.serve.protocols.common import json_body, server_of, timed
from lepton.serve.validate import (
    V2_TO_NUMPY,
    bad,
    check_datatype,
    check_shape,
    from_binary,
    from_json_data,
    v2_datatype,
    validate_feeds,
)

HEADER_LENGTH = "inference-header-content-length"
router = APIRouter(tags=["Open Inference Protocol v2"])

_INFER_BODY = json_body(
    {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype"],
                    "properties": {
                        "name": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "datatype": {"type": "string"},
                        "parameters": {"type": "object"},
                        "data": {},
                    },
                },
            },
            "outputs": {"type": "array", "items": {"type": "object"}},
        },
    }
)


# -- health and metadata ------------------------------------------------------------------------
@router.get("/v2", summary="Server metadata")
async def server_metadata() -> Response:
    return json_response(
        {
            "name": "lepton",
            "version": __version__,
            "extensions": ["binary_tensor_data", "model_repository", "model_configuration"],
        }
    )


@router.get("/v2/health/live", summary="Liveness")
async def live() -> Response:
    return json_response({"live": True})


@router.get("/v2/health/ready", summary="Readiness: every model is loaded and the server is not stopping")
async def ready(request: Request) -> Response:
    server = server_of(request)
    ok = server.ready and bool(server.registry.models)
    return json_response({"ready": ok}, 200 if ok else 503)


@router.get("/v2/models/{name}", summary="Model metadata")
@router.get("/v2/models/{name}/versions/{version}", summary="Model metadata (one version)")
async def model_metadata(request: Request, name: str, version: str | None = None) -> Response:
    return json_response(server_of(request).registry.get(name, version).metadata())


@router.get("/v2/models/{name}/ready", summary="Model readiness")
@router.get("/v2/models/{name}/versions/{version}/ready", summary="Model readiness (one version)")
async def model_ready(request: Request, name: str, version: str | None = None) -> Response:
    server = server_of(request)
    server.registry.get(name, version)
    return json_response({"name": name, "ready": server.ready})


@router.get("/v2/models/{name}/config", summary="Model configuration (Triton's shape: max_batch_size, ...)")
@router.get("/v2/models/{name}/versions/{version}/config", summary="Model configuration (one version)")
async def model_config(request: Request, name: str, version: str | None = None) -> Response:
    return json_response(triton_config(server_of(request).registry.get(name, version)))


def triton_config(m: ServedModel) -> dict[str, Any]:
    def tensors(specs: Any) -> list[dict[str, Any]]:
        out = []
        for t in specs:
            dims = [d if isinstance(d, int) else -1 for d in t.shape]
            out.append(
                {
                    "name": t.name,
                    "data_type": "TYPE_" + ("STRING" if t.dtype == "str" else v2_datatype(t.dtype)),
                    "dims": dims[1:] if m.max_batch_size else dims,
                }
            )
        return out

    st = m.batcher.policy.state()
    return {
        "name": m.name,
        "platform": m.platform,
        "backend": m.engine,
        "version_policy": {"specific": {"versions": [m.version]}},
        "max_batch_size": m.max_batch_size,
        "input": tensors(m.signature.inputs),
        "output": tensors(m.signature.outputs),
        "dynamic_batching": {
            "max_queue_delay_microseconds": int(st.delay_s * 1e6),
            "max_queue_size": m.batcher.max_queue_rows,
            "mode": m.batcher.policy.mode,
        },
        "runtime": m.resolved.runtime.to_json(),
    }


# -- inference ----------------------------------------------------------------------------------
def _split_body(request: Request, body: bytes) -> tuple[dict[str, Any], memoryview]:
    length = request.headers.get(HEADER_LENGTH)
    if length is None:
        head: bytes = body
        rest = memoryview(b"")
    else:
        try:
            n = int(length)
        except ValueError:
            raise bad(f"{HEADER_LENGTH} must be an integer; got {length!r}") from None
        if not 0 <= n <= len(body):
            raise bad(f"{HEADER_LENGTH} is {n} but the body has {len(body)} bytes")
        head, rest = body[:n], memoryview(body)[n:]
    try:
        header = loads(head)
    except ValueError as e:
        raise bad(f"the inference request header is not valid JSON ({e})") from None
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise bad('the request needs an \'inputs\' list: {"inputs": [{"name", "shape", "datatype", "data"}]}')
    return header, rest


def parse_inputs(m: ServedModel, header: dict[str, Any], blob: memoryview) -> dict[str, np.ndarray]:
    sig = m.signature
    feeds: dict[str, np.ndarray] = {}
    offset = 0
    for entry in header["inputs"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise bad("each input needs a 'name', 'shape' and 'datatype'")
        name = entry["name"]
        if name in feeds:
            raise bad(f"input {name!r} is given twice")
        spec = sig.input(name) if name in sig.input_names else None
        if spec is None:
            raise bad(f"unknown input {name!r}; the model's inputs are {', '.join(sig.input_names)}")
        shape = check_shape(entry.get("shape"), name)
        datatype = entry.get("datatype")
        if datatype not in V2_TO_NUMPY:
            raise bad(f"input {name!r}: datatype {datatype!r} is not one of {', '.join(V2_TO_NUMPY)}")
        check_datatype(spec, datatype)
        size = (entry.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(blob):
                raise bad(f"input {name!r}: binary_data_size {size!r} runs past the end of the body")
            feeds[name] = from_binary(blob[offset : offset + size], spec, datatype, shape)
            offset += size
        elif "data" in entry:
            feeds[name] = from_json_data(entry["data"], spec, shape)
        else:
            raise bad(f"input {name!r} has neither 'data' nor parameters.binary_data_size")
    if offset != len(blob):
        raise bad(f"the body has {len(blob) - offset} bytes of binary data that no input claims")
    return feeds


def _wanted(m: ServedModel, header: dict[str, Any]) -> list[tuple[str, bool]]:
    default_binary = bool((header.get("parameters") or {}).get("binary_data_output", False))
    asked = header.get("outputs")
    if not asked:
        return [(n, default_binary) for n in m.signature.output_names]
    out: list[tuple[str, bool]] = []
    names = m.signature.output_names
    for o in asked:
        name = o.get("name") if isinstance(o, dict) else None
        if not isinstance(name, str) or name not in names:
            raise bad(f"unknown output {name!r}; the model's outputs are {', '.join(names)}")
        out.append((name, bool((o.get("parameters") or {}).get("binary_data", default_binary))))
    return out


def encode_response(m: ServedModel, header: dict[str, Any], outs: dict[str, np.ndarray]) -> Response:
    wanted = _wanted(m, header)
    tensors = []
    blobs: list[bytes] = []
    for name, binary in wanted:
        arr = outs[name]
        desc: dict[str, Any] = {
            "name": name,
            "datatype": v2_datatype(arr.dtype.name),
            "shape": list(arr.shape),
        }
        if binary:
            raw = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
            desc["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            flat = np.ascontiguousarray(arr).reshape(-1)
            desc["data"] = flat if flat.dtype.kind in "iuf" and flat.dtype.itemsize >= 4 else flat.tolist()
        tensors.append(desc)
    body: dict[str, Any] = {"model_name": m.name, "model_version": m.version, "outputs": tensors}
    if "id" in header:
        body["id"] = header["id"]
    head = dumps(body)
    if not blobs:
        return Response(head, 200, media_type="application/json")
    return Response(
        b"".join([head, *blobs]),
        200,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(head))},
    )


@router.post("/v2/models/{name}/infer", summary="Inference (JSON, or binary tensor data)", openapi_extra=_INFER_BODY)
@router.post("/v2/models/{name}/versions/{version}/infer", summary="Inference (one version)", openapi_extra=_INFER_BODY)
async def infer(request: Request, name: str, version: str | None = None) -> Response:
    server = server_of(request)
    async with timed(server, name, "v2") as t:
        m = server.registry.get(name, version)
        header, blob = _split_body(request, await request.body())
        feeds = parse_inputs(m, header, blob)
        t.rows = validate_feeds(m.signature, feeds, m.max_rows)
        outs = await m.infer(feeds, t.rows, server.cfg.timeout_s)
        return encode_response(m, header, outs)


# -- model repository (admin) -------------------------------------------------------------------
@router.post("/v2/repository/index", summary="Loaded models (admin)")
async def repository_index(request: Request) -> Response:
    server = server_of(request)
    server.admin(request)
    return json_response(
        [
            {"name": m.name, "version": m.version, "state": "READY", "ref": m.ref}
            for m in server.registry.models.values()
        ]
    )


async def _params(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        return {}
    try:
        data = loads(body)
    except ValueError:
        raise bad('the body must be JSON: {"parameters": {"ref": "path/or/name"}}') from None
    params = data.get("parameters") if isinstance(data, dict) else None
    return params if isinstance(params, dict) else {}


@router.post("/v2/repository/models/{name}/load", summary="Load or reload a model (admin)")
async def repository_load(request: Request, name: str) -> Response:
    server = server_of(request)
    server.admin(request)
    ref = (await _params(request)).get("ref")
    if ref is not None and not isinstance(ref, str):
        raise bad("parameters.ref must be a string: a path to an .onnx file or a stored model name")
    if ref is None and name in server.registry.models:
        m = await server.registry.reload(name)
    else:
        m = await server.registry.load(ref or name, name)
    return json_response({"name": m.name, "version": m.version, "state": "READY"})


@router.post("/v2/repository/models/{name}/reload", summary="Reload a model without dropping requests (admin)")
async def repository_reload(request: Request, name: str) -> Response:
    server = server_of(request)
    server.admin(request)
    m = await server.registry.reload(name)
    return json_response({"name": m.name, "version": m.version, "state": "READY"})


@router.post("/v2/repository/models/{name}/unload", summary="Unload a model after its queue drains (admin)")
async def repository_unload(request: Request, name: str) -> Response:
    server = server_of(request)
    server.admin(request)
    await server.registry.unload(name)
    return json_response({"name": name, "state": "UNAVAILABLE"})
