"""Inbox for idempotent consumers: an event is applied at most once per consumer."""

from __future__ import annotations

from collections.abc import Sequence
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


async def claim_many(
    conn: Connection, *, consumer: str, event_ids: Sequence[UUID], topic: str
) -> set[UUID]:
    """Record a batch of events in one statement; the ids that were not processed before.

    An id repeated within ``event_ids`` is claimed once: the first copy is fresh, the others
    are duplicates, exactly as if they had been claimed one after the other.
    """
    rows = await conn.fetch(
        """
        INSERT INTO inbox (consumer, event_id, topic)
        SELECT $1, event_id, $3 FROM unnest($2::uuid[]) AS event_id
        ON CONFLICT (consumer, event_id) DO NOTHING
        RETURNING event_id
        """,
        consumer,
        list(dict.fromkeys(event_ids)),
        topic,
    )
    return {row["event_id"] for row in rows}
