"""Events on ``fireline.notifications.v1``: what happens to the org's webhook endpoints.

Keyed by endpoint id. Published by notifications for the audit log: what admins did to the org's
endpoints, and the endpoints the service disabled. Never carries a signing secret, sealed or not,
nor the endpoint's URL (it may hold a token in its path, as Slack's do): only its host.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from fireline_contracts.envelope import ContractModel, EventEnvelope, UtcDatetime

_ACTOR = "API key whose token made the change (the token's `sub`); null for the system."


class WebhookEndpointPayload(ContractModel):
    """The endpoint and who changed it."""

    endpoint_id: UUID = Field(description="Id of the webhook endpoint.")
    host: str = Field(description="Host name of the endpoint's URL (never the whole URL).")
    changed_by_key: UUID | None = Field(default=None, description=_ACTOR)


class WebhookEndpointChangedPayload(WebhookEndpointPayload):
    """An update: which settings changed (names only, never values)."""

    changed: tuple[str, ...] = Field(
        description="Names of the settings that changed: `url`, `description`, `event_types`, "
        "`enabled`."
    )


class WebhookEndpointCreated(EventEnvelope):
    """An admin subscribed a webhook endpoint."""

    event_type: Literal["WebhookEndpointCreated"] = Field(
        default="WebhookEndpointCreated", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: WebhookEndpointPayload = Field(description="The new endpoint.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.endpoint_id)


class WebhookEndpointChanged(EventEnvelope):
    """An admin changed a webhook endpoint's URL, description, filter or enabled state."""

    event_type: Literal["WebhookEndpointChanged"] = Field(
        default="WebhookEndpointChanged", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: WebhookEndpointChangedPayload = Field(description="The endpoint and what changed.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.endpoint_id)


class WebhookEndpointSecretRotated(EventEnvelope):
    """An admin gave a webhook endpoint a new signing secret (the old one signs for 24 h more)."""

    event_type: Literal["WebhookEndpointSecretRotated"] = Field(
        default="WebhookEndpointSecretRotated", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: WebhookEndpointPayload = Field(description="The endpoint.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.endpoint_id)


class WebhookEndpointDeleted(EventEnvelope):
    """An admin deleted a webhook endpoint, its secrets and its delivery log."""

    event_type: Literal["WebhookEndpointDeleted"] = Field(
        default="WebhookEndpointDeleted", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: WebhookEndpointPayload = Field(description="The deleted endpoint.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.endpoint_id)


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


NotificationEvent = Annotated[
    WebhookEndpointCreated
    | WebhookEndpointChanged
    | WebhookEndpointSecretRotated
    | WebhookEndpointDeleted
    | WebhookEndpointDisabled,
    Field(discriminator="event_type"),
]
"""Any event on the notifications topic, discriminated by ``event_type``."""
