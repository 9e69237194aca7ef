"""Events on ``fireline.incidents.v1``: Fireline incidents and everything that happens to them.

Keyed by incident id, so every consumer sees an incident's changes in the order this service made
them. ``IncidentStarted`` and the ``...Changed`` events carry the incident's state. Every entry of
the incident's timeline (notes, status updates, responders, bridges, merges and the changes
themselves) is published too: a new incident's first entries inside its ``IncidentStarted``, every
later one as ``IncidentTimelineEntryAdded``. A consumer can follow an incident's whole life from
this topic alone.
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


class IncidentAssignee(ContractModel):
    """Someone an incident is assigned to, as its source names them."""

    id: str = Field(description="The source's user id (a PagerDuty user id).")
    name: str | None = Field(default=None, description="Display name, if known.")


class TimelineActor(ContractModel):
    """Who did what a timeline entry records."""

    kind: str = Field(
        description="`pagerduty_user`, `pagerduty_service`, `pagerduty_integration`, "
        "`pagerduty` (another PagerDuty agent), `api_key` (a Fireline API key), `user` (a "
        "Fireline user, through the web UI) or `system` "
        "(nobody: automation, or Fireline itself)."
    )
    id: str | None = Field(default=None, description="The actor's id at its source.")
    name: str | None = Field(default=None, description="Display name, if known.")


class IncidentTimelineEntryPayload(ContractModel):
    """One entry of an incident's timeline."""

    incident_id: UUID = Field(description="Id of the incident.")
    entry_id: UUID = Field(description="Id of the entry.")
    kind: str = Field(
        description="`started`, `status_changed`, `severity_changed`, `assignment_changed`, "
        "`note`, `status_update`, `responder`, `conference_bridge`, `merged`, `custom_fields`, "
        "`workflow`, `service_changed`, `incident_type_changed`, `pagerduty_sync` (a call to "
        "PagerDuty's API mirroring a change made in Fireline) or `other`."
    )
    occurred_at: UtcDatetime = Field(
        description="When it happened: PagerDuty's clock for PagerDuty events."
    )
    actor: TimelineActor = Field(description="Who did it.")
    source: str = Field(
        description="`pagerduty` (PagerDuty's events), `api` (changes made in Fireline) or "
        "`pagerduty_sync` (Fireline's calls to PagerDuty's API)."
    )
    source_event_id: str | None = Field(
        default=None, description="PagerDuty's event id, for entries from PagerDuty."
    )
    summary: str = Field(description="One human-readable line.")
    text: str | None = Field(
        default=None, description="What a person wrote (a note or a status update), if anything."
    )


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
    assignees: tuple[IncidentAssignee, ...] = Field(
        default=(),
        description="Who the incident is assigned to at its source as it starts (PagerDuty's "
        "assignees on the event that started it); empty for manual incidents and for an "
        "incident started before its assignment was known. Later changes are "
        "`IncidentAssignmentChanged`.",
    )
    escalation_policy_id: str | None = Field(
        default=None, description="The source's escalation policy id as the incident starts."
    )
    escalation_policy_name: str | None = Field(
        default=None, description="The escalation policy's name."
    )
    timeline: tuple[IncidentTimelineEntryPayload, ...] = Field(
        default=(),
        description="The incident's first timeline entries, in the order they were written: its "
        "start, then the entry of the source event that started it (a PagerDuty event), if that "
        "event added one. They have no `IncidentTimelineEntryAdded` of their own; later entries "
        "do.",
    )


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
    reopen_count: int | None = Field(
        default=None,
        ge=0,
        description="How often the incident was reopened in PagerDuty; null in events written "
        "before it was added.",
    )
    merged_into: str | None = Field(
        default=None,
        description="When it was resolved by a merge in PagerDuty: the PagerDuty id of the "
        "incident it was merged into.",
    )
    changed_in: Literal["api", "pagerduty"] | None = Field(
        default=None,
        description="`api` for a change made in Fireline (a person or an API key), `pagerduty` "
        "for one mirrored from PagerDuty; null in events written before it was added.",
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


class IncidentDetailsChangedPayload(ContractModel):
    """An incident's descriptive fields after they were learnt or changed."""

    incident_id: UUID = Field(description="Id of the incident.")
    title: str = Field(description="Incident title.")
    severity: str = Field(description="Incident severity.")
    incident_type: str = Field(description="Incident type.")
    creator_id: UUID | None = Field(default=None, description="Fireline user who created it.")
    source: IncidentSource | None = Field(
        default=None, description="Where the incident came from; null for manual incidents."
    )
    changed_at: UtcDatetime = Field(description="When this service learnt them.")


class IncidentDetailsChanged(EventEnvelope):
    """A Fireline incident's title, type, creator or source details changed.

    Published when an incident started from a bare reference (a PagerDuty note or status update
    that overtook every delivery carrying the whole incident) learns its details from the first
    such delivery, so that ``IncidentStarted``'s placeholders are corrected on this topic too.
    """

    event_type: Literal["IncidentDetailsChanged"] = Field(
        default="IncidentDetailsChanged", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: IncidentDetailsChangedPayload = Field(description="The details now.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.incident_id)


class IncidentSeverityChangedPayload(ContractModel):
    """An incident's new severity."""

    incident_id: UUID = Field(description="Id of the incident.")
    severity: str = Field(description="The new severity.")
    previous_severity: str = Field(description="The severity before the change.")
    changed_at: UtcDatetime = Field(description="When it changed.")
    priority: str | None = Field(
        default=None,
        description="The PagerDuty priority it was mapped from; null for a change made in "
        "Fireline.",
    )


class IncidentSeverityChanged(EventEnvelope):
    """A Fireline incident's severity changed (a PagerDuty priority change, or a person)."""

    event_type: Literal["IncidentSeverityChanged"] = Field(
        default="IncidentSeverityChanged", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: IncidentSeverityChangedPayload = Field(description="The severity change.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.incident_id)


class IncidentAssignmentChangedPayload(ContractModel):
    """Who an incident is assigned to now, and through which escalation policy."""

    incident_id: UUID = Field(description="Id of the incident.")
    assignees: tuple[IncidentAssignee, ...] = Field(description="The assignees now.")
    escalation_policy_id: str | None = Field(
        default=None, description="The source's escalation policy id."
    )
    escalation_policy_name: str | None = Field(
        default=None, description="The escalation policy's name."
    )
    changed_at: UtcDatetime = Field(description="When it changed (the source's clock).")


class IncidentAssignmentChanged(EventEnvelope):
    """A Fireline incident's assignees or escalation policy changed at its source since it started.

    Not sent for the assignment an incident starts with: ``IncidentStarted`` carries that."""

    event_type: Literal["IncidentAssignmentChanged"] = Field(
        default="IncidentAssignmentChanged", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: IncidentAssignmentChangedPayload = Field(description="The new assignment.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.incident_id)


class IncidentTimelineEntryAdded(EventEnvelope):
    """An entry was added to a Fireline incident's timeline."""

    event_type: Literal["IncidentTimelineEntryAdded"] = Field(
        default="IncidentTimelineEntryAdded", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: IncidentTimelineEntryPayload = Field(description="The entry.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.incident_id)


IncidentEvent = Annotated[
    IncidentStarted
    | IncidentStatusChanged
    | IncidentSeverityChanged
    | IncidentAssignmentChanged
    | IncidentDetailsChanged
    | IncidentTimelineEntryAdded,
    Field(discriminator="event_type"),
]
"""Any event on the incidents topic, discriminated by ``event_type``."""
