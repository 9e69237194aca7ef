"""Kafka consumers of the auth service.

The runtime runs each handler inside its inbox transaction, so a redelivered event is skipped
before it gets here, and the use case's writes commit together with the inbox claim.
"""

from __future__ import annotations

from fireline_auth.service_layer.projection import apply_key_event
from fireline_auth.service_layer.unit_of_work import UnitOfWork
from fireline_contracts import KEYS, EventEnvelope, KeysWatermark
from fireline_runtime import keys_view
from fireline_runtime.consumers import EventHandler
from fireline_runtime.db import Connection
from fireline_runtime.keys_view import KeysView
from fireline_runtime.unit_of_work import UnitOfWorkFactory


def key_projection(uow: UnitOfWorkFactory[UnitOfWork], view: KeysView | None) -> EventHandler:
    """Keeps auth's projection of API keys, on the inbox transaction's connection, and how
    current it is (identity's watermarks, the runtime's ``keys_view``)."""

    async def handle(conn: Connection, event: EventEnvelope) -> None:
        if isinstance(event, KeysWatermark):
            await keys_view.record(conn, event)
            return
        await apply_key_event(uow.on(conn), event)

    def after_commit(event: EventEnvelope) -> None:
        if isinstance(event, KeysWatermark) and view is not None:
            keys_view.remember(view, event)

    return EventHandler(
        name="auth.key-projection",
        topic=KEYS,
        handle=handle,
        after_commit=after_commit,
        triage=keys_view.watermarks_idempotent,
        description="Keeps auth's projection of API keys (digest, scopes, expiry, revocation).",
    )
