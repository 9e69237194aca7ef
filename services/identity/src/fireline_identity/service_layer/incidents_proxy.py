"""Use case: a logged-in person's call to the incidents API, made by identity on their behalf.

The browser only ever holds its session cookie; the access token stays in this process
(backend-for-frontend, see the auth README for why).
"""

from __future__ import annotations

from fireline_identity.domain.sessions import SessionUser
from fireline_identity.service_layer.ports import (
    ApiAnswer,
    ApiCall,
    EventStream,
    IncidentsCaller,
    TokenSource,
)


async def call_incidents(
    *, tokens: TokenSource, api: IncidentsCaller, user: SessionUser, request: ApiCall
) -> ApiAnswer:
    """Forward the call with the person's token; a refused token is replaced once."""
    answer = await api.call(request, await tokens.token_for(user))
    if answer.status == 401:
        # A token minted by a signing key the API has not fetched yet, or expired in flight:
        # one fresh token settles it (a 401 means nothing was done, so repeating is safe). A
        # session that really ended is refused by identity before it gets here.
        tokens.forget(user.session_id)
        answer = await api.call(request, await tokens.token_for(user))
    return answer


async def open_incident_events(
    *, tokens: TokenSource, api: IncidentsCaller, user: SessionUser, last_event_id: str | None
) -> EventStream:
    """The org's live incident changes for the person's browser, resumed after its last id."""
    stream = await api.open_events(await tokens.token_for(user), last_event_id)
    if stream.status == 401:
        await stream.close()
        tokens.forget(user.session_id)  # as in call_incidents
        stream = await api.open_events(await tokens.token_for(user), last_event_id)
    return stream
