"""Events on ``fireline.identity.sessions.v1``: logins and ended sessions, for the audit log.

Keyed by user id. Not compacted: every event is a record of something that happened, not state,
and the audit store keeps each one. Passwords and session tokens never appear, not even hashed.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from fireline_contracts.envelope import ContractModel, EventEnvelope

_ADDRESS = "Client address of the request (after trusted proxy hops), as login throttling sees it."


class LoginSucceededPayload(ContractModel):
    """Who logged in, from where, and the session that opened."""

    user_id: UUID = Field(description="The user who logged in.")
    email: str = Field(description="The user's email address at the time.")
    session_id: UUID = Field(description="Id of the new session (never its token).")
    address: str = Field(description=_ADDRESS)


class LoginSucceeded(EventEnvelope):
    """A user logged in with a correct password."""

    event_type: Literal["LoginSucceeded"] = Field(
        default="LoginSucceeded", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: LoginSucceededPayload = Field(description="The login.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.user_id)


class LoginFailedPayload(ContractModel):
    """Whose account a wrong password was tried against, and from where."""

    user_id: UUID = Field(description="The active user whose email was given.")
    email: str = Field(description="The user's email address at the time.")
    address: str = Field(description=_ADDRESS)


class LoginFailed(EventEnvelope):
    """A login named an existing active user of the org but the password was wrong.

    Published once per org whose user has that email. Attempts naming no user belong to no org and
    are only logged; attempts refused by throttling (429) are not published either.
    """

    event_type: Literal["LoginFailed"] = Field(
        default="LoginFailed", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: LoginFailedPayload = Field(description="The failed attempt.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.user_id)


class SessionRevokedPayload(ContractModel):
    """Which session ended before its time, why, and who ended it."""

    user_id: UUID = Field(description="The user whose session it was.")
    session_id: UUID = Field(description="Id of the revoked session (never its token).")
    reason: Literal["logout", "user_deactivated"] = Field(
        description="`logout`: the user logged out; `user_deactivated`: an admin deactivated the "
        "user, which ends every session of theirs."
    )
    revoked_by: UUID | None = Field(
        default=None, description="User who caused it (the user, or the admin); null for system."
    )


class SessionRevoked(EventEnvelope):
    """A session was revoked; its cookie no longer authenticates."""

    event_type: Literal["SessionRevoked"] = Field(
        default="SessionRevoked", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: SessionRevokedPayload = Field(description="The revoked session.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.user_id)


SessionEvent = Annotated[
    LoginSucceeded | LoginFailed | SessionRevoked, Field(discriminator="event_type")
]
"""Any event on the sessions topic, discriminated by ``event_type``."""
