"""SQL for the audit log, in table ``audit_events`` (append-only: no method updates a row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from fireline_identity.domain.audit import (
    Actor,
    ActorType,
    AuditAction,
    AuditEntry,
    AuditFilter,
    Position,
    Target,
)
from fireline_runtime.unit_of_work import PgRepository

_COLUMNS = (
    "id, org_id, occurred_at, action, actor_type, actor_id, target_type, target_id, address, "
    "details"
)


def _entry(row: asyncpg.Record) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        org_id=row["org_id"],
        occurred_at=row["occurred_at"],
        action=AuditAction(row["action"]),
        actor=Actor(ActorType(row["actor_type"]), row["actor_id"]),
        target=Target(row["target_type"], row["target_id"]),
        address=row["address"],
        # The pool's codec decodes jsonb (fireline_runtime.db), so this is already a dict.
        details=row["details"],
    )


class PgAuditRepository(PgRepository):
    """The audit log, in table ``audit_events``."""

    async def append(self, entry: AuditEntry) -> bool:
        status = await self._conn.execute(
            f"""
            INSERT INTO audit_events ({_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (id) DO NOTHING
            """,  # noqa: S608 - the columns are a constant
            entry.id,
            entry.org_id,
            entry.occurred_at,
            entry.action.value,
            entry.actor.type.value,
            entry.actor.id,
            entry.target.type,
            entry.target.id,
            entry.address,
            dict(entry.details or {}),
        )
        return bool(status == "INSERT 0 1")

    async def page(
        self, *, org_id: UUID, where: AuditFilter, after: Position | None, limit: int
    ) -> list[AuditEntry]:
        conditions = ["org_id = $1"]
        args: list[Any] = [org_id]

        def bind(sql: str, value: Any) -> None:
            args.append(value)
            conditions.append(sql.replace("?", f"${len(args)}"))

        if where.actor_type is not None:
            bind("actor_type = ?", where.actor_type.value)
        if where.actor_id is not None:
            bind("actor_id = ?", where.actor_id)
        if where.action is not None:
            bind("action = ?", where.action.value)
        if where.target_id is not None:
            bind("target_id = ?", where.target_id)
        if where.since is not None:
            bind("occurred_at >= ?", where.since)
        if where.until is not None:
            bind("occurred_at < ?", where.until)
        if after is not None:
            args.extend([after.occurred_at, after.id])
            conditions.append(f"(occurred_at, id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit)
        rows = await self._conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM audit_events
            WHERE {" AND ".join(conditions)}
            ORDER BY occurred_at DESC, id DESC
            LIMIT ${len(args)}
            """,  # noqa: S608 - only placeholders are interpolated; values are bound
            *args,
        )
        return [_entry(r) for r in rows]

    async def delete_older_than(self, cutoff: datetime, *, limit: int) -> int:
        status = await self._conn.execute(
            """
            DELETE FROM audit_events WHERE id IN (
                SELECT id FROM audit_events WHERE occurred_at < $1 LIMIT $2
            )
            """,
            cutoff,
            limit,
        )
        return int(status.split()[-1])
