"""Safety at the edge: the body size limit (413) and the one handler that maps ServeError to JSON."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lepton.errors import ServeError
from lepton.wire import dumps, loads


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(obj), status, headers=headers, media_type="application/json")


def error_response(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status, headers)


async def serve_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServeError)
    headers = {}
    retry = getattr(exc, "retry_after_s", None)
    if retry is not None:
        headers["Retry-After"] = str(retry)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return error_response(str(exc), exc.status, headers)


async def parse_json(request: Request) -> Any:
    body = await request.body()
    try:
        return loads(body)
    except ValueError as e:
        raise ServeError(f"the body is not valid JSON ({e})", 400) from None


class BodyLimit:
    """Pure ASGI middleware: 413 when Content-Length or the streamed body exceeds ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    size = -1
                if size > self.max_bytes or size < 0:
                    await self._reject(scope, receive, send, size)
                    return
                await self.app(scope, receive, send)  # the server enforces the declared length
                return
        seen = 0
        limit = self.max_bytes

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise ServeError(f"the request body is larger than the limit of {limit} bytes", 413)
            return msg

        await self.app(scope, limited, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        msg = (
            f"the request body is {size} bytes; the limit is {self.max_bytes} (--max-body-bytes). "
            "Send fewer rows per request"
        )
        await error_response(msg, 413, {"Connection": "close"})(scope, receive, send)
