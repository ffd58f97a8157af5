"""What every protocol router shares: the server handle and per-request accounting."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from lepton.errors import ServeError
from lepton.serve.limits import json_response

if TYPE_CHECKING:
    from lepton.serve.app import Server

_REASONS = {413: "too_large", 429: "queue_full", 503: "unavailable", 504: "timeout"}


def server_of(request: Request) -> Server:
    return request.app.state.server  # type: ignore[no-any-return]


@dataclass
class Timing:
    rows: int = 0
    status: int = 200


@asynccontextmanager
async def timed(server: Server, model: str, route: str) -> AsyncIterator[Timing]:
    """Count the request (by status), its latency and rows; refusals also count by reason."""
    t = Timing()
    t0 = time.perf_counter()
    try:
        yield t
    except ServeError as e:
        t.status = e.status
        reason = _REASONS.get(e.status, "invalid" if e.status < 500 else "error")
        server.metrics.observe_rejected(model, reason)
        raise
    except Exception:
        t.status = 500
        raise
    finally:
        server.metrics.observe_request(model, route, t.status, time.perf_counter() - t0, t.rows)


def openai_error(e: ServeError) -> Response:
    """A ServeError as OpenAI's error body (its clients raise the matching exception from it)."""
    kind = "invalid_request_error" if e.status < 500 else "server_error"
    headers = {"Retry-After": str(e.retry_after_s)} if hasattr(e, "retry_after_s") else None
    return json_response(
        {"error": {"message": str(e), "type": kind, "param": None, "code": e.status}}, e.status, headers
    )


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its JSON body itself (so FastAPI does not parse it twice)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
