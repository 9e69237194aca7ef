"""Kafka consumers: incident events in, notices to the fan-out use case, nothing else.

The runtime runs the handler inside its inbox transaction, so a redelivered event is skipped
before it gets here, and the deliveries commit together with the inbox claim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from fireline_contracts import (
    INCIDENTS,
    EventEnvelope,
    IncidentAssignee,
    IncidentAssignmentChanged,
    IncidentDetailsChanged,
    IncidentSeverityChanged,
    IncidentSource,
    IncidentStarted,
    IncidentStatusChanged,
    IncidentTimelineEntryAdded,
)
from fireline_notifications.domain.catalogue import webhook_type
from fireline_notifications.domain.message import IncidentSnapshot, Notice
from fireline_notifications.service_layer.fanout import fan_out_batch
from fireline_notifications.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.consumers import EventHandler
from fireline_runtime.db import Connection
from fireline_runtime.unit_of_work import UnitOfWorkFactory

IncidentEvent = (
    IncidentStarted
    | IncidentStatusChanged
    | IncidentSeverityChanged
    | IncidentAssignmentChanged
    | IncidentDetailsChanged
    | IncidentTimelineEntryAdded
)


def _pagerduty_url(source: IncidentSource | None) -> str | None:
    return source.html_url if source is not None and source.kind == "pagerduty" else None


def _names(assignees: Sequence[IncidentAssignee]) -> str:
    return ", ".join(a.name or a.id for a in assignees)


def _summary_and_snapshot(event: IncidentEvent) -> tuple[str, IncidentSnapshot]:
    p = event.payload
    known = IncidentSnapshot(incident_id=p.incident_id, org_id=event.org_id)
    match event:
        case IncidentStarted(payload=s):
            # The assignment it starts with has no IncidentAssignmentChanged of its own.
            names = _names(s.assignees)
            assigned = f" (assigned to {names})" if names else ""
            return f"Incident #{s.number} started: {s.title}{assigned}", IncidentSnapshot(
                incident_id=s.incident_id,
                org_id=event.org_id,
                number=s.number,
                title=s.title,
                severity=s.severity,
                status=s.status,
                pagerduty_url=_pagerduty_url(s.source),
            )
        case IncidentStatusChanged(payload=s):
            text = f"Status changed from {s.previous_status} to {s.status}"
            return text, IncidentSnapshot(s.incident_id, event.org_id, status=s.status)
        case IncidentSeverityChanged(payload=s):
            text = f"Severity changed from {s.previous_severity} to {s.severity}"
            return text, IncidentSnapshot(s.incident_id, event.org_id, severity=s.severity)
        case IncidentAssignmentChanged(payload=s):
            names = _names(s.assignees)
            return (f"Assigned to {names}" if names else "No longer assigned to anyone"), known
        case IncidentDetailsChanged(payload=s):
            return f"Details updated: {s.title}", IncidentSnapshot(
                incident_id=s.incident_id,
                org_id=event.org_id,
                title=s.title,
                severity=s.severity,
                pagerduty_url=_pagerduty_url(s.source),
            )
        case IncidentTimelineEntryAdded(payload=s):
            return s.summary, known
    raise AssertionError(f"unhandled incident event {event.event_type}")


_ENTRY_ADDED = webhook_type("IncidentTimelineEntryAdded")


def notice_of(event: IncidentEvent) -> Notice:
    """The event's own notice. A start's ``data`` leaves out the timeline entries it carries:
    each of them is a notice of its own (:func:`notices_of`)."""
    summary, snapshot = _summary_and_snapshot(event)
    return Notice(
        event_id=event.event_id,
        org_id=event.org_id,
        incident_id=event.payload.incident_id,
        event_type=webhook_type(event.event_type),
        occurred_at=event.occurred_at,
        data=event.payload.model_dump(mode="json", exclude=_CARRIED),
        summary=summary,
        snapshot=snapshot,
    )


_CARRIED = {"timeline"}
"""Payload fields that are other events' notices, not part of this one's ``data``."""


def notices_of(event: IncidentEvent) -> list[Notice]:
    """The event's notice, then, for a start, an ``incident.timeline_entry_added`` for each first
    timeline entry it carries: subscribers get every entry of a timeline, as they did when each
    was an event of its own. An entry's notice is identified by the entry's id, so its delivery
    (and webhook-id) is the same however often the start arrives."""
    notices = [notice_of(event)]
    if isinstance(event, IncidentStarted):
        known = IncidentSnapshot(incident_id=event.payload.incident_id, org_id=event.org_id)
        notices.extend(
            Notice(
                event_id=entry.entry_id,
                org_id=event.org_id,
                incident_id=entry.incident_id,
                event_type=_ENTRY_ADDED,
                # A microsecond apart, after the start: an endpoint's deliveries go out oldest
                # first, and a receiver can sort by the body's timestamp, as when each entry was
                # an event published after the start.
                occurred_at=event.occurred_at + timedelta(microseconds=n),
                data=entry.model_dump(mode="json"),
                summary=entry.summary,
                snapshot=known,
            )
            for n, entry in enumerate(event.payload.timeline, start=1)
        )
    return notices


@dataclass(frozen=True)
class _Arrived:
    event: IncidentEvent

    @property
    def event_id(self) -> UUID:
        return self.event.event_id

    @property
    def org_id(self) -> UUID:
        return self.event.org_id

    def notices(self) -> list[Notice]:
        return notices_of(self.event)


def incidents_consumer(
    uow: UnitOfWorkFactory[UnitOfWork], *, incident_url_base: str, wake: Callable[[], None]
) -> EventHandler:
    """Stores one delivery per endpoint subscribed to each incident event.

    ``handle_batch`` takes a fetch's fresh events together; the runtime falls back to
    ``handle``, one event at a time, when a batch fails.
    """
    owing: set[UUID] = set()
    """Events whose deliveries are in a transaction not committed yet: their commit wakes the
    dispatcher, and no other event's does (most have no subscriber)."""

    async def fan_out_events(conn: Connection, events: Sequence[EventEnvelope]) -> None:
        arrivals = [_Arrived(e) for e in events if isinstance(e, IncidentEvent)]
        done = await fan_out_batch(
            uow=uow.on(conn), arrivals=arrivals, incident_url_base=incident_url_base
        )
        owing.update(done.owing)

    async def handle(conn: Connection, event: EventEnvelope) -> None:
        await fan_out_events(conn, [event])

    def after_commit(event: EventEnvelope) -> None:
        # The deliveries are on disk now: the dispatcher need not wait for its next poll.
        if event.event_id in owing:
            owing.discard(event.event_id)
            wake()

    return EventHandler(
        name="notifications.incidents",
        topic=INCIDENTS,
        handle=handle,
        handle_batch=fan_out_events,
        after_commit=after_commit,
        description="Stores a delivery per subscribed webhook endpoint for every incident event.",
    )
