"""Kafka consumers of the auth service.

The runtime runs each handler inside its inbox transaction, so a redelivered event is skipped
before it gets here, and the use case's writes commit together with the inbox claim.
"""

from __future__ import annotations

from fireline_auth.service_layer.projection import apply_key_event
from fireline_auth.service_layer.unit_of_work import UnitOfWork
from fireline_contracts import KEYS, EventEnvelope
from fireline_runtime.db import Connection
from fireline_runtime.messaging import EventHandler
from fireline_runtime.unit_of_work import UnitOfWorkFactory


def key_projection(uow: UnitOfWorkFactory[UnitOfWork]) -> EventHandler:
    """Keeps auth's projection of API keys, on the inbox transaction's connection."""

    async def handle(conn: Connection, event: EventEnvelope) -> None:
        await apply_key_event(uow.on(conn), event)

    return EventHandler(
        name="auth.key-projection",
        topic=KEYS,
        handle=handle,
        description="Keeps auth's projection of API keys (digest, scopes, expiry, revocation).",
    )
