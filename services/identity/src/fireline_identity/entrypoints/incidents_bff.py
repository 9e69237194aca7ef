"""/bff/v1/incidents... and /bff/v1/incident-events: the incidents API and its live updates for
the web UI, authenticated by the session cookie.

Identity forwards the call with the person's access token (auth-issued, RFC 9068) and hands back
the API's answer as it is, problem+json errors included. Only paths of the incidents API pass:
anything else is not this router's to forward.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import StreamingResponse

from fireline_identity.domain.errors import IncidentsNotConfigured, InvalidInput, NotFound
from fireline_identity.entrypoints.deps import Context, CurrentUser
from fireline_identity.service_layer.context import IdentityContext
from fireline_identity.service_layer.incidents_proxy import call_incidents, open_incident_events
from fireline_identity.service_layer.ports import ApiCall, IncidentsCaller, TokenSource

router = APIRouter(prefix="/bff/v1", tags=["web UI backend"], include_in_schema=False)

# Path segments of the incidents API (ids, "timeline"); no dots, so no traversal out of it.
_API_PATH = re.compile(r"(?:/[A-Za-z0-9_-]+){0,3}")
_MAX_BODY = 64 * 1024


def _configured(context: IdentityContext) -> tuple[TokenSource, IncidentsCaller]:
    if context.people_tokens is None or context.incidents_api is None:
        raise IncidentsNotConfigured("set FIRELINE_UI_CLIENT_SECRET on identity and auth")
    return context.people_tokens, context.incidents_api


@router.get("/incident-events")
async def incident_events(
    user: CurrentUser,
    context: Context,
    last_event_id: Annotated[str | None, Header(max_length=8192)] = None,
) -> Response:
    tokens, api = _configured(context)
    stream = await open_incident_events(
        tokens=tokens, api=api, user=user, last_event_id=last_event_id
    )
    if stream.status != 200:
        # A problem (bad Last-Event-ID, starting up): the page sees the API's own answer.
        try:
            body = b"".join([chunk async for chunk in stream.chunks])
        finally:
            await stream.close()
        headers = {"Cache-Control": "no-store"}
        if stream.content_type:
            headers["Content-Type"] = stream.content_type
        return Response(body, status_code=stream.status, headers=headers)

    async def relay() -> AsyncIterator[bytes]:
        try:
            async for chunk in stream.chunks:
                yield chunk
        finally:
            await stream.close()

    return StreamingResponse(
        relay(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.api_route("/incidents{rest:path}", methods=["GET", "POST", "PATCH"])
async def incidents(rest: str, request: Request, user: CurrentUser, context: Context) -> Response:
    tokens, api = _configured(context)
    if not _API_PATH.fullmatch(rest):
        raise NotFound("resource")
    body = await request.body()
    if len(body) > _MAX_BODY:
        # The API's own limits are far below this; a larger body is not worth forwarding.
        raise InvalidInput("body", f"larger than {_MAX_BODY} bytes")
    call = ApiCall(
        method=request.method,
        path=rest,
        query=request.url.query,
        body=body,
        content_type=request.headers.get("content-type"),
    )
    answer = await call_incidents(tokens=tokens, api=api, user=user, request=call)
    return Response(
        answer.body,
        status_code=answer.status,
        headers={**answer.headers, "Cache-Control": "no-store"},
    )
