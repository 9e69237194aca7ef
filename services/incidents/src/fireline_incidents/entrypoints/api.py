"""HTTP routes of the incidents API: transport in, command to a use case, transport out."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from fireline_contracts.bounds import MAX_EXTERNAL_ID_LENGTH
from fireline_incidents.domain.commands import AddNote, ChangeIncidentStatus, OpenIncident
from fireline_incidents.domain.errors import IncidentNotFound
from fireline_incidents.domain.model import IncidentFilter, Status
from fireline_incidents.domain.pagination import DEFAULT_LIMIT, MAX_LIMIT, MIN_LIMIT
from fireline_incidents.domain.timeline import DEFAULT_TIMELINE_LIMIT
from fireline_incidents.entrypoints.deps import ReaderOrg, Uow, WriterActor, WriterOrg
from fireline_incidents.entrypoints.schemas import (
    IncidentList,
    IncidentOut,
    NewIncident,
    NewNote,
    StatusCounts,
    StatusUpdate,
    TimelineEntryOut,
    TimelineOut,
)
from fireline_incidents.service_layer import api_commands, counts, queries
from fireline_runtime.input_text import InputText

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])

ShortText = Annotated[InputText | None, Query(max_length=200)]


def _incident_id(raw: str) -> UUID:
    # A malformed id names no incident, so it gets the same 404 as an unknown one.
    try:
        return UUID(raw)
    except ValueError:
        raise IncidentNotFound("No such incident.") from None


@router.get("", summary="List incidents, newest first")
async def list_incidents(
    org: ReaderOrg,
    uow: Uow,
    status: Annotated[Status | None, Query()] = None,
    source: ShortText = None,
    # As long as any source id the receiver accepts, so every incident can be found by it.
    external_id: Annotated[InputText | None, Query(max_length=MAX_EXTERNAL_ID_LENGTH)] = None,
    severity: ShortText = None,
    q: Annotated[
        InputText | None, Query(max_length=200, description="Part of the title (any case).")
    ] = None,
    limit: Annotated[int, Query(ge=MIN_LIMIT, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[InputText | None, Query(max_length=512)] = None,
) -> IncidentList:
    filters = IncidentFilter(
        status=status,
        source=source,
        external_id=external_id,
        severity=severity or None,
        title=q.strip() or None if q else None,
    )
    page = await queries.list_incidents(
        uow=uow,
        org_id=org,
        filters=filters,
        limit=limit,
        cursor=cursor or None,  # `cursor=` (empty) means the first page
    )
    return IncidentList.of(page)


@router.get("/counts", summary="How many incidents are in each status")
async def incident_counts(org: ReaderOrg, uow: Uow) -> StatusCounts:
    return StatusCounts(**await counts.count_by_status(uow=uow, org_id=org))


@router.get("/{incident_id}", summary="Get an incident")
async def get_incident(incident_id: str, org: ReaderOrg, uow: Uow) -> IncidentOut:
    incident = await queries.get_incident(
        uow=uow, org_id=org, incident_id=_incident_id(incident_id)
    )
    return IncidentOut.of(incident)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Start an incident by hand")
async def create_incident(body: NewIncident, org: WriterOrg, uow: Uow) -> IncidentOut:
    command = OpenIncident(
        org_id=org,
        title=body.title,
        severity=body.severity,
        incident_type=body.incident_type,
        creator_id=body.creator_id,
    )
    return IncidentOut.of(await api_commands.open_incident(uow=uow, command=command))


@router.patch("/{incident_id}", summary="Change an incident's status or severity")
async def update_incident(
    incident_id: str, body: StatusUpdate, org: WriterOrg, actor: WriterActor, uow: Uow
) -> IncidentOut:
    command = ChangeIncidentStatus(
        org_id=org,
        incident_id=_incident_id(incident_id),
        status=body.status,
        severity=body.severity,
        actor=actor,
    )
    return IncidentOut.of(await api_commands.change_incident_status(uow=uow, command=command))


@router.get("/{incident_id}/timeline", summary="An incident's timeline, oldest first")
async def get_timeline(
    incident_id: str,
    org: ReaderOrg,
    uow: Uow,
    limit: Annotated[int, Query(ge=MIN_LIMIT, le=MAX_LIMIT)] = DEFAULT_TIMELINE_LIMIT,
    cursor: Annotated[InputText | None, Query(max_length=512)] = None,
) -> TimelineOut:
    page = await queries.list_timeline(
        uow=uow, org_id=org, incident_id=_incident_id(incident_id), limit=limit, cursor=cursor
    )
    return TimelineOut.of(page)


@router.post(
    "/{incident_id}/timeline",
    status_code=status.HTTP_201_CREATED,
    summary="Add a note to an incident's timeline",
)
async def add_note(
    incident_id: str, body: NewNote, org: WriterOrg, actor: WriterActor, uow: Uow
) -> TimelineEntryOut:
    command = AddNote(
        org_id=org, incident_id=_incident_id(incident_id), text=body.text, actor=actor
    )
    return TimelineEntryOut.of(await api_commands.add_note(uow=uow, command=command))
