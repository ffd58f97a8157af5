"""The inference routes, called straight from the ASGI entry point.

FastAPI declares these routes too (so ``/openapi.json`` documents them), but every request that goes
through FastAPI's middleware stack, router and dependency solver costs about 0.3 ms of event-loop CPU.
On a 2-core machine that time comes out of the model's cores. ``LeptonApp`` matches the inference paths
first and calls the same endpoint functions directly, with the same body limit and the same error
responses. Every other path (metadata, health, admin, metrics, dashboard, docs) goes through FastAPI.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from lepton.errors import ServeError
from lepton.serve.limits import BodyLimit, error_response, serve_error_handler
from lepton.serve.protocols import protocol_schemas, protocols
from lepton.serve.protocols.spec import Endpoint

log = logging.getLogger("lepton.serve")


def route_pattern(path: str) -> re.Pattern[str]:
    """A route template as a regex: ``/v2/models/{name}/infer`` -> ``/v2/models/(?P<name>[^/]+)/infer``."""
    parts = re.split(r"\{(\w+)\}", path)  # literal, name, literal, name, ..., literal
    return re.compile("".join(f"(?P<{p}>[^/]+)" if i % 2 else re.escape(p) for i, p in enumerate(parts)))


# Each protocol's hot endpoints, at the paths its router declares (so FastAPI and this matcher cannot disagree).
HOT_ROUTES: tuple[tuple[re.Pattern[str], Endpoint], ...] = tuple(
    (route_pattern(path), endpoint) for proto in protocols() for path, endpoint in proto.hot_paths()
)


def match(path: str) -> tuple[Endpoint, dict[str, Any]] | None:
    """The endpoint and path parameters for an inference path, or None."""
    for pattern, endpoint in HOT_ROUTES:
        m = pattern.fullmatch(path)
        if m is not None:
            return endpoint, {k: v for k, v in m.groupdict().items() if v is not None}
    return None


class LeptonApp(FastAPI):
    """FastAPI, with POSTs to the inference routes dispatched before its middleware and router."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hot_limited: BodyLimit | None = None

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, completed with what the routes really answer (``serve.openapi.finalize``)."""
        if self.openapi_schema is None:
            from lepton.serve.openapi import finalize

            self.openapi_schema = finalize(super().openapi(), protocol_schemas())
        return self.openapi_schema

    def limit_body(self, max_bytes: int) -> None:
        self._hot_limited = BodyLimit(self._hot, max_bytes)
        self.add_middleware(BodyLimit, max_bytes=max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self._hot_limited is not None:
            hit = match(scope["path"])
            if hit is not None:
                scope["app"] = self
                scope["lepton.hot"] = hit
                await self._hot_limited(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _hot(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint, params = scope["lepton.hot"]
        request = Request(scope, receive)
        try:
            response = await endpoint(request, **params)
        except ServeError as e:
            response = await serve_error_handler(request, e)
        except Exception as e:  # noqa: BLE001 - same answer as FastAPI's handler: 500, details in the log
            log.exception("unhandled error on %s", scope["path"], exc_info=e)
            response = error_response(f"internal error: {type(e).__name__}; see the server log", 500)
        await response(scope, receive, send)
