"""The unit of work on PostgreSQL: the notifications service's repositories on one transaction.

The SQL lives in the ``*_repository`` modules; the transaction, the connection's lifetime and the
outbox in the runtime's ``PgUnitOfWork``.
"""

from __future__ import annotations

import asyncpg

from fireline_contracts import NOTIFICATIONS
from fireline_notifications.adapters.deliveries_repository import PgDeliveryRepository
from fireline_notifications.adapters.endpoints_repository import PgEndpointRepository
from fireline_notifications.adapters.incidents_repository import PgIncidentRepository
from fireline_notifications.service_layer.unit_of_work import EndpointEvent
from fireline_runtime import unit_of_work as runtime_uow
from fireline_runtime.db import Connection
from fireline_runtime.outbox import OutboxWriter
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.unit_of_work import repository


class PgUnitOfWork(runtime_uow.PgUnitOfWork):
    """Endpoints, deliveries and the incidents projection, on one transaction with the outbox."""

    # The endpoints' URLs and secrets are sealed at rest with the service's box.
    endpoints = repository(lambda uow: PgEndpointRepository(uow.connection, uow.box))
    deliveries = repository(PgDeliveryRepository)
    incidents = repository(PgIncidentRepository)

    def __init__(
        self,
        outbox: OutboxWriter,
        box: SecretBox,
        *,
        pool: asyncpg.Pool | None = None,
        conn: Connection | None = None,
    ) -> None:
        super().__init__(outbox, pool=pool, conn=conn)
        self.box = box

    async def publish(self, event: EndpointEvent) -> None:
        await self.emit(NOTIFICATIONS, event)
