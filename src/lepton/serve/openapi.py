"""What ``/openapi.json`` says the server answers: every status of every route, with its body.

The inference routes read their own bodies (FastAPI never parses them), so FastAPI cannot infer what they
answer; each route names its answers with ``answers(...)``, using the shared ``Error`` schema below and the
schemas its protocol declares (``Protocol.schemas``). ``finalize`` adds the schemas and the admin routes' bearer
scheme, and drops FastAPI's 422 where FastAPI validates nothing (a ``name: str`` path parameter cannot fail), so
the document lists only what the server really sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JSON = "application/json"
BINARY = "application/octet-stream"
BEARER = "bearer"

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "what was wrong and what to do"}},
    },
}

_WHY = {
    400: "The request is malformed or does not fit the model (the message says what to change)",
    401: "The bearer token is missing or wrong",
    403: "Admin routes are off: the server was started without --token / LEPTON_TOKEN",
    404: "No such model (or version) is loaded",
    409: "The rollout has already decided (promoted or rolled back)",
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


def finalize(doc: dict[str, Any], schemas: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Add the shared schemas, the protocols' ``schemas`` and the bearer scheme; drop 422s FastAPI never sends
    (see the module doc)."""
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update({**SCHEMAS, **schemas})
    components.setdefault("securitySchemes", {})[BEARER] = {"type": "http", "scheme": "bearer"}
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if isinstance(op, dict) and "responses" in op and not _fastapi_validates(op):
                op["responses"].pop("422", None)
    if "#/components/schemas/HTTPValidationError" not in str(doc.get("paths")):
        for name in ("HTTPValidationError", "ValidationError"):
            components["schemas"].pop(name, None)
    return doc
