"""Kafka consumer: the incidents topic in, Fireline → PagerDuty sync requests out.

The consumer reads the whole of ``fireline.incidents.v1`` for a few kinds of event, so it sorts
each event before any storage is touched (``triage``):

* changes made in Fireline that PagerDuty may have to hear about (a status set in the API, a note
  written there) are claimed in the inbox, and their request commits together with the claim:
  an event is never acknowledged without the request it asked for, nor stores it twice;
* an incident from PagerDuty starting, or learning its details, is linked to its integration
  with no inbox row: the link is keyed by the incident, so linking again changes nothing;
* everything else — timeline entries other than notes made in the API, status changes mirrored
  from PagerDuty, severity and assignment changes, incidents not from PagerDuty — is
  acknowledged without a transaction. Nothing is written for it, so a redelivery has nothing to
  repeat, and an inbox row would only be a write that is kept for ever.

During an alert storm nearly every event is of the last two kinds, so a fetch's batch costs one
statement (the links), and none for an integration that does not sync.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

from fireline_contracts import (
    INCIDENTS,
    EventEnvelope,
    IncidentDetailsChanged,
    IncidentStarted,
    IncidentStatusChanged,
    IncidentTimelineEntryAdded,
)
from fireline_pagerduty_ingest.domain.sync import (
    STATUS_ACTIONS,
    IncidentOrigin,
    IncidentsChange,
    ReopenedInFireline,
    SyncAsked,
)
from fireline_pagerduty_ingest.service_layer import sync
from fireline_pagerduty_ingest.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.consumers import EventHandler, Treatment
from fireline_runtime.db import Connection
from fireline_runtime.unit_of_work import UnitOfWorkFactory


def change_of(event: EventEnvelope) -> IncidentsChange | None:
    """What ``event`` means to the sync; None for an event it has nothing to do with."""
    match event:
        case IncidentStarted(payload=p) | IncidentDetailsChanged(payload=p):
            source = p.source
            if source is not None and source.kind == "pagerduty" and source.external_id:
                return IncidentOrigin(
                    org_id=event.org_id, incident_id=p.incident_id, external_id=source.external_id
                )
        # Only changes made in Fireline: one mirrored from PagerDuty is PagerDuty's already, and
        # sending it back would be the start of an echo loop.
        case IncidentStatusChanged(payload=p) if p.changed_in == "api":
            action = STATUS_ACTIONS.get(p.status)
            if action is not None:
                return SyncAsked(
                    source_event_id=event.event_id, incident_id=p.incident_id, action=action
                )
            # Back to triggered: PagerDuty's API cannot do it, so it is only said.
            return ReopenedInFireline(
                source_event_id=event.event_id,
                incident_id=p.incident_id,
                previous_status=p.previous_status,
                at=p.changed_at,
            )
        case IncidentTimelineEntryAdded(payload=p) if p.kind == "note" and p.source == "api":
            return SyncAsked(
                source_event_id=event.event_id,
                incident_id=p.incident_id,
                action="note",
                note=p.text,
            )
    return None


def triage(event: EventEnvelope) -> Treatment:
    change = change_of(event)
    if change is None:
        return "ignore"
    # A link is keyed by its incident (ON CONFLICT DO NOTHING); a request or a reopening's
    # timeline event would be written again, so those are claimed.
    return "idempotent" if isinstance(change, IncidentOrigin) else "once"


def incidents_consumer(
    uow: UnitOfWorkFactory[UnitOfWork], *, wake: Callable[[], None]
) -> EventHandler:
    """Links PagerDuty-sourced incidents of syncing integrations to their integration and stores
    the changes made in Fireline that PagerDuty should hear about.

    ``handle_batch`` takes a fetch's events together; the runtime falls back to ``handle``,
    one event at a time, when a batch fails.
    """
    owing: set[UUID] = set()
    """Events whose request is in a transaction not committed yet: their commit wakes the
    dispatcher, and no other event's does (a storm's events store none)."""

    async def handle_batch(conn: Connection, events: Sequence[EventEnvelope]) -> None:
        changes = [change for event in events if (change := change_of(event)) is not None]
        owing.update(await sync.apply_incidents_changes(uow=uow.on(conn), changes=changes))

    async def handle(conn: Connection, event: EventEnvelope) -> None:
        await handle_batch(conn, [event])

    def after_commit(event: EventEnvelope) -> None:
        # The request is on disk now: the dispatcher need not wait for its next poll.
        if event.event_id in owing:
            owing.discard(event.event_id)
            wake()

    return EventHandler(
        name="pagerduty-ingest.incidents",
        topic=INCIDENTS,
        handle=handle,
        handle_batch=handle_batch,
        triage=triage,
        after_commit=after_commit,
        description="Stores acknowledgements, resolutions and notes made in Fireline for "
        "incidents from PagerDuty, to be sent to PagerDuty's REST API.",
    )
