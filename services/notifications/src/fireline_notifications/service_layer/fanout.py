"""One incident event in, one delivery per subscribed endpoint out, in the consumer's transaction.

The deliveries commit with the inbox claim, before the Kafka offset does: once the offset moves
on, every delivery the event owes is on disk, whatever happens to this process afterwards.
"""

from __future__ import annotations

import uuid

from fireline_notifications.domain.delivery import Delivery
from fireline_notifications.domain.message import (
    IncidentSnapshot,
    Notice,
    slack_body,
    standard_body,
)
from fireline_notifications.service_layer.unit_of_work import UnitOfWork


async def fan_out(*, uow: UnitOfWork, notice: Notice, incident_url_base: str) -> int:
    """Store the deliveries ``notice`` owes; the number stored (a replay stores none again)."""
    async with uow:
        known = await uow.incidents.get(notice.incident_id)
        base = known or IncidentSnapshot(incident_id=notice.incident_id, org_id=notice.org_id)
        incident = base.merged(notice.snapshot)
        await uow.incidents.save(incident)
        stored = 0
        incident_url = f"{incident_url_base.rstrip('/')}/{notice.incident_id}"
        for endpoint in await uow.endpoints.matching(notice.org_id, notice.event_type):
            if endpoint.format == "slack":
                body = slack_body(notice, incident, incident_url)
            else:
                body = standard_body(notice.event_type, notice.occurred_at, notice.data)
            delivery = Delivery(
                # The same event for the same endpoint is the same delivery, however often the
                # event arrives: its id (the webhook-id) is derived, not drawn.
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
            stored += await uow.deliveries.add(delivery)
    return stored
