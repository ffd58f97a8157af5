"""``/dashboard``: a live page (static HTML + a small canvas chart script, no CDN) fed by /dashboard/data."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from lepton.serve.limits import json_response
from lepton.serve.openapi import answers, ok
from lepton.serve.protocols.common import server_of

if TYPE_CHECKING:
    from lepton.serve.drift import DriftMonitor

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
                "required": ["models", "batching", "ready", "rollouts", "drift"],
                "properties": {
                    "rollouts": {"type": "object", "description": "Per model with a --candidate: RolloutStatus"},
                    "drift": {
                        "type": "object",
                        "description": "Per model watched with --drift: its latest DriftReport (null before one)",
                    },
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
        "batching": {
            **{m.name: m.batcher.snapshot() for m in server.registry.models.values()},
            **{g.name: g.snapshot() for g in server.registry.generators.values()},
        },
        "ready": server.ready,
        "rollouts": {
            m.name: m.rollout.status().to_json() for m in server.registry.models.values() if m.rollout is not None
        },
        "drift": {m.name: _latest(m.drift) for m in server.registry.models.values() if m.drift is not None},
    }
    return json_response(body)


def _latest(monitor: DriftMonitor) -> dict[str, object] | None:
    """The monitor's latest judged window (it judges every 50 new rows, on its own thread), with its skips."""
    report = monitor.latest
    return None if report is None else {**report.to_json(), "skipped": monitor.skipped}
