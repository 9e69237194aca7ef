"""Plain ASGI endpoints ahead of FastAPI's routing (``fireline_runtime.raw_routes``): they answer
only their declared route's method and path, and what they raise is answered as a routed
request's error would be."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NoReturn

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.types import Receive, Scope, Send

from fireline_runtime.http_body import collect_at_most
from fireline_runtime.problems import NotFound, install_problem_handlers
from fireline_runtime.raw_routes import (
    AheadOfRouting,
    RawEndpoint,
    body_chunks,
    declared_route,
    header,
    send_json,
)

ROUTE = "/things/{thing_id}"


async def _endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    thing = scope["path_params"]["thing_id"]
    if thing == "missing":
        raise NotFound("No such thing.")
    if thing == "broken":
        raise RuntimeError("a bug")
    body = await collect_at_most(header(scope, b"content-length"), body_chunks(receive), 8)
    answer = f'{{"thing": "{thing}", "bytes": {-1 if body is None else len(body)}, '
    answer += f'"route": "{scope["route"].path}", "tag": "{header(scope, b"x-tag")}"}}'
    await send_json(send, 201, answer.encode())


def _app() -> FastAPI:
    router = APIRouter()

    @router.post(ROUTE, status_code=201, response_model=None)
    async def declared(thing_id: str) -> NoReturn:
        raise AssertionError("answered ahead of routing")

    @router.get("/things/{thing_id}")
    async def read(thing_id: str) -> dict[str, str]:
        return {"read": thing_id}

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    endpoint = RawEndpoint(route=declared_route(router.routes, ROUTE), app=_endpoint)
    app.add_middleware(AheadOfRouting, endpoints=[endpoint])
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as opened:
        yield opened


async def test_the_declared_method_and_path_are_answered_by_the_endpoint(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/things/a1", content=b"12345", headers={"X-Tag": "first"})

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"thing": "a1", "bytes": 5, "route": ROUTE, "tag": "first"}


async def test_a_body_over_the_limit_is_not_read_whole(client: httpx.AsyncClient) -> None:
    response = await client.post("/things/a1", content=b"123456789")

    assert response.json()["bytes"] == -1


async def test_other_methods_and_paths_reach_the_router(client: httpx.AsyncClient) -> None:
    read = await client.get("/things/a1")
    elsewhere = await client.post("/things/a1/parts")

    assert (read.status_code, read.json()) == (200, {"read": "a1"})
    assert elsewhere.status_code == 404


async def test_what_the_endpoint_raises_is_answered_by_the_apps_handlers(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.post("/things/missing")
    broken = await client.post("/things/broken")

    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "No such thing."
    assert missing.json()["instance"] == "/things/missing"
    assert broken.status_code == 500


async def test_behind_a_prefix_the_endpoint_still_answers_its_route() -> None:
    """A proxy mounting the service under a prefix sets ``root_path``: the request's path
    carries the prefix, the declared route does not."""
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False, root_path="/fl")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/fl/things/a1", content=b"123")

    assert response.status_code == 201
    assert response.json()["route"] == ROUTE
