"""SQL for API keys. Reads never select the digest, so nothing above this module can leak it; only
``rename`` hands it back, for the event that must carry the key's whole state."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from fireline_identity.domain.keys import ApiKey
from fireline_runtime.db import Connection

_COLUMNS = (
    "id, org_id, name, hint, scopes, created_at, created_by, expires_at, revoked_at, last_used_at"
)


def _key(row: asyncpg.Record) -> ApiKey:
    return ApiKey(
        id=row["id"],
        org_id=row["org_id"],
        name=row["name"],
        hint=row["hint"],
        scopes=tuple(row["scopes"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


class PgKeyRepository:
    """API keys, in table ``api_keys``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def count_active(self, org_id: UUID, now: datetime) -> int:
        n = await self._conn.fetchval(
            """
            SELECT count(*) FROM api_keys
            WHERE org_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
            """,
            org_id,
            now,
        )
        return int(n)

    async def count_active_by_org(self, now: datetime) -> dict[UUID, int]:
        """Active keys of every org that has any (for the metrics; orgs with none are left out)."""
        rows = await self._conn.fetch(
            """
            SELECT org_id, count(*) AS n FROM api_keys
            WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)
            GROUP BY org_id
            """,
            now,
        )
        return {row["org_id"]: int(row["n"]) for row in rows}

    async def insert(self, key: ApiKey, *, digest: str) -> None:
        await self._conn.execute(
            """
            INSERT INTO api_keys (id, org_id, name, digest, hint, scopes, created_at, created_by,
                                  expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            key.id,
            key.org_id,
            key.name,
            digest,
            key.hint,
            list(key.scopes),
            key.created_at,
            key.created_by,
            key.expires_at,
        )

    async def get(self, *, org_id: UUID, key_id: UUID, for_update: bool = False) -> ApiKey | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1 AND org_id = $2{lock}",  # noqa: S608
            key_id,
            org_id,
        )
        return _key(row) if row else None

    async def list_for_org(
        self, *, org_id: UUID, include_inactive: bool, now: datetime
    ) -> list[ApiKey]:
        rows = await self._conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM api_keys
            WHERE org_id = $1
              AND ($2 OR (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)))
            ORDER BY created_at DESC, id
            """,  # noqa: S608
            org_id,
            include_inactive,
            now,
        )
        return [_key(r) for r in rows]

    async def rename(self, key_id: UUID, name: str) -> str:
        """Rename the key; returns its digest, for the KeyRenamed that carries the whole key."""
        digest = await self._conn.fetchval(
            "UPDATE api_keys SET name = $2 WHERE id = $1 RETURNING digest", key_id, name
        )
        if digest is None:
            # The caller locked the row first, so a missing row is a bug, not a race.
            raise LookupError(f"api key {key_id} vanished while locked")
        return str(digest)

    async def revoke(self, key_id: UUID, *, at: datetime, by: UUID | None) -> None:
        await self._conn.execute(
            "UPDATE api_keys SET revoked_at = $2, revoked_by = $3 WHERE id = $1",
            key_id,
            at,
            by,
        )

    async def record_use(self, *, org_id: UUID, key_id: UUID, used_at: datetime) -> bool:
        """Move ``last_used_at`` forward (never back); False when the key is unknown or newer."""
        status = await self._conn.execute(
            """
            UPDATE api_keys SET last_used_at = $3
            WHERE id = $1 AND org_id = $2 AND (last_used_at IS NULL OR last_used_at < $3)
            """,
            key_id,
            org_id,
            used_at,
        )
        return bool(status == "UPDATE 1")
