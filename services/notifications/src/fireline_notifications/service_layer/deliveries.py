"""Use cases of the delivery log: read it, retry a delivery by hand, prune what is old."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fireline_notifications.domain.delivery import Attempt
from fireline_notifications.domain.errors import DeliveryNotFound, EndpointNotFound
from fireline_notifications.domain.pagination import decode_cursor, encode_cursor
from fireline_notifications.service_layer.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class AttemptPage:
    items: list[Attempt]
    next_cursor: str | None


async def list_attempts(
    *, uow: UnitOfWork, org_id: UUID, endpoint_id: UUID, cursor: str | None, limit: int
) -> AttemptPage:
    before = decode_cursor(cursor) if cursor else None
    async with uow.reading():
        if await uow.endpoints.get(org_id, endpoint_id) is None:
            raise EndpointNotFound("No such webhook endpoint.")
        # One more than asked tells whether another page follows without a count.
        items = await uow.deliveries.attempts(endpoint_id, before=before, limit=limit + 1)
    if len(items) <= limit:
        return AttemptPage(items, None)
    return AttemptPage(items[:limit], encode_cursor(items[limit - 1].seq))


async def retry_delivery(
    *, uow: UnitOfWork, org_id: UUID, endpoint_id: UUID, delivery_id: UUID, now: datetime
) -> None:
    """Send the delivery again as soon as possible, with its own webhook-id."""
    async with uow:
        if await uow.endpoints.get(org_id, endpoint_id) is None:
            raise EndpointNotFound("No such webhook endpoint.")
        if await uow.deliveries.get(endpoint_id, delivery_id) is None:
            raise DeliveryNotFound("No such delivery for this endpoint.")
        await uow.deliveries.reschedule(delivery_id, now)


async def prune_deliveries(*, uow: UnitOfWork, finished_before: datetime) -> int:
    async with uow:
        return await uow.deliveries.prune(finished_before)
