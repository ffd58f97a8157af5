"""A simple JSON route for curl users: named inputs as nested lists in, named outputs as nested lists out.

    curl -X POST localhost:8000/v1/models/NAME/predict -d '{"inputs": {"x": [[0.1, 0.2, 0.3, 0.4]]}}'

The batch dim may be left out for a single row; the outputs then leave it out too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from starlette.responses import Response

from lepton.serve.limits import json_response, parse_json
from lepton.serve.openapi import INFER_ERRORS, answers, ok, ref
from lepton.serve.protocols.common import json_body, server_of, timed
from lepton.serve.protocols.spec import PROTOCOLS, Protocol
from lepton.serve.validate import bad, from_json_data, validate_feeds

router = APIRouter(tags=["Simple JSON"])

_SCHEMAS: dict[str, dict[str, Any]] = {
    "PredictResponse": {
        "type": "object",
        "required": ["model", "version", "outputs"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "string"},
            "outputs": {"type": "object", "additionalProperties": {}, "description": "output name -> values"},
        },
    },
}

_BODY = json_body(
    {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "inputs": {
                "type": "object",
                "additionalProperties": {"type": "array"},
                "description": "input name -> nested list (batch first)",
            }
        },
        "example": {"inputs": {"x": [[0.1, 0.2, 0.3, 0.4]]}},
    }
)


@router.post(
    "/v1/models/{name}/predict",
    summary="Predict with named nested-list inputs",
    openapi_extra=_BODY,
    responses=answers(ok(ref("PredictResponse"), "The outputs, by name"), *INFER_ERRORS),
)
async def predict(request: Request, name: str) -> Response:
    server = server_of(request)
    async with timed(server, name, "simple") as t:
        m = server.registry.get(name)
        body = await parse_json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, dict) or not inputs:
            raise bad('the body must be {"inputs": {"NAME": [[...], ...]}} with one entry per model input')
        sig = m.signature
        feeds: dict[str, np.ndarray] = {}
        for key, value in inputs.items():
            if key not in sig.input_names:
                raise bad(f"unknown input {key!r}; the model's inputs are {', '.join(sig.input_names)}")
            feeds[key] = from_json_data(value, sig.input(key), None)
        single = all(feeds[n].ndim == len(sig.input(n).shape) - 1 for n in feeds)
        if single:
            feeds = {k: v[None, ...] for k, v in feeds.items()}
        t.rows = validate_feeds(sig, feeds, m.max_rows, m.index_bounds)
        outs = await m.infer(feeds, t.rows, server.cfg.timeout_s)
        result: dict[str, Any] = {k: (v[0] if single else v).tolist() for k, v in outs.items()}
        return json_response({"model": m.name, "version": m.version, "outputs": result})


@PROTOCOLS.register("simple")
class SimpleJson(Protocol):
    """Named inputs as nested lists in, named outputs as nested lists out (for curl)."""

    router = router
    hot = (predict,)
    schemas = _SCHEMAS
    listed = ("/v1/models/{name}/predict",)
    rank = 20
