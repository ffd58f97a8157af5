"""One suite over every registered serving protocol: what it declares (routes, hot paths, schemas, listed paths)
is what the app serves and documents."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from lepton.serve import hot
from lepton.serve.openapi import SCHEMAS, finalize
from lepton.serve.protocols import PROTOCOLS, protocol_schemas, protocols

NAMES = PROTOCOLS.names()


def _doc(*routers: Any) -> dict[str, Any]:
    app = FastAPI()
    for router in routers:
        app.include_router(router)
    return finalize(app.openapi(), protocol_schemas())


def test_the_built_in_protocols_are_registered_in_their_order() -> None:
    assert [p.name for p in protocols()] == ["v2", "simple", "openai"]


@pytest.mark.parametrize("name", NAMES)
def test_declarations_are_on_the_class(name: str) -> None:
    proto = PROTOCOLS.get(name)
    assert proto.name == name and proto.__doc__ and proto.hot and proto.listed
    assert not set(proto.schemas) & set(SCHEMAS)  # the shared schemas are not redeclared
    others = {s for p in protocols() if p is not proto for s in p.schemas}
    assert not set(proto.schemas) & others  # nor another protocol's


@pytest.mark.parametrize("name", NAMES)
def test_every_hot_path_is_a_declared_post_route_the_matcher_finds(name: str) -> None:
    proto = PROTOCOLS.get(name)
    posts = {r.path: r.endpoint for r in proto.router.routes if isinstance(r, APIRoute) and "POST" in (r.methods or ())}
    for path, endpoint in proto.hot_paths():
        assert posts[path] is endpoint
        concrete = re.sub(r"\{(\w+)\}", lambda m: f"my-{m.group(1)}.1", path)
        assert hot.match(concrete) == (endpoint, {k: f"my-{k}.1" for k in re.findall(r"\{(\w+)\}", path)})
        assert hot.match(concrete + "/more") is None and hot.match("/x" + concrete) is None


@pytest.mark.parametrize("name", NAMES)
def test_its_routes_refer_only_to_schemas_it_or_the_server_declares(name: str) -> None:
    proto = PROTOCOLS.get(name)
    text = json.dumps(_doc(proto.router)["paths"])
    used = set(re.findall(r"#/components/schemas/(\w+)", text))
    assert used <= set(proto.schemas) | set(SCHEMAS), used - set(proto.schemas) - set(SCHEMAS)


@pytest.mark.parametrize("name", NAMES)
def test_the_paths_it_lists_are_routes_it_declares(name: str) -> None:
    proto = PROTOCOLS.get(name)
    assert set(proto.listed) <= {r.path for r in proto.router.routes if isinstance(r, APIRoute)}
