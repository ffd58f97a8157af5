"""What ``/openapi.json`` says the server answers: every status of every route, with its body.

The inference routes read their own bodies (FastAPI never parses them), so FastAPI cannot infer what they
answer; each route names its answers with ``answers(...)``, using the shared schemas below. ``finalize`` adds
the schemas and the admin routes' bearer scheme, and drops FastAPI's 422 where FastAPI validates nothing
(a ``name: str`` path parameter cannot fail), so the document lists only what the server really sends.
The v2 schemas follow the Open Inference Protocol (KServe ``inference_rest.yaml``), with Triton's binary
tensor data extension (``parameters.binary_data_size`` in place of ``data``).
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"
BINARY = "application/octet-stream"
BEARER = "bearer"

_TENSOR_DATA: dict[str, Any] = {
    "description": "the values, flat in row-major order or nested like the shape",
    "type": "array",
    "items": {"anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}, {"type": "array"}]},
}
_PARAMETERS = {"type": "object", "description": "extension parameters (binary_data_size, binary_data, ...)"}
_TENSOR: dict[str, Any] = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "what was wrong and what to do"}},
    },
    "OpenAIError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "code"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string", "enum": ["invalid_request_error", "server_error"]},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": "integer"},
                },
            }
        },
    },
    "ServerMetadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
    "ModelReady": {
        "type": "object",
        "required": ["name", "ready"],
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    },
    "TensorMetadata": {
        **_TENSOR,
        "properties": {
            **_TENSOR["properties"],
            "parameters": {
                "type": "object",
                "description": "index_rows: an index input's values look up a table of this many rows (0..rows-1)",
                "properties": {"index_rows": {"type": "integer", "minimum": 1}},
            },
        },
        "description": "a tensor of the model; -1 marks a dim of any size",
    },
    "ModelMetadata": {
        "type": "object",
        "required": ["name", "versions", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}},
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}},
        },
    },
    "ModelConfig": {
        "type": "object",
        "description": "Triton's model configuration, plus the runtime settings the server runs the model with",
        "required": ["name", "platform", "max_batch_size", "input", "output", "dynamic_batching"],
        "properties": {
            "name": {"type": "string"},
            "platform": {"type": "string"},
            "backend": {"type": "string"},
            "version_policy": {"type": "object"},
            "max_batch_size": {"type": "integer", "description": "0: the model has a fixed batch dim"},
            "input": {"type": "array", "items": {"type": "object"}},
            "output": {"type": "array", "items": {"type": "object"}},
            "dynamic_batching": {"type": "object"},
            "runtime": {"type": "object"},
        },
    },
    "InferenceRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string", "description": "echoed in the response"},
            "parameters": _PARAMETERS,
            "inputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype"],
                    "properties": {
                        **_TENSOR["properties"],
                        "parameters": _PARAMETERS,
                        "data": _TENSOR_DATA,
                    },
                    "description": "'data', or parameters.binary_data_size with the bytes after the JSON header",
                },
            },
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "parameters": _PARAMETERS},
                },
            },
        },
        "example": {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}]},
    },
    "InferenceResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": _PARAMETERS,
            "outputs": {
                "type": "array",
                "items": {
                    **_TENSOR,
                    "properties": {**_TENSOR["properties"], "parameters": _PARAMETERS, "data": _TENSOR_DATA},
                },
            },
        },
    },
    "PredictResponse": {
        "type": "object",
        "required": ["model", "version", "outputs"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "string"},
            "outputs": {"type": "object", "additionalProperties": {}, "description": "output name -> values"},
        },
    },
    "Embeddings": {
        "type": "object",
        "required": ["object", "data", "model", "usage"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["object", "index", "embedding"],
                    "properties": {
                        "object": {"type": "string", "enum": ["embedding"]},
                        "index": {"type": "integer"},
                        "embedding": {
                            "oneOf": [
                                {"type": "array", "items": {"type": "number"}},
                                {"type": "string", "description": "base64 of little-endian float32"},
                            ]
                        },
                    },
                },
            },
            "model": {"type": "string"},
            "usage": {
                "type": "object",
                "required": ["prompt_tokens", "total_tokens"],
                "properties": {"prompt_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}},
            },
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "object", "created", "owned_by"],
                    "properties": {
                        "id": {"type": "string"},
                        "object": {"type": "string", "enum": ["model"]},
                        "created": {"type": "integer"},
                        "owned_by": {"type": "string"},
                        "version": {"type": "string"},
                        "task": {"type": "string"},
                    },
                },
            },
        },
    },
    "RepositoryIndex": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name", "version", "state"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "state": {"type": "string"},
                "ref": {"type": "string"},
            },
        },
    },
    "ModelState": {
        "type": "object",
        "required": ["name", "state"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "state": {"type": "string", "enum": ["READY", "UNAVAILABLE"]},
        },
    },
    "LoadRequest": {
        "type": "object",
        "properties": {
            "parameters": {
                "type": "object",
                "properties": {
                    "ref": {"type": "string", "minLength": 1, "description": "a path to an .onnx file or a stored name"}
                },
            }
        },
        "example": {"parameters": {"ref": "dense"}},
    },
}

_WHY = {
    400: "The request is malformed or does not fit the model (the message says what to change)",
    401: "The bearer token is missing or wrong",
    403: "Admin routes are off: the server was started without --token / LEPTON_TOKEN",
    404: "No such model (or version) is loaded",
    413: "The body is larger than --max-body-bytes",
    429: "The model's queue is full; retry after Retry-After seconds",
    503: "The model is unloading or the server is shutting down",
    504: "The model did not answer within --timeout",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    429: {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}},
}
INFER_ERRORS = (400, 404, 413, 429, 503, 504)
ADMIN_ERRORS = (401, 403, 413)


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def ok(schema: dict[str, Any], description: str, media_type: str = JSON) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": schema}}}


def answers(success: dict[str, Any] | None, *statuses: int, error: str = "Error") -> dict[int | str, Any]:
    """``responses=`` for a route: its 200 (when given) and its error statuses with the ``error`` body."""
    out: dict[int | str, Any] = {200: success} if success is not None else {}
    for status in statuses:
        schema: dict[str, Any] = ref(error)
        if status == 413 and error != "Error":  # the body limit answers before the route does
            schema = {"anyOf": [ref(error), ref("Error")]}
        out[status] = {"description": _WHY[status], "content": {JSON: {"schema": schema}}}
        if status in _HEADERS:
            out[status]["headers"] = _HEADERS[status]
    return out


def _fastapi_validates(op: dict[str, Any]) -> bool:
    """Whether FastAPI itself can reject this operation's request (then its 422 is real).

    Routes take only ``name: str``-like path parameters and, on the dashboard, typed query parameters; the
    headers and bodies declared through ``openapi_extra`` are read by the routes, never by FastAPI.
    """
    return any(
        p.get("in") == "query" or (p.get("in") == "path" and p.get("schema", {}).get("type") != "string")
        for p in op.get("parameters", [])
    )


def finalize(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the shared schemas and the bearer scheme; drop 422s FastAPI never sends (see the module doc)."""
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update(SCHEMAS)
    components.setdefault("securitySchemes", {})[BEARER] = {"type": "http", "scheme": "bearer"}
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if isinstance(op, dict) and "responses" in op and not _fastapi_validates(op):
                op["responses"].pop("422", None)
    if "#/components/schemas/HTTPValidationError" not in str(doc.get("paths")):
        for name in ("HTTPValidationError", "ValidationError"):
            components["schemas"].pop(name, None)
    return doc
