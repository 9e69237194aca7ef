"""The HTTP server reads no more of a request's head than the limit: a client cannot make a
service buffer megabytes of headers (an 8 MB header used to be read whole and answered 200)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from fireline_devtools.net import free_port
from fireline_runtime.server import MAX_HEAD_READ_BYTES, server_config


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await Request(scope, receive).body()
        await PlainTextResponse("hello")(scope, receive, send)


@pytest.fixture
async def port() -> AsyncIterator[int]:
    chosen = free_port()
    server = uvicorn.Server(server_config(hello, host="127.0.0.1", port=chosen, grace_s=1))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield chosen
    server.should_exit = True
    await task


async def exchange(port: int, head: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    with contextlib.suppress(ConnectionError):  # the server may hang up mid-send: that is the point
        for start in range(0, len(head), 64 * 1024):
            writer.write(head[start : start + 64 * 1024])
            await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    return answer


async def test_an_oversized_request_head_is_refused_unread(port: int) -> None:
    huge = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n"
    answer = await exchange(port, huge)
    assert answer.startswith(b"HTTP/1.1 431 ")


async def test_ordinary_requests_keep_working_on_the_same_server(port: int) -> None:
    near_limit = b"a" * (MAX_HEAD_READ_BYTES // 2)
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + near_limit + b"\r\nConnection: close\r\n\r\n"
    answer = await exchange(port, head)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"hello")


async def test_a_large_body_arriving_with_its_head_is_not_counted_as_head(port: int) -> None:
    # A 200 KB webhook delivery often arrives in the same read as its headers.
    body = b"x" * (200 * 1024)
    head = (
        b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    )
    answer = await exchange(port, head + body)
    assert answer.startswith(b"HTTP/1.1 200 ")
