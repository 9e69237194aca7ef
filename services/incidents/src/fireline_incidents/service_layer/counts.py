"""Use case: how many of an org's incidents are in each status (the list page's header)."""

from __future__ import annotations

from uuid import UUID

from fireline_incidents.domain.model import STATUSES, Status
from fireline_incidents.service_layer.unit_of_work import UnitOfWork


async def count_by_status(*, uow: UnitOfWork, org_id: UUID) -> dict[Status, int]:
    """Every status, with zero for those no incident is in."""
    async with uow.reading() as reader:
        counts = await reader.incidents.count_by_status(org_id)
    return {status: counts.get(status, 0) for status in STATUSES}
