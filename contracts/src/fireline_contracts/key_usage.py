"""Events on ``fireline.auth.key-usage.v1``: an API key was exchanged for a token.

Keyed by key id. Identity consumes these to show each key's ``last_used_at``.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from fireline_contracts.envelope import ContractModel, EventEnvelope, UtcDatetime


class KeyUsedPayload(ContractModel):
    """Which key was used and when."""

    key_id: UUID = Field(description="Id of the key that was exchanged for a token.")
    used_at: UtcDatetime = Field(description="When the exchange happened.")
    previous_secret: bool | None = Field(
        default=None,
        description="True when the exchange presented the secret a rotation replaced (during its "
        "grace period), so admins can see a machine still on the old secret. Announced apart "
        "from uses of the current secret. Null from producers before the field existed.",
    )


class KeyUsed(EventEnvelope):
    """Auth exchanged an API key for an access token."""

    event_type: Literal["KeyUsed"] = Field(default="KeyUsed", description="Name of the event.")
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: KeyUsedPayload = Field(description="The key and when it was used.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.key_id)


KeyUsageEvent = KeyUsed
"""Any event on the key-usage topic (there is only one kind)."""
