"""Incident events in, one delivery per subscribed endpoint out, in the consumer's transaction.

The deliveries commit with the inbox claim, before the Kafka offset does: once the offset moves
on, every delivery the events owe is on disk, whatever happens to this process afterwards.

A consumer batch is handled as a whole: its orgs' endpoints are read once, the deliveries are
inserted in one statement, and an event nobody subscribed to writes nothing here (and, when
its org has no endpoint at all, is not even turned into a notice). Handled one at a time, each
event cost three statements even with no endpoint anywhere (BENCHMARKS.md).

A start carries the incident's first timeline entries: it makes a notice for itself and one for
each entry, so a subscriber to ``incident.timeline_entry_added`` still gets every entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from fireline_notifications.domain.delivery import Delivery
from fireline_notifications.domain.endpoint import Endpoint
from fireline_notifications.domain.message import (
    IncidentSnapshot,
    Notice,
    slack_body,
    standard_body,
)
from fireline_notifications.service_layer.ports import Arrival
from fireline_notifications.service_layer.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Ready:
    """A notice already made."""

    made: Notice

    @property
    def event_id(self) -> uuid.UUID:
        return self.made.event_id

    @property
    def org_id(self) -> uuid.UUID:
        return self.made.org_id

    def notices(self) -> Sequence[Notice]:
        return (self.made,)


@dataclass(frozen=True)
class FannedOut:
    """What a batch stored: how many deliveries, and for which events."""

    stored: int = 0
    owing: frozenset[uuid.UUID] = field(default_factory=frozenset)
    """Ids of the events that now have deliveries waiting (new or already stored)."""


async def fan_out(*, uow: UnitOfWork, notice: Notice, incident_url_base: str) -> int:
    """Store the deliveries ``notice`` owes; the number stored (a replay stores none again)."""
    done = await fan_out_batch(
        uow=uow, arrivals=[Ready(notice)], incident_url_base=incident_url_base
    )
    return done.stored


async def fan_out_batch(
    *, uow: UnitOfWork, arrivals: Sequence[Arrival], incident_url_base: str
) -> FannedOut:
    """Store the deliveries ``arrivals`` owe, in their order; a replay stores none again."""
    if not arrivals:
        return FannedOut()
    async with uow:
        by_org: dict[uuid.UUID, list[Endpoint]] = {}
        for endpoint in await uow.endpoints.of_orgs({a.org_id for a in arrivals}):
            by_org.setdefault(endpoint.org_id, []).append(endpoint)
        # Most orgs have no endpoint: their events are not even described.
        described = [(a.event_id, n) for a in arrivals if a.org_id in by_org for n in a.notices()]
        incidents = await _incidents(uow, [notice for _, notice in described], by_org)
        base = incident_url_base.rstrip("/")
        deliveries: list[Delivery] = []
        owing: set[uuid.UUID] = set()
        for event_id, notice in described:
            incident = incidents.get(notice.incident_id)
            if incident is not None:
                # In the events' order: each Slack message shows the incident as of its event.
                incident = incidents[notice.incident_id] = incident.merged(notice.snapshot)
            for endpoint in by_org.get(notice.org_id, ()):
                if endpoint.wants(notice.event_type):
                    deliveries.append(_delivery(notice, endpoint, incident, base))
                    owing.add(event_id)
        if incidents:
            await uow.incidents.save_many(list(incidents.values()))
        stored = await uow.deliveries.add_many(deliveries) if deliveries else 0
    return FannedOut(stored=stored, owing=frozenset(owing))


async def _incidents(
    uow: UnitOfWork, notices: Sequence[Notice], by_org: dict[uuid.UUID, list[Endpoint]]
) -> dict[uuid.UUID, IncidentSnapshot]:
    """What is known of the incidents whose org has a Slack endpoint, the only readers of it.

    Other orgs' incidents are not kept: the projection costs a row write per event, and an org
    that adds a Slack endpoint later shows what it learns from then on (README, "Slack").
    """
    slack_orgs = {org for org, found in by_org.items() if any(e.format == "slack" for e in found)}
    wanted = {n.incident_id: n.org_id for n in notices if n.org_id in slack_orgs}
    if not wanted:
        return {}
    known = {s.incident_id: s for s in await uow.incidents.get_many(list(wanted))}
    return {
        incident_id: known.get(incident_id) or IncidentSnapshot(incident_id, org_id)
        for incident_id, org_id in wanted.items()
    }


def _delivery(
    notice: Notice, endpoint: Endpoint, incident: IncidentSnapshot | None, incident_url_base: str
) -> Delivery:
    if endpoint.format == "slack":
        assert incident is not None  # kept for every org with a Slack endpoint (_incidents)
        body = slack_body(notice, incident, f"{incident_url_base}/{notice.incident_id}")
    else:
        body = standard_body(notice.event_type, notice.occurred_at, notice.data)
    return Delivery(
        # The same event for the same endpoint is the same delivery, however often the event
        # arrives: its id (the webhook-id) is derived, not drawn.
        id=uuid.uuid5(endpoint.id, str(notice.event_id)),
        endpoint_id=endpoint.id,
        org_id=notice.org_id,
        event_type=notice.event_type,
        body=body,
        state="pending",
        attempts=0,
        schedule_step=0,
        created_at=notice.occurred_at,
        next_attempt_at=notice.occurred_at,
    )
