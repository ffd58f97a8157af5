"""Routes of a gated rollout: its status, and manual promote / abort (admin: bearer token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from lepton.errors import ServeError
from lepton.serve.limits import json_response, loads
from lepton.serve.openapi import ADMIN_ERRORS, BEARER, JSON, answers, ok
from lepton.serve.protocols.common import server_of
from lepton.serve.rollout import Rollout

router = APIRouter(tags=["Rollout"])
_STATUS = ok(
    {
        "type": "object",
        "required": ["rollout_id", "model", "phase", "share", "evidence", "events"],
        "properties": {
            "rollout_id": {"type": "string"},
            "model": {"type": "string"},
            "phase": {"type": "string", "enum": ["evaluating", "ramping", "promoted", "rolled_back"]},
            "share": {"type": "number", "description": "share of live requests the candidate answers"},
            "evidence": {"type": "object"},
            "events": {"type": "array", "items": {"type": "object"}},
        },
    },
    "The rollout: phase, the candidate's share, the test's evidence and every event so far",
)
_ADMIN: dict[str, Any] = {
    "security": [{BEARER: []}],
    "requestBody": {
        "required": False,
        "content": {
            JSON: {
                "schema": {
                    "type": "object",
                    "properties": {"reason": {"type": "string", "description": "stored with the event"}},
                }
            }
        },
    },
}


def _rollout(request: Request, name: str) -> Rollout:
    model = server_of(request).registry.get(name)
    if model.rollout is None:
        raise ServeError(f"model {name!r} has no rollout; start the server with --candidate", 404)
    return model.rollout


async def _reason(request: Request, default: str) -> str:
    body = await request.body()
    try:
        data = loads(body) if body else {}
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("reason", ""), str):
        raise ServeError('the body must be JSON like {"reason": "why"} (or empty)', 400)
    return str(data.get("reason") or default)


@router.get("/admin/rollout/{name}", summary="A model's rollout", responses=answers(_STATUS, 404))
async def status(request: Request, name: str) -> Response:
    return json_response(_rollout(request, name).status().to_json())


@router.post(
    "/admin/rollout/{name}/promote",
    summary="Promote the candidate now: it answers every request (admin)",
    responses=answers(_STATUS, 400, 404, 409, *ADMIN_ERRORS),
    openapi_extra=_ADMIN,
)
async def promote(request: Request, name: str) -> Response:
    server_of(request).admin(request)
    rollout = _rollout(request, name)
    rollout.promote(await _reason(request, "promoted by an admin"))
    return json_response(rollout.status().to_json())


@router.post(
    "/admin/rollout/{name}/abort",
    summary="Roll the candidate back now: the incumbent answers every request (admin)",
    responses=answers(_STATUS, 400, 404, 409, *ADMIN_ERRORS),
    openapi_extra=_ADMIN,
)
async def abort(request: Request, name: str) -> Response:
    server_of(request).admin(request)
    rollout = _rollout(request, name)
    rollout.abort(await _reason(request, "aborted by an admin"))
    return json_response(rollout.status().to_json())
