"""The unit of work of the ingest service: its repositories on one transaction with the outbox.

The SQL lives in the ``*_repository`` modules; the transaction, the connection's lifetime and the
outbox in the runtime's ``PgUnitOfWork``.
"""

from __future__ import annotations

from types import TracebackType

import asyncpg

from fireline_contracts import ALERTS, INTEGRATIONS, PAGERDUTY_SYNC, PagerDutySyncAttempted
from fireline_pagerduty_ingest.adapters.deliveries_repository import PgDeliveryRepository
from fireline_pagerduty_ingest.adapters.integrations_repository import PgIntegrationRepository
from fireline_pagerduty_ingest.adapters.sync_repository import PgSyncRepository
from fireline_pagerduty_ingest.domain.alert import AlertEventType
from fireline_pagerduty_ingest.domain.errors import UnstorableValue
from fireline_pagerduty_ingest.service_layer.integration_events import IntegrationEventType
from fireline_runtime import unit_of_work as runtime_uow
from fireline_runtime.unit_of_work import repository


class PgUnitOfWork(runtime_uow.PgUnitOfWork):
    """Integrations, deliveries and sync requests, on one transaction with the outbox."""

    integrations = repository(PgIntegrationRepository)
    deliveries = repository(PgDeliveryRepository)
    sync = repository(PgSyncRepository)

    async def publish(
        self, event: AlertEventType | IntegrationEventType | PagerDutySyncAttempted
    ) -> None:
        if isinstance(event, PagerDutySyncAttempted):
            spec = PAGERDUTY_SYNC
        else:
            spec = INTEGRATIONS if isinstance(event, INTEGRATIONS.events) else ALERTS
        await self.emit(spec, event)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc, tb)
        except asyncpg.DataError as refused:
            # The outbox rows go in at commit. Text PostgreSQL cannot store is the alert's own
            # content, the same on every attempt.
            raise UnstorableValue(str(refused)) from refused
