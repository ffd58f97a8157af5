"""What a serving protocol declares once, for the app, the direct inference path and ``/openapi.json`` to iterate.

A protocol is a class registered on ``PROTOCOLS`` (``@PROTOCOLS.register("v2")``; third parties add theirs through
the ``lepton.protocols`` entry-point group) naming its FastAPI ``router`` (its routes, with their OpenAPI
summaries, bodies and answers), the POST endpoints ``hot`` that take the direct path (``serve.hot``), the
component ``schemas`` its answers refer to, and the paths the server's index lists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.responses import Response

from lepton.registry import Registry

Endpoint = Callable[..., Awaitable[Response]]


class Protocol:
    """Base of every serving protocol: declarations only, on the class."""

    name: ClassVar[str]
    router: ClassVar[APIRouter]
    hot: ClassVar[tuple[Endpoint, ...]] = ()  # inference endpoints called straight from the ASGI entry point
    schemas: ClassVar[dict[str, dict[str, Any]]] = {}  # OpenAPI component schemas: name -> JSON schema
    listed: ClassVar[tuple[str, ...]] = ()  # the paths the server's index names
    rank: ClassVar[int] = 50  # the order in the app, and so in /openapi.json and the index

    @classmethod
    def hot_paths(cls) -> list[tuple[str, Endpoint]]:
        """(path template, endpoint) of each ``hot`` endpoint, as its router declares it (one POST route each)."""
        out = []
        for endpoint in cls.hot:
            paths = [
                r.path
                for r in cls.router.routes
                if isinstance(r, APIRoute) and r.endpoint is endpoint and "POST" in (r.methods or ())
            ]
            if len(paths) != 1:
                raise RuntimeError(f"{cls.name}: hot endpoint {endpoint.__name__} has {len(paths)} POST routes, not 1")
            out.append((paths[0], endpoint))
        return out


PROTOCOLS: Registry[Protocol] = Registry("serving protocol", "lepton.protocols")


def protocols() -> list[type[Protocol]]:
    """The registered protocols in their ``rank`` order (the built-in ones register when ``protocols`` is
    imported)."""
    return sorted((cls for _, cls in PROTOCOLS), key=lambda c: (c.rank, c.name))


def protocol_schemas() -> dict[str, dict[str, Any]]:
    """Every protocol's component schemas, by name."""
    return {name: schema for p in protocols() for name, schema in p.schemas.items()}
