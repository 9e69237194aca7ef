"""Events on ``fireline.identity.users.v1``: users joining, changing and leaving an org.

Keyed by user id. Every event carries the user's full state, so the latest event per key is
enough to rebuild a projection (incidents maps PagerDuty emails to users with it) and the topic
can be compacted.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from fireline_contracts.envelope import ContractModel, EventEnvelope


class UserPayload(ContractModel):
    """The user's full state after the change."""

    user_id: UUID = Field(description="Id of the user.")
    email: str = Field(description="The user's email address; matched against PagerDuty emails.")
    name: str = Field(description="The user's display name.")
    role: Literal["admin", "member"] = Field(description="The user's role in the org.")
    active: bool = Field(description="False once the user is deactivated.")
    changed_by: UUID | None = Field(
        default=None,
        description="User (an admin) who made this change; null when made by bootstrap or the "
        "CLI, and in events published before the field existed. Read by the audit log.",
    )


class UserCreated(EventEnvelope):
    """A user was added to an org."""

    event_type: Literal["UserCreated"] = Field(
        default="UserCreated", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: UserPayload = Field(description="The user as created.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.user_id)


class UserUpdated(EventEnvelope):
    """A user's email, name, role or active flag changed."""

    event_type: Literal["UserUpdated"] = Field(
        default="UserUpdated", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: UserPayload = Field(description="The user's state after the update.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.user_id)


class UserDeactivated(EventEnvelope):
    """A user was deactivated; they must no longer be matched as an incident creator."""

    event_type: Literal["UserDeactivated"] = Field(
        default="UserDeactivated", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: UserPayload = Field(description="The user's state after deactivation.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.user_id)


UserEvent = Annotated[
    UserCreated | UserUpdated | UserDeactivated, Field(discriminator="event_type")
]
"""Any event on the users topic, discriminated by ``event_type``."""
