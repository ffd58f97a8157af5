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

from lepton.serve.limits import json_response
from lepton.serve.models import ServedModel
from lepton.serve.openapi import ADMIN_ERRORS, BEARER, BINARY, INFER_ERRORS, JSON, answers, ok, ref
from lepton.serve.protocols.common import server_of, timed
from lepton.serve.protocols.spec import PROTOCOLS, Protocol
from lepton.serve.protocols.v2_schemas import SCHEMAS
from lepton.serve.validate import (
    bad,
    check_datatype,
    check_shape,
    from_binary,
    from_json_data,
    short,
    validate_feeds,
)
from lepton.settings import VERSION
from lepton.wire import HEADER_LENGTH, V2_TO_NUMPY, encode_body, encode_tensor, loads, split_body, v2_datatype

router = APIRouter(tags=["Open Inference Protocol v2"])

_INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            JSON: {"schema": ref("InferenceRequest")},
            BINARY: {
                "schema": {"type": "string", "format": "binary"},
                "description": "Binary tensor data: the JSON header (Inference-Header-Content-Length bytes), "
                "then the inputs' raw little-endian bytes in order",
            },
        },
    },
    "parameters": [
        {
            "name": "Inference-Header-Content-Length",
            "in": "header",
            "required": False,
            "schema": {"type": "integer", "minimum": 0},
            "description": "Length of the JSON header when binary tensor data follows it",
        }
    ],
}
_INFER_ANSWERS = answers(
    {
        "description": "The outputs; binary outputs (when asked for) follow the JSON header, whose length is in "
        "the Inference-Header-Content-Length response header",
        "content": {JSON: {"schema": ref("InferenceResponse")}, BINARY: {"schema": {"type": "string"}}},
    },
    *INFER_ERRORS,
)
_ADMIN: dict[str, Any] = {"security": [{BEARER: []}]}


# -- health and metadata ------------------------------------------------------------------------
@router.get("/v2", summary="Server metadata", responses=answers(ok(ref("ServerMetadata"), "The server")))
async def server_metadata() -> Response:
    return json_response(
        {
            "name": "lepton",
            "version": VERSION,
            "extensions": ["binary_tensor_data", "model_repository", "model_configuration"],
        }
    )


@router.get("/v2/health/live", summary="Liveness", responses=answers(ok(ref("Live"), "The server is up")))
async def live() -> Response:
    return json_response({"live": True})


@router.get(
    "/v2/health/ready",
    summary="Readiness: every model is loaded and the server is not stopping",
    responses={**answers(ok(ref("Ready"), "Ready")), 503: ok(ref("Ready"), "Not ready (starting or stopping)")},
)
async def ready(request: Request) -> Response:
    server = server_of(request)
    ok = server.ready and bool(server.registry.models or server.registry.generators)
    return json_response({"ready": ok}, 200 if ok else 503)


_META = answers(ok(ref("ModelMetadata"), "The model's inputs and outputs"), 404)
_READY = answers(ok(ref("ModelReady"), "Whether the model takes requests"), 404)
_CONFIG = answers(ok(ref("ModelConfig"), "The model's configuration"), 404)


@router.get("/v2/models/{name}", summary="Model metadata", responses=_META)
async def model_metadata(request: Request, name: str) -> Response:
    return json_response(server_of(request).registry.get(name).metadata())


@router.get("/v2/models/{name}/versions/{version}", summary="Model metadata (one version)", responses=_META)
async def version_metadata(request: Request, name: str, version: str) -> Response:
    return json_response(server_of(request).registry.get(name, version).metadata())


@router.get("/v2/models/{name}/ready", summary="Model readiness", responses=_READY)
async def model_ready(request: Request, name: str) -> Response:
    return _ready(request, name, None)


@router.get("/v2/models/{name}/versions/{version}/ready", summary="Model readiness (one version)", responses=_READY)
async def version_ready(request: Request, name: str, version: str) -> Response:
    return _ready(request, name, version)


def _ready(request: Request, name: str, version: str | None) -> Response:
    server = server_of(request)
    server.registry.get(name, version)
    return json_response({"name": name, "ready": server.ready})


@router.get(
    "/v2/models/{name}/config",
    summary="Model configuration (Triton's shape: max_batch_size, ...)",
    responses=_CONFIG,
)
async def model_config(request: Request, name: str) -> Response:
    return json_response(triton_config(server_of(request).registry.get(name)))


@router.get(
    "/v2/models/{name}/versions/{version}/config", summary="Model configuration (one version)", responses=_CONFIG
)
async def version_config(request: Request, name: str, version: str) -> Response:
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
    try:
        n = None if length is None else int(length)
    except ValueError:
        raise bad(f"{HEADER_LENGTH.lower()} must be an integer; got {length!r}") from None
    try:
        head, rest = split_body(body, n)
    except ValueError as e:
        raise bad(str(e)) from None
    try:
        header = loads(head)
    except ValueError as e:
        raise bad(f"the inference request header is not valid JSON ({e})") from None
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise bad('the request needs an \'inputs\' list: {"inputs": [{"name", "shape", "datatype", "data"}]}')
    _check_fields(header)
    return header, rest


def _check_fields(header: dict[str, Any]) -> None:
    """The request's optional fields have the kinds the protocol gives them (checked before the model runs)."""
    if "id" in header and not isinstance(header["id"], str):
        raise bad(f"'id' must be a string (it is echoed back); got {short(header['id'])}")
    if "outputs" in header and not isinstance(header["outputs"], list):
        raise bad(f'\'outputs\' must be a list like [{{"name": "y"}}]; got {short(header["outputs"])}')
    entries = [("the request", header)]
    entries += [(f"input {i}", e) for i, e in enumerate(header["inputs"]) if isinstance(e, dict)]
    entries += [(f"output {i}", e) for i, e in enumerate(header.get("outputs") or []) if isinstance(e, dict)]
    for where, entry in entries:
        if "parameters" in entry and not isinstance(entry["parameters"], dict):
            raise bad(f"{where}: 'parameters' must be an object; got {short(entry['parameters'])}")


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
    tensors = []
    blobs: list[bytes] = []
    for name, binary in _wanted(m, header):
        desc, raw = encode_tensor(name, outs[name], binary=binary)
        tensors.append(desc)
        if raw is not None:
            blobs.append(raw)
    body: dict[str, Any] = {"model_name": m.name, "model_version": m.version, "outputs": tensors}
    if "id" in header:
        body["id"] = header["id"]
    content, headers = encode_body(body, blobs)
    media = headers.pop("Content-Type")
    return Response(content, 200, media_type=media, headers=headers or None)


async def _infer(request: Request, name: str, version: str | None = None) -> Response:
    server = server_of(request)
    async with timed(server, name, "v2") as t:
        m = server.registry.get(name, version)
        header, blob = _split_body(request, await request.body())
        feeds = parse_inputs(m, header, blob)
        _wanted(m, header)  # unknown outputs are refused before the model runs
        t.rows = validate_feeds(m.signature, feeds, m.max_rows, m.index_bounds)
        outs = await m.infer(feeds, t.rows, server.cfg.timeout_s)
        return encode_response(m, header, outs)


# Requests reach these straight from ``hot.LeptonApp``; FastAPI's declarations document them.
@router.post(
    "/v2/models/{name}/infer",
    summary="Inference (JSON, or binary tensor data)",
    openapi_extra=_INFER_BODY,
    responses=_INFER_ANSWERS,
)
async def infer_latest(request: Request, name: str) -> Response:
    return await _infer(request, name)


@router.post(
    "/v2/models/{name}/versions/{version}/infer",
    summary="Inference (one version)",
    openapi_extra=_INFER_BODY,
    responses=_INFER_ANSWERS,
)
async def infer_version(request: Request, name: str, version: str) -> Response:
    return await _infer(request, name, version)


# -- model repository (admin) -------------------------------------------------------------------
@router.post(
    "/v2/repository/index",
    summary="Loaded models (admin)",
    responses=answers(ok(ref("RepositoryIndex"), "The loaded models"), *ADMIN_ERRORS),
    openapi_extra=_ADMIN,
)
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
        data = None
    params = data.get("parameters", {}) if isinstance(data, dict) else None
    if not isinstance(params, dict):
        raise bad('the body must be JSON like {"parameters": {"ref": "path/or/name"}} (or empty)')
    return params


@router.post(
    "/v2/repository/models/{name}/load",
    summary="Load or reload a model (admin)",
    responses=answers(ok(ref("ModelState"), "Loaded"), 400, *ADMIN_ERRORS),
    openapi_extra={
        **_ADMIN,
        "requestBody": {"required": False, "content": {JSON: {"schema": ref("LoadRequest")}}},
    },
)
async def repository_load(request: Request, name: str) -> Response:
    server = server_of(request)
    server.admin(request)
    params = await _params(request)
    ref = params.get("ref")
    if "ref" in params and (not isinstance(ref, str) or not ref):
        raise bad(f"parameters.ref must be a path to an .onnx file or a stored model name; got {short(ref)}")
    if ref is None and name in server.registry.models:
        m = await server.registry.reload(name)
    else:
        m = await server.registry.load(ref or name, name)
    return json_response({"name": m.name, "version": m.version, "state": "READY"})


@router.post(
    "/v2/repository/models/{name}/reload",
    summary="Reload a model without dropping requests (admin)",
    responses=answers(ok(ref("ModelState"), "Reloaded"), 400, 404, *ADMIN_ERRORS),
    openapi_extra=_ADMIN,
)
async def repository_reload(request: Request, name: str) -> Response:
    server = server_of(request)
    server.admin(request)
    m = await server.registry.reload(name)
    return json_response({"name": m.name, "version": m.version, "state": "READY"})


@router.post(
    "/v2/repository/models/{name}/unload",
    summary="Unload a model after its queue drains (admin)",
    responses=answers(ok(ref("ModelState"), "Unloaded"), 404, *ADMIN_ERRORS),
    openapi_extra=_ADMIN,
)
async def repository_unload(request: Request, name: str) -> Response:
    server = server_of(request)
    server.admin(request)
    await server.registry.unload(name)
    return json_response({"name": name, "state": "UNAVAILABLE"})


@PROTOCOLS.register("v2")
class OpenInferenceV2(Protocol):
    """Open Inference Protocol v2 (KServe, Triton): metadata, health, inference (JSON or binary tensor data) and
    the model repository (admin)."""

    router = router
    hot = (infer_latest, infer_version)
    schemas = SCHEMAS
    listed = ("/v2/health/ready", "/v2/models/{name}/infer")
    rank = 10
