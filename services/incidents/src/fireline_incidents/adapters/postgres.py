"""The unit of work on PostgreSQL: the incidents service's repositories on one transaction.

The SQL lives in the ``*_repository`` modules; the transaction, the connection's lifetime and the
outbox in the runtime's ``PgUnitOfWork``. ``postgres_batch`` is the unit of work of a consumer
batch.
"""

from __future__ import annotations

from fireline_contracts import INCIDENTS
from fireline_incidents.adapters.incidents_repository import PgIncidentRepository
from fireline_incidents.adapters.timeline_repository import PgTimelineRepository
from fireline_incidents.adapters.users_repository import PgUserRepository
from fireline_incidents.service_layer.unit_of_work import IncidentEventType
from fireline_runtime import unit_of_work as runtime_uow
from fireline_runtime.unit_of_work import repository


class PgUnitOfWork(runtime_uow.PgUnitOfWork):
    """The incidents, their timelines and the users projection, on one transaction with the
    outbox."""

    incidents = repository(PgIncidentRepository)
    users = repository(PgUserRepository)
    timeline = repository(PgTimelineRepository)

    async def publish(self, event: IncidentEventType) -> None:
        await self.emit(INCIDENTS, event)
