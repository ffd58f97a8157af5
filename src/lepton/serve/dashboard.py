"""``/dashboard``: a live page (static HTML + a small canvas chart script, no CDN) fed by /dashboard/data."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from lepton.serve.limits import json_response
from lepton.serve.openapi import answers, ok
from lepton.serve.protocols.common import server_of

router = APIRouter(tags=["Observability"])


@lru_cache(maxsize=4)
def _static(name: str) -> str:
    return resources.files("lepton.serve").joinpath("static", name).read_text()


@router.get("/dashboard", summary="Live dashboard (HTML)", response_class=HTMLResponse)
async def page() -> Response:
    return HTMLResponse(_static("dashboard.html"))


@router.get("/dashboard/app.js", summary="Dashboard script", include_in_schema=False)
async def script() -> Response:
    return Response(_static("dashboard.js"), media_type="application/javascript")


@router.get(
    "/dashboard/data",
    summary="Per-second history of every model (what the dashboard draws)",
    responses=answers(
        ok(
            {
                "type": "object",
                "required": ["models", "batching", "ready"],
                "properties": {
                    "models": {"type": "object"},
                    "batching": {"type": "object"},
                    "ready": {"type": "boolean"},
                },
            },
            "Points newer than 'since' (a Unix time), per model",
        )
    ),
)
async def data(request: Request, since: float = 0.0) -> Response:
    server = server_of(request)
    body = {
        "models": server.metrics.history(since),
        "batching": {m.name: m.batcher.snapshot() for m in server.registry.models.values()},
        "ready": server.ready,
    }
    return json_response(body)
