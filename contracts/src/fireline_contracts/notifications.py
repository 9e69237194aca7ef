"""Events on ``fireline.notifications.v1``: what happens to the org's webhook endpoints.

Keyed by endpoint id. Published by notifications for the audit log. Never carries a signing
secret, sealed or not, nor the endpoint's URL (it may hold a token in its path, as Slack's do):
only its host.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from fireline_contracts.envelope import ContractModel, EventEnvelope, UtcDatetime


class WebhookEndpointDisabledPayload(ContractModel):
    """The endpoint that stopped receiving deliveries, and why."""

    endpoint_id: UUID = Field(description="Id of the webhook endpoint.")
    host: str = Field(description="Host name of the endpoint's URL (never the whole URL).")
    reason: Literal["gone", "failing"] = Field(
        description="`gone`: it answered 410 Gone; `failing`: every delivery failed for the "
        "configured period (5 days by default)."
    )
    failing_since: UtcDatetime | None = Field(
        default=None, description="First failure of the unbroken run that disabled it."
    )
    disabled_at: UtcDatetime = Field(description="When it was disabled.")


class WebhookEndpointDisabled(EventEnvelope):
    """A webhook endpoint was disabled by the service (not by an admin)."""

    event_type: Literal["WebhookEndpointDisabled"] = Field(
        default="WebhookEndpointDisabled", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: WebhookEndpointDisabledPayload = Field(description="The endpoint and the reason.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.endpoint_id)


NotificationEvent = Annotated[WebhookEndpointDisabled, Field(discriminator="event_type")]
"""Any event on the notifications topic, discriminated by ``event_type``."""
