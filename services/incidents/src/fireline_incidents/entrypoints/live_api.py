"""GET /v1/incident-events: the org's incident changes as Server-Sent Events, live.

Authenticated like every call (a bearer token with ``incidents:read``); only the caller's org's
events are sent. Each event's ``id`` is the topic position after it, the same on every replica,
so a reconnecting client's ``Last-Event-ID`` resumes on any replica without a loss or a repeat
while the events are held (``domain/live.py``), and is told to ``reset`` (reload) otherwise. The
stream ends when the token expires or its key or session is revoked; the client reconnects with a
fresh one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from fireline_incidents.domain.live import InvalidPosition, LiveEvent, Subscription
from fireline_incidents.entrypoints.deps import Context, ReadIncidents
from fireline_runtime.http_auth import BearerAuth
from fireline_runtime.openapi import problem_responses
from fireline_runtime.problems import Problem, ServiceUnavailable

router = APIRouter(tags=["incidents"])

# A comment line this often keeps proxies from closing an idle stream, and bounds how long an
# ended session's stream stays open.
HEARTBEAT_S = 5.0
_RETRY_MS = 2000
_START_WAIT_S = 10.0


def _frame(event_type: str, data: str, event_id: str) -> str:
    return f"id: {event_id}\nevent: {event_type}\ndata: {data}\n\n"


@router.get(
    "/v1/incident-events",
    summary="Changes of the org's incidents as Server-Sent Events",
    description="`text/event-stream`. Events: `ready` (the stream is live; its id is the "
    "position to resume from), every `fireline.incidents.v1` event type with the event as "
    "JSON, and `reset` when `Last-Event-ID` is older than the events held: reload, then carry "
    "on. Send the last `id` received as `Last-Event-ID` to resume.",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The stream."},
        **problem_responses(400, 401, 403, 503),
    },
)
async def incident_events(
    principal: ReadIncidents,
    request: Request,
    context: Context,
    last_event_id: Annotated[str | None, Header(max_length=8192)] = None,
) -> StreamingResponse:
    feed = context.feed
    bearer: BearerAuth = request.app.state.bearer_auth
    try:
        # Just after start-up the reader may still be finding the topic's end.
        await asyncio.wait_for(feed.started.wait(), _START_WAIT_S)
    except TimeoutError:
        raise ServiceUnavailable(
            "Live updates are starting; retry shortly.", headers={"Retry-After": "2"}
        ) from None
    try:
        stream = feed.subscribe(principal.org_id, last_event_id or None)
    except InvalidPosition:
        raise Problem(
            "Last-Event-ID is not a position this API sent.", code="invalid_last_event_id"
        ) from None

    async def frames() -> AsyncIterator[str]:
        try:
            async for frame in _frames(stream, lambda: bearer.honours(principal, time.time())):
                yield frame
        finally:
            feed.unsubscribe(stream)

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _frames(stream: Subscription, still_allowed: Callable[[], bool]) -> AsyncIterator[str]:
    yield f"retry: {_RETRY_MS}\n\n"
    if stream.reset:
        yield _frame("reset", "{}", stream.position)
    for held in stream.backlog:
        yield _frame(held.event_type, held.data, held.position)
    yield _frame("ready", "{}", stream.position)
    while still_allowed():
        try:
            event: LiveEvent | None = await asyncio.wait_for(stream.queue.get(), HEARTBEAT_S)
        except TimeoutError:
            yield ": keep-alive\n\n"
            continue
        if event is None:  # too far behind: the client resumes from its last id
            return
        yield _frame(event.event_type, event.data, event.position)
