"""The HTTP server reads no more of a request's head than the limit: a client cannot make a
service buffer megabytes of headers (an 8 MB header used to be read whole and answered 200)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

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


@contextlib.asynccontextmanager
async def serving(**options: Any) -> AsyncIterator[int]:
    """The port of a running server with the services' settings (and ``options``)."""
    chosen = free_port()
    config = server_config(hello, host="127.0.0.1", port=chosen, grace_s=1, **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield chosen
    server.should_exit = True
    await task


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async with serving() as chosen:
        yield chosen


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


@pytest.fixture
async def impatient_port() -> AsyncIterator[int]:
    """A server whose connections get half a second to send each request head."""
    async with serving(head_timeout_s=0.5) as chosen:
        yield chosen


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    # Generous: the point is that the server hangs up at all, not how fast.
    return await asyncio.wait_for(reader.read(), timeout=30)


async def test_a_request_head_that_never_ends_is_closed_with_a_408(impatient_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", impatient_port)
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
    await writer.drain()

    assert (await _closed_by_server(reader)).startswith(b"HTTP/1.1 408 ")
    writer.close()


async def test_a_connection_that_sends_nothing_is_closed(impatient_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", impatient_port)
    assert await _closed_by_server(reader) == b""
    writer.close()


async def test_a_kept_alive_connection_has_the_same_time_for_its_next_head(
    impatient_port: int,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", impatient_port)
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await writer.drain()
    first = await asyncio.wait_for(reader.readuntil(b"hello"), timeout=30)
    assert first.startswith(b"HTTP/1.1 200 ")
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n")  # the second head never ends

    assert (await _closed_by_server(reader)).startswith(b"HTTP/1.1 408 ")
    writer.close()


async def test_connections_past_the_limit_are_refused_not_queued() -> None:
    async with serving(max_connections=2) as chosen:
        held = [await asyncio.open_connection("127.0.0.1", chosen) for _ in range(2)]
        reader, writer = await asyncio.open_connection("127.0.0.1", chosen)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        await writer.drain()

        answer = await asyncio.wait_for(reader.read(), timeout=30)
        assert answer.startswith(b"HTTP/1.1 503 ")
        writer.close()
        for _, idle in held:
            idle.close()

        # Once the server has seen the held connections go, requests are served again.
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            again = await exchange(
                chosen, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            )
            if again.startswith(b"HTTP/1.1 200 ") or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
        assert again.startswith(b"HTTP/1.1 200 ")
