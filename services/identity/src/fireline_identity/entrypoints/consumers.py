"""Kafka consumers of identity: KeyUsed from auth feeds each key's last_used_at.

The runtime runs each handler inside its inbox transaction, so the use case's write commits
together with the inbox claim (``UnitOfWorkFactory.on``).
"""

from __future__ import annotations

from fireline_contracts import KEY_USAGE, EventEnvelope, KeyUsed
from fireline_identity.service_layer import keys
from fireline_identity.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.db import Connection
from fireline_runtime.messaging import EventHandler
from fireline_runtime.unit_of_work import UnitOfWorkFactory


def key_usage_consumer(uow: UnitOfWorkFactory[UnitOfWork]) -> EventHandler:
    """Moves an API key's last_used_at forward when auth exchanged it for a token."""

    async def handle(conn: Connection, event: EventEnvelope) -> None:
        if isinstance(event, KeyUsed):
            await keys.record_key_use(
                uow=uow.on(conn),
                org_id=event.org_id,
                key_id=event.payload.key_id,
                used_at=event.payload.used_at,
            )

    return EventHandler(
        name="identity.key-usage",
        topic=KEY_USAGE,
        handle=handle,
        description="Moves an API key's last_used_at forward when auth exchanged it for a token.",
    )
