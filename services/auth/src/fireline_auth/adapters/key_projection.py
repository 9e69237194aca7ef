"""The ``api_keys`` projection: SQL that applies identity's key events and reads keys back.

Every write is an upsert so any event of a key may be the first to arrive, and each column only
moves forward: ``revoked_at`` is set once and never cleared, a creation never un-revokes, and a
rename only replaces a name set by an older event.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fireline_auth.domain.keys import ApiKey
from fireline_runtime.db import Connection, Record

_SELECT_BY_ID = """
    SELECT key_id, org_id, name, digest, scopes, expires_at, revoked_at
    FROM api_keys WHERE key_id = $1
"""
_SELECT_BY_DIGEST = """
    SELECT key_id, org_id, name, digest, scopes, expires_at, revoked_at
    FROM api_keys WHERE digest = $1 LIMIT 1
"""


def _key(row: Record | None) -> ApiKey | None:
    if row is None:
        return None
    return ApiKey(
        key_id=row["key_id"],
        org_id=row["org_id"],
        name=row["name"],
        digest=row["digest"],
        scopes=tuple(row["scopes"]),
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


async def apply_created(
    conn: Connection,
    *,
    key_id: UUID,
    org_id: UUID,
    name: str,
    digest: str,
    scopes: tuple[str, ...],
    expires_at: datetime | None,
    created_at: datetime,
    event_at: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO api_keys (key_id, org_id, name, name_event_at, digest, scopes, expires_at,
                              created_at, last_event_at)
        VALUES ($1, $2, $3, $8, $4, $5, $6, $7, $8)
        ON CONFLICT (key_id) DO UPDATE SET
            digest = EXCLUDED.digest,
            scopes = EXCLUDED.scopes,
            expires_at = EXCLUDED.expires_at,
            created_at = EXCLUDED.created_at,
            name = CASE WHEN api_keys.name_event_at IS NULL
                          OR api_keys.name_event_at < EXCLUDED.name_event_at
                        THEN EXCLUDED.name ELSE api_keys.name END,
            name_event_at = GREATEST(api_keys.name_event_at, EXCLUDED.name_event_at),
            last_event_at = GREATEST(api_keys.last_event_at, EXCLUDED.last_event_at),
            updated_at = now()
        """,
        key_id,
        org_id,
        name,
        digest,
        list(scopes),
        expires_at,
        created_at,
        event_at,
    )


async def apply_renamed(
    conn: Connection, *, key_id: UUID, org_id: UUID, name: str, event_at: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO api_keys (key_id, org_id, name, name_event_at, last_event_at)
        VALUES ($1, $2, $3, $4, $4)
        ON CONFLICT (key_id) DO UPDATE SET
            name = CASE WHEN api_keys.name_event_at IS NULL
                          OR api_keys.name_event_at < EXCLUDED.name_event_at
                        THEN EXCLUDED.name ELSE api_keys.name END,
            name_event_at = GREATEST(api_keys.name_event_at, EXCLUDED.name_event_at),
            last_event_at = GREATEST(api_keys.last_event_at, EXCLUDED.last_event_at),
            updated_at = now()
        """,
        key_id,
        org_id,
        name,
        event_at,
    )


async def apply_revoked(
    conn: Connection, *, key_id: UUID, org_id: UUID, revoked_at: datetime, event_at: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO api_keys (key_id, org_id, revoked_at, last_event_at)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (key_id) DO UPDATE SET
            revoked_at = COALESCE(api_keys.revoked_at, EXCLUDED.revoked_at),
            last_event_at = GREATEST(api_keys.last_event_at, EXCLUDED.last_event_at),
            updated_at = now()
        """,
        key_id,
        org_id,
        revoked_at,
        event_at,
    )


async def get(conn: Connection, key_id: UUID) -> ApiKey | None:
    return _key(await conn.fetchrow(_SELECT_BY_ID, key_id))


async def find_by_digest(conn: Connection, digest: str) -> ApiKey | None:
    return _key(await conn.fetchrow(_SELECT_BY_DIGEST, digest))
