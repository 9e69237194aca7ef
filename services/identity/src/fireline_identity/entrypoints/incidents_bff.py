"""/bff/v1/incidents...: the incidents API for the web UI, authenticated by the session cookie.

Identity forwards the call with the person's access token (auth-issued, RFC 9068) and hands back
the API's answer as it is, problem+json errors included. Only paths of the incidents API pass:
anything else is not this router's to forward.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response

from fireline_identity.domain.errors import IncidentsNotConfigured, InvalidInput, NotFound
from fireline_identity.entrypoints.deps import Context, CurrentUser
from fireline_identity.service_layer.incidents_proxy import ApiCall, call_incidents

router = APIRouter(prefix="/bff/v1", tags=["web UI backend"], include_in_schema=False)

# Path segments of the incidents API (ids, "timeline"); no dots, so no traversal out of it.
_API_PATH = re.compile(r"(?:/[A-Za-z0-9_-]+){0,3}")
_MAX_BODY = 64 * 1024


@router.api_route("/incidents{rest:path}", methods=["GET", "POST", "PATCH"])
async def incidents(rest: str, request: Request, user: CurrentUser, context: Context) -> Response:
    if context.people_tokens is None or context.incidents_api is None:
        raise IncidentsNotConfigured("set FIRELINE_UI_CLIENT_SECRET on identity and auth")
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
    answer = await call_incidents(
        tokens=context.people_tokens, api=context.incidents_api, user=user, request=call
    )
    return Response(
        answer.body,
        status_code=answer.status,
        headers={**answer.headers, "Cache-Control": "no-store"},
    )
