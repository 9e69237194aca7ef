"""The unit of work of the ingest service: its repositories on one transaction with the outbox.

The SQL lives in ``integrations_repository`` and ``deliveries_repository``; the transaction, the
connection's lifetime and the outbox in the runtime's ``PgUnitOfWork``.
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
from fireline_runtime.db import Connection


class PgUnitOfWork(runtime_uow.PgUnitOfWork):
    """Integrations and deliveries, on one transaction with the outbox."""

    _integrations: PgIntegrationRepository | None = None
    _deliveries: PgDeliveryRepository | None = None
    _sync: PgSyncRepository | None = None

    def _bind(self, conn: Connection) -> None:
        self._integrations = PgIntegrationRepository(conn)
        self._deliveries = PgDeliveryRepository(conn)
        self._sync = PgSyncRepository(conn)

    def _unbind(self) -> None:
        self._integrations = None
        self._deliveries = None
        self._sync = None

    @property
    def integrations(self) -> PgIntegrationRepository:
        if self._integrations is None:
            raise RuntimeError("enter the unit of work first")
        return self._integrations

    @property
    def deliveries(self) -> PgDeliveryRepository:
        if self._deliveries is None:
            raise RuntimeError("enter the unit of work first")
        return self._deliveries

    @property
    def sync(self) -> PgSyncRepository:
        if self._sync is None:
            raise RuntimeError("enter the unit of work first")
        return self._sync

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
