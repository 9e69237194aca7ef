"""Kafka consumer: the incidents topic in, Fireline → PagerDuty sync requests out.

The runtime runs the handler inside its inbox transaction, so a redelivered event is skipped
before it gets here, and a request commits together with the inbox claim: an event is never
acknowledged without the request it asked for.
"""

from __future__ import annotations

from collections.abc import Callable

from fireline_contracts import (
    INCIDENTS,
    EventEnvelope,
    IncidentDetailsChanged,
    IncidentStarted,
    IncidentStatusChanged,
    IncidentTimelineEntryAdded,
)
from fireline_pagerduty_ingest.domain.sync import STATUS_ACTIONS
from fireline_pagerduty_ingest.service_layer import sync
from fireline_pagerduty_ingest.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.consumers import EventHandler
from fireline_runtime.db import Connection
from fireline_runtime.unit_of_work import UnitOfWorkFactory


def incidents_consumer(
    uow: UnitOfWorkFactory[UnitOfWork], *, wake: Callable[[], None]
) -> EventHandler:
    """Links PagerDuty-sourced incidents to their integration and stores the changes made in
    Fireline that PagerDuty should hear about."""

    async def handle(conn: Connection, event: EventEnvelope) -> None:
        work = uow.on(conn)
        match event:
            case IncidentStarted(payload=p) | IncidentDetailsChanged(payload=p):
                source = p.source
                if source is not None and source.kind == "pagerduty" and source.external_id:
                    await sync.link_incident(
                        uow=work,
                        org_id=event.org_id,
                        incident_id=p.incident_id,
                        external_id=source.external_id,
                    )
            # Only changes made in Fireline: one mirrored from PagerDuty is PagerDuty's already,
            # and sending it back would be the start of an echo loop.
            case IncidentStatusChanged(payload=p) if p.changed_in == "api":
                action = STATUS_ACTIONS.get(p.status)
                if action is not None:
                    await sync.request_sync(
                        uow=work,
                        source_event_id=event.event_id,
                        incident_id=p.incident_id,
                        action=action,
                    )
                else:  # back to triggered: PagerDuty's API cannot do it, so it is only said
                    await sync.report_reopening(
                        uow=work,
                        source_event_id=event.event_id,
                        incident_id=p.incident_id,
                        previous_status=p.previous_status,
                        at=p.changed_at,
                    )
            case IncidentTimelineEntryAdded(payload=p) if p.kind == "note" and p.source == "api":
                await sync.request_sync(
                    uow=work,
                    source_event_id=event.event_id,
                    incident_id=p.incident_id,
                    action="note",
                    note=p.text,
                )

    return EventHandler(
        name="pagerduty-ingest.incidents",
        topic=INCIDENTS,
        handle=handle,
        # The request is on disk now: the dispatcher need not wait for its next poll.
        after_commit=lambda _: wake(),
        description="Stores acknowledgements, resolutions and notes made in Fireline for "
        "incidents from PagerDuty, to be sent to PagerDuty's REST API.",
    )
