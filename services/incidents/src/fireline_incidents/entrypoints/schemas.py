"""The incidents API's request and response bodies (docs/architecture.md, "Services")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fireline_incidents.domain.model import MAX_TITLE_LENGTH, Incident, Status
from fireline_incidents.domain.timeline import MAX_NOTE_LENGTH, TimelineEntry
from fireline_incidents.service_layer.queries import IncidentPage, TimelinePage
from fireline_runtime.input_text import RequestModel

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class SourceOut(BaseModel):
    kind: str = Field(description="`pagerduty` for alert-driven incidents, `manual` otherwise.")
    external_id: str | None = Field(description="The source's incident id.")
    html_url: str | None = Field(description="Link to the incident at the source.")
    service_id: str | None = Field(description="The source's service id.")
    service_name: str | None = Field(description="The source's service name.")


class AssigneeOut(BaseModel):
    id: str = Field(description="The source's user id (PagerDuty).")
    name: str | None


class IncidentOut(BaseModel):
    id: UUID
    number: int = Field(description="Sequential per org, starting at 1.")
    title: str
    status: Status
    severity: str
    incident_type: str
    creator_id: UUID | None = Field(
        description="The Fireline user who created the incident; null when no user matched the "
        "alert's creator or on-call emails, or none was named."
    )
    source: SourceOut
    created_at: datetime
    acknowledged_at: datetime | None = Field(description="First acknowledgement, if any.")
    resolved_at: datetime | None = Field(description="When it was resolved, while it is.")
    updated_at: datetime
    reopen_count: int = Field(description="How often it was reopened in PagerDuty.")
    merged_into: str | None = Field(
        description="The PagerDuty incident it was merged into, when resolved by a merge."
    )
    assignees: list[AssigneeOut] = Field(description="Assignees in PagerDuty, as last seen.")
    escalation_policy_id: str | None = Field(description="PagerDuty escalation policy id.")
    escalation_policy_name: str | None = Field(description="PagerDuty escalation policy name.")
    source_priority: str | None = Field(description="PagerDuty priority, as last seen.")

    @classmethod
    def of(cls, incident: Incident) -> IncidentOut:
        # Field for field the domain's incident: read by attribute, nested source included.
        return cls.model_validate(incident, from_attributes=True)


class IncidentList(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )

    @classmethod
    def of(cls, page: IncidentPage) -> IncidentList:
        return cls(items=[IncidentOut.of(i) for i in page.items], next_cursor=page.next_cursor)


class NewIncident(RequestModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE_LENGTH)
    ]
    severity: Label | None = Field(default=None, description="Defaults to `SEV3`.")
    incident_type: Label | None = Field(default=None, description="Defaults to `Default`.")
    creator_id: UUID | None = Field(
        default=None, description="An active user of the org; the incident may have no creator."
    )


class StatusUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")

    status: Status | None = Field(
        default=None,
        description="Any status may follow any other; `resolved` → `triggered` reopens.",
    )
    severity: Label | None = Field(default=None, description="A new severity.")


class StatusCounts(BaseModel):
    triggered: int
    acknowledged: int
    resolved: int


class ActorOut(BaseModel):
    kind: str = Field(
        description="`pagerduty_user`, `pagerduty_service`, `pagerduty_integration`, "
        "`pagerduty`, `api_key`, `user` (a Fireline user, in the web UI) or `system`."
    )
    id: str | None
    name: str | None


class TimelineEntryOut(BaseModel):
    id: UUID
    kind: str = Field(
        description="`started`, `status_changed`, `severity_changed`, `assignment_changed`, "
        "`note`, `status_update`, `responder`, `conference_bridge`, `merged`, `custom_fields`, "
        "`workflow`, `service_changed`, `incident_type_changed` or `other`."
    )
    occurred_at: datetime = Field(description="PagerDuty's clock for PagerDuty events.")
    actor: ActorOut
    source: str = Field(description="`pagerduty` or `api`.")
    source_event_id: str | None = Field(description="PagerDuty's event id.")
    summary: str
    text: str | None = Field(description="The note or status update as written.")

    @classmethod
    def of(cls, entry: TimelineEntry) -> TimelineEntryOut:
        return cls.model_validate(entry, from_attributes=True)


class TimelineOut(BaseModel):
    items: list[TimelineEntryOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )

    @classmethod
    def of(cls, page: TimelinePage) -> TimelineOut:
        return cls(items=[TimelineEntryOut.of(e) for e in page.items], next_cursor=page.next_cursor)


class NewNote(RequestModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(max_length=MAX_NOTE_LENGTH + 1000)] = Field(
        description=f"The note, at most {MAX_NOTE_LENGTH} characters once trimmed."
    )
