"""The runtime's answers to hostile input and a vanished database: 4xx or 503, never a 500."""

from __future__ import annotations

import json

import asyncpg
import httpx
from fastapi import FastAPI
from pydantic import ConfigDict, Field

from fireline_runtime.input_text import InputText, RequestModel
from fireline_runtime.observability import Metrics
from fireline_runtime.problems import install_problem_handlers
from fireline_runtime.request_context import MAX_HEADER_BYTES, RequestContextMiddleware


class Thing(RequestModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64)
    tags: list[str] = Field(default_factory=list)


def app() -> FastAPI:
    a = FastAPI()
    install_problem_handlers(a)

    @a.post("/things")
    async def create(body: Thing) -> dict[str, str]:
        return {"name": body.name}

    @a.get("/things")
    async def search(q: InputText | None = None) -> dict[str, str | None]:
        return {"q": q}

    @a.get("/restarting")
    async def restarting() -> None:
        # What asyncpg raises on a connection PostgreSQL closed during a restart.
        raise asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        )

    return a


async def send(method: str, path: str, **kw: object) -> httpx.Response:
    wrapped = RequestContextMiddleware(app(), metrics=Metrics("test"))
    transport = httpx.ASGITransport(app=wrapped)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, **kw)  # type: ignore[arg-type]


def raw_json(body: object) -> dict[str, object]:
    # json.dumps writes lone surrogates as \ud800 escapes, as a hostile client sends them.
    return {"content": json.dumps(body), "headers": {"Content-Type": "application/json"}}


async def test_text_that_cannot_be_stored_is_a_400_wherever_it_is() -> None:
    answers = [
        await send("POST", "/things", **raw_json({"name": "nul\u0000"})),
        await send("POST", "/things", **raw_json({"name": "ok", "tags": ["a", "\ud800"]})),
        await send("GET", "/things", params={"q": "a\u0000b"}),
    ]
    for answer in answers:
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "invalid_text"
        assert "U+" in answer.json()["detail"]


async def test_ordinary_unicode_is_accepted_as_sent() -> None:
    name = "\u202eright-to-left\u200f \U0001f525"
    answer = await send("POST", "/things", json={"name": name})
    assert answer.status_code == 200
    assert answer.json() == {"name": name}


async def test_an_unknown_field_named_with_a_lone_surrogate_is_still_a_4xx() -> None:
    # The error's location quotes the field name; the answer must still be encodable.
    answer = await send("POST", "/things", **raw_json({"name": "ok", "\udfff": 1}))
    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"] == "application/problem+json"


async def test_a_restarting_database_is_a_503_with_retry_after() -> None:
    answer = await send("GET", "/restarting")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "database_unavailable"
    assert int(answer.headers["retry-after"]) > 0


async def test_oversized_request_headers_are_refused_with_431() -> None:
    big = await send("GET", "/things", headers={"X-Filler": "a" * (MAX_HEADER_BYTES + 1)})
    assert big.status_code == 431
    assert big.headers["content-type"] == "application/problem+json"
    assert big.json()["code"] == "headers_too_large"
    normal = await send("GET", "/things", headers={"X-Filler": "a" * 4096})
    assert normal.status_code == 200
