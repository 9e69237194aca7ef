"""A Server-Sent Events client for tests: reads a stream in the background, event by event."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str
    id: str | None

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data)
        return value

    @property
    def incident_id(self) -> str | None:
        payload = self.json.get("payload", {})
        return None if payload.get("incident_id") is None else str(payload["incident_id"])


@dataclass
class SseStream:
    status: int
    events: list[SseEvent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False

    @property
    def last_id(self) -> str | None:
        ids = [e.id for e in self.events if e.id is not None]
        return ids[-1] if ids else None

    def of_type(self, *types: str) -> list[SseEvent]:
        return [e for e in self.events if e.event in types]

    async def wait(self, done: Callable[[list[SseEvent]], bool], timeout: float = 30) -> None:
        """Until ``done(events)``; fails with what arrived if it never is."""
        async with asyncio.timeout(timeout):
            while not done(self.events):
                assert not self.ended, f"stream ended; got {[e.event for e in self.events]}"
                self.changed.clear()
                await self.changed.wait()


async def _read(response: httpx.Response, stream: SseStream) -> None:
    event, event_id = "message", None
    data: list[str] = []
    try:
        async for line in response.aiter_lines():
            if line == "":
                if data:
                    stream.events.append(SseEvent(event, "\n".join(data), event_id))
                    stream.changed.set()
                event, data = "message", []
            elif line.startswith(":"):
                continue
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
                elif name == "id":
                    event_id = value
    finally:
        stream.ended = True
        stream.changed.set()


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[SseStream]:
    """GET ``url`` as an event stream; the stream reads until the block ends."""
    request = client.build_request(
        "GET", url, headers={"Accept": "text/event-stream", **(headers or {})}
    )
    response = await client.send(request, stream=True)
    stream = SseStream(response.status_code)
    reader = asyncio.create_task(_read(response, stream)) if response.status_code == 200 else None
    try:
        yield stream
    finally:
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await response.aclose()
