"""Events on ``fireline.incidents.v1``: Fireline incidents starting and changing status.

Keyed by incident id, so every consumer sees an incident's status changes in the order they
happened.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from fireline_contracts.envelope import ContractModel, EventEnvelope, UtcDatetime


class IncidentSource(ContractModel):
    """Where an incident came from; absent for incidents opened by hand."""

    kind: str = Field(description="Source system, e.g. `pagerduty`.")
    external_id: str | None = Field(default=None, description="The source's incident id.")
    html_url: str | None = Field(default=None, description="Link to the incident at the source.")
    service_id: str | None = Field(default=None, description="The source's service id.")
    service_name: str | None = Field(default=None, description="The source's service name.")


class IncidentStartedPayload(ContractModel):
    """The incident as it was started."""

    incident_id: UUID = Field(description="Id of the incident.")
    number: int = Field(ge=1, description="Incident number, sequential per org.")
    title: str = Field(description="Incident title.")
    status: str = Field(description="Status at start, e.g. `triggered`.")
    severity: str = Field(description="Incident severity.")
    incident_type: str = Field(description="Incident type.")
    creator_id: UUID | None = Field(
        default=None,
        description="Fireline user who created the incident; null when no user matched the "
        "alert's creator or on-call users.",
    )
    source: IncidentSource | None = Field(
        default=None, description="Where the incident came from; null for manual incidents."
    )
    created_at: UtcDatetime = Field(description="When the incident was created.")


class IncidentStarted(EventEnvelope):
    """A Fireline incident was started, from an alert or by hand."""

    event_type: Literal["IncidentStarted"] = Field(
        default="IncidentStarted", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: IncidentStartedPayload = Field(description="The new incident.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.incident_id)


class IncidentStatusChangedPayload(ContractModel):
    """An incident's new status and the timestamps that go with it."""

    incident_id: UUID = Field(description="Id of the incident.")
    status: str = Field(description="The new status.")
    previous_status: str = Field(description="The status before the change.")
    changed_at: UtcDatetime = Field(description="When the status changed.")
    acknowledged_at: UtcDatetime | None = Field(
        default=None, description="When the incident was first acknowledged, if it has been."
    )
    resolved_at: UtcDatetime | None = Field(
        default=None, description="When the incident was resolved, if it is."
    )


class IncidentStatusChanged(EventEnvelope):
    """A Fireline incident's status changed."""

    event_type: Literal["IncidentStatusChanged"] = Field(
        default="IncidentStatusChanged", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: IncidentStatusChangedPayload = Field(description="The status change.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.incident_id)


IncidentEvent = Annotated[
    IncidentStarted | IncidentStatusChanged, Field(discriminator="event_type")
]
"""Any event on the incidents topic, discriminated by ``event_type``."""
