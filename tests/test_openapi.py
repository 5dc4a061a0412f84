"""/openapi.json is valid OpenAPI 3.1 and documents every route the aiohttp app serves."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.http_app import make_app
from gateway.openapi import openapi_document
from gateway.service import Gateway
from messages.errors import CODES
from runner.world import DevWorld
from storage.db import open_database


def _norm(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _routes(app: web.Application) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS") or route.resource is None:
            continue
        out.add((route.method.lower(), _norm(route.resource.canonical)))
    return out


@pytest.fixture
async def served(tmp_path: Any) -> Any:
    world = DevWorld.create(tmp_path / "world")
    db = await open_database(str(tmp_path / "gw.db"))
    gw = Gateway(db=db, registry=world.registry(), certs=world.certs())
    await gw.start()
    app = make_app(gw)
    client = TestClient(TestServer(app))
    await client.start_server()
    yield app, client
    await client.close()
    await gw.stop()
    await db.close()


async def test_served_document_is_valid_openapi_31(served: Any) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    _, client = served
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc == openapi_document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on an invalid document
    broken = {**doc, "paths": {"/x": {"get": {"responses": {"200": {"content": 5}}}}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


async def test_every_route_is_documented(served: Any) -> None:
    app, _ = served
    doc = openapi_document()
    documented = {(method, _norm(path)) for path, ops in doc["paths"].items() for method in ops
                  if method in ("get", "post", "put", "delete", "patch")}
    missing = _routes(app) - documented
    assert not missing, f"routes not in openapi.json: {sorted(missing)}"
    stale = documented - _routes(app)
    assert not stale, f"documented but not served: {sorted(stale)}"


def test_error_codes_in_the_document_are_the_registered_ones() -> None:
    doc = openapi_document()
    schemas = doc["components"]["schemas"]
    assert set(schemas["Issue"]["properties"]["code"]["enum"]) == set(CODES)
    assert set(schemas["Result"]["properties"]["code"]["enum"]) == set(CODES)
    assert set(schemas["Error"]["properties"]["code"]["enum"]) == set(CODES)


def test_path_parameters_are_declared() -> None:
    for path, ops in openapi_document()["paths"].items():
        names = set(re.findall(r"\{([^}]+)\}", path))
        for op in ops.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (path, declared, names)
