"""Bearer-token check for the admin routes (load, unload, reload)."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from lepton.errors import ServeError


def require_admin(request: Request, token: str | None) -> None:
    """Raise 403 when admin routes are off (no token configured), 401 when the token is missing or wrong."""
    if not token:
        raise ServeError("admin routes are off: start the server with --token or LEPTON_TOKEN to enable them", 403)
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise ServeError("this route needs 'Authorization: Bearer <token>'", 401)
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ServeError("the bearer token is not valid", 401)
