"""The OpenAPI description against the router: a valid 3.1 document, exactly the routes that
`build_app` registers (both ways, with each handler's name as operationId), served over HTTP."""

from __future__ import annotations

import importlib.metadata
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from engine import openapi
from engine.http import build_app
from tests.shells.test_dispatch_shell import FakeEngine

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


@pytest.fixture
async def app() -> AsyncIterator[web.Application]:
    engine = FakeEngine()  # build_app only stores it: the routes do not depend on it
    try:
        yield build_app(engine)  # type: ignore[arg-type]
    finally:
        engine.dispatcher.stop()
        engine.router.stop()


PAGES, FILES = ("/", "/console", "/dashboard", "/app"), "/ui/"
"""The browser's pages and their static files (engine/http_ui.py): not part of the API."""


def registered(app: web.Application) -> dict[tuple[str, str], Any]:
    """(method, path template) -> handler, for every route of the API (all of /api/, and
    /metrics and /healthz) but aiohttp's automatic HEADs."""
    routes = {
        (route.method.lower(), route.resource.canonical): route.handler
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    return {
        key: handler
        for key, handler in routes.items()
        if key[1].startswith("/api/") or key[1] in ("/metrics", "/healthz")
    }


async def test_only_the_pages_and_their_files_are_left_out_of_the_document(
    app: web.Application,
) -> None:
    left_out = {
        route.resource.canonical for route in app.router.routes() if route.resource is not None
    } - {path for _, path in registered(app)}
    for path in left_out:
        assert path in PAGES or path.startswith(FILES), path


def documented() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in openapi.DOCUMENT["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def path_parameters(operation: dict[str, Any]) -> set[str]:
    names = set()
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = openapi.PARAMETERS[parameter["$ref"].rsplit("/", 1)[1]]
        if parameter["in"] == "path":
            names.add(parameter["name"])
    return names


def test_the_document_is_a_valid_openapi_3_1_description() -> None:
    validate(openapi.DOCUMENT, cls=OpenAPIV31SpecValidator)
    assert openapi.DOCUMENT["openapi"].startswith("3.1.")
    assert openapi.DOCUMENT["info"]["version"] == importlib.metadata.version("hotline110")
    assert json.loads(json.dumps(openapi.DOCUMENT)) == openapi.DOCUMENT  # plain JSON data


async def test_every_registered_route_is_documented_and_nothing_else(
    app: web.Application,
) -> None:
    routes, described = registered(app), documented()
    missing = sorted(set(routes) - set(described))
    assert not missing, f"registered but not in engine/openapi.py: {missing}"
    extra = sorted(set(described) - set(routes))
    assert not extra, f"documented but not registered by build_app: {extra}"
    for key, handler in routes.items():
        operation = described[key]
        assert operation["operationId"] == handler.__name__, key
        assert path_parameters(operation) == set(re.findall(r"{(\w+)}", key[1])), key
        assert operation["responses"], key
    ids = [operation["operationId"] for operation in described.values()]
    assert len(ids) == len(set(ids))


async def test_the_document_is_served_at_api_openapi_json(app: web.Application) -> None:
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        reply = await client.get("/api/openapi.json")
        assert reply.status == 200
        assert reply.content_type == "application/json"
        assert await reply.json() == openapi.DOCUMENT
    finally:
        await client.close()


def test_the_routes_open_to_citizens_are_exactly_the_ones_documented_as_open() -> None:
    """Everything under /api/intake/ is open (engine.http_access.CITIZEN_PREFIX): a staff route
    put there by mistake would be open to the internet. The document says which routes need no
    session; the two must agree, so such a route fails here."""
    from engine.http_access import CITIZEN_PREFIX, PUBLIC

    documented_open = {
        (path, method)
        for path, item in openapi.PATHS.items()
        for method, operation in item.items()
        if operation.get("security") == []
    }
    citizens = {
        (path, method)
        for path, item in openapi.PATHS.items()
        for method in item
        if path.startswith(CITIZEN_PREFIX)
    }
    public = {(path, method.lower()) for method, path in PUBLIC}
    assert citizens <= documented_open, citizens - documented_open
    assert documented_open == citizens | public, documented_open ^ (citizens | public)
