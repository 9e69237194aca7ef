"""Kafka consumers of identity: KeyUsed from auth feeds each key's last_used_at."""

from __future__ import annotations

from fireline_contracts import KEY_USAGE, EventEnvelope, KeyUsed
from fireline_identity.service_layer import keys
from fireline_runtime.db import Connection
from fireline_runtime.messaging import EventHandler


async def _on_key_used(conn: Connection, event: EventEnvelope) -> None:
    if isinstance(event, KeyUsed):
        await keys.record_key_use(
            conn=conn,
            org_id=event.org_id,
            key_id=event.payload.key_id,
            used_at=event.payload.used_at,
        )


KEY_USAGE_HANDLER = EventHandler(
    name="identity.key-usage",
    topic=KEY_USAGE,
    handle=_on_key_used,
    description="Moves an API key's last_used_at forward when auth exchanged it for a token.",
)
