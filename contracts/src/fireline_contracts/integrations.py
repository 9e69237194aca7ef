"""Events on ``fireline.pagerduty.integrations.v1``: PagerDuty integrations' lifecycle.

Keyed by integration id. Published by pagerduty-ingest for the audit log. Never carries a
signing secret or API token, not even sealed or hashed: only which settings changed.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from fireline_contracts.envelope import ContractModel, EventEnvelope

_ACTOR = "API key whose token made the change (the token's `sub`); null for the system."


class IntegrationPayload(ContractModel):
    """The integration and who changed it."""

    integration_id: UUID = Field(description="Id of the integration.")
    name: str = Field(description="The integration's name after the change.")
    changed_by_key: UUID | None = Field(default=None, description=_ACTOR)


class IntegrationChangedPayload(IntegrationPayload):
    """An update: which settings changed (names only, never values)."""

    changed: tuple[str, ...] = Field(
        description="Names of the settings that changed, e.g. `name`, `pagerduty_api_token`."
    )


class SigningSecretsRotatedPayload(IntegrationPayload):
    """How the integration's webhook signing secrets changed (counts only, never the secrets)."""

    added: int = Field(ge=0, description="Signing secrets added.")
    retired: int = Field(ge=0, description="Signing secrets retired.")


class IntegrationCreated(EventEnvelope):
    """A PagerDuty integration was created."""

    event_type: Literal["IntegrationCreated"] = Field(
        default="IntegrationCreated", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: IntegrationPayload = Field(description="The new integration.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.integration_id)


class IntegrationChanged(EventEnvelope):
    """A PagerDuty integration's settings changed (signing secrets: SigningSecretsRotated)."""

    event_type: Literal["IntegrationChanged"] = Field(
        default="IntegrationChanged", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: IntegrationChangedPayload = Field(description="The integration and what changed.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.integration_id)


class SigningSecretsRotated(EventEnvelope):
    """Signing secrets of a PagerDuty integration were added, replaced or retired."""

    event_type: Literal["SigningSecretsRotated"] = Field(
        default="SigningSecretsRotated", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: SigningSecretsRotatedPayload = Field(description="The integration and the counts.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.integration_id)


class IntegrationDeleted(EventEnvelope):
    """A PagerDuty integration was deleted; its webhook URL answers 404 from then on."""

    event_type: Literal["IntegrationDeleted"] = Field(
        default="IntegrationDeleted", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: IntegrationPayload = Field(description="The deleted integration.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.integration_id)


IntegrationEvent = Annotated[
    IntegrationCreated | IntegrationChanged | SigningSecretsRotated | IntegrationDeleted,
    Field(discriminator="event_type"),
]
"""Any event on the integrations topic, discriminated by ``event_type``."""
