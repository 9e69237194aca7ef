"""Inbox for idempotent consumers: an event is applied at most once per consumer."""

from __future__ import annotations

from uuid import UUID

from fireline_runtime.db import Connection


async def claim(conn: Connection, *, consumer: str, event_id: UUID, topic: str) -> bool:
    """Record the event in the caller's transaction; False means it was already processed."""
    status = await conn.execute(
        """
        INSERT INTO inbox (consumer, event_id, topic) VALUES ($1, $2, $3)
        ON CONFLICT (consumer, event_id) DO NOTHING
        """,
        consumer,
        event_id,
        topic,
    )
    return bool(status == "INSERT 0 1")
