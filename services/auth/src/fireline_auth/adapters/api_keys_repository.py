"""The ``api_keys`` projection: SQL that applies identity's key events and reads keys back.

Every write is an upsert so any event of a key may be the first to arrive, and each column only
moves forward: ``revoked_at`` is set once and never cleared, a creation never un-revokes, and a
rename only replaces a name set by an older event. A rename that carries the key's state fills a
row still missing its digest, so a key whose KeyCreated was compacted away still authenticates.
The secrets (digest, replaced digest and its grace end) come from the newest event carrying them
(``secret_event_at``): a rotation replaces them, a late KeyCreated cannot bring an old one back.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fireline_auth.domain.keys import ApiKey, KeyChange
from fireline_runtime.db import Record
from fireline_runtime.notify_cache import notify
from fireline_runtime.unit_of_work import PgRepository

KEYS_CHANNEL = "fireline_auth_api_keys"
"""Every write below notifies this channel with the key id, so replicas drop their cached copy."""

_COLUMNS = (
    "key_id, org_id, name, digest, scopes, expires_at, revoked_at, previous_digest,"
    " previous_valid_until"
)
_SELECT_BY_ID = f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = $1"  # noqa: S608
# The current secret first: the replaced one of another key matching too is not a real case, but
# the order keeps the answer deterministic.
_SELECT_BY_DIGEST = f"""
    SELECT {_COLUMNS} FROM api_keys WHERE digest = $1 OR previous_digest = $1
    ORDER BY digest = $1 DESC LIMIT 1
"""  # noqa: S608


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
        previous_digest=row["previous_digest"],
        previous_valid_until=row["previous_valid_until"],
    )


class PgApiKeyRepository(PgRepository):
    """The ``api_keys`` table on one connection (see :class:`ApiKeyProjection`)."""

    async def apply_renamed(self, change: KeyChange) -> None:
        """Apply a name; with a state, also fill in a key whose KeyCreated was never seen and take
        its secrets if they are newer than the ones the row has (a rotation's)."""
        state = change.state
        # Scopes, expiry and creation never change, so the state only fills a row without them.
        # The secrets do change (rotation): the newest event carrying them wins. Without a state
        # every state column is left as it was, and a new row cannot authenticate (no digest).
        await self._conn.execute(
            """
            INSERT INTO api_keys (key_id, org_id, name, name_event_at, digest, scopes, expires_at,
                                  created_at, last_event_at, previous_digest,
                                  previous_valid_until, secret_event_at)
            VALUES ($1, $2, $3, $4, $5, COALESCE($6::text[], '{}'), $7, $8, $4, $9, $10,
                    CASE WHEN $5::text IS NULL THEN NULL ELSE $4::timestamptz END)
            ON CONFLICT (key_id) DO UPDATE SET
                (digest, previous_digest, previous_valid_until, secret_event_at) = (
                    SELECT CASE WHEN newer THEN EXCLUDED.digest ELSE api_keys.digest END,
                           CASE WHEN newer THEN EXCLUDED.previous_digest
                                ELSE api_keys.previous_digest END,
                           CASE WHEN newer THEN EXCLUDED.previous_valid_until
                                ELSE api_keys.previous_valid_until END,
                           CASE WHEN newer THEN EXCLUDED.secret_event_at
                                ELSE api_keys.secret_event_at END
                    FROM (SELECT EXCLUDED.digest IS NOT NULL AND (
                              api_keys.digest IS NULL OR api_keys.secret_event_at IS NULL
                              OR api_keys.secret_event_at < EXCLUDED.secret_event_at) AS newer) n
                ),
                scopes = CASE WHEN api_keys.digest IS NULL AND EXCLUDED.digest IS NOT NULL
                              THEN EXCLUDED.scopes ELSE api_keys.scopes END,
                expires_at = CASE WHEN api_keys.digest IS NULL AND EXCLUDED.digest IS NOT NULL
                                  THEN EXCLUDED.expires_at ELSE api_keys.expires_at END,
                created_at = CASE WHEN api_keys.digest IS NULL AND EXCLUDED.digest IS NOT NULL
                                  THEN EXCLUDED.created_at ELSE api_keys.created_at END,
                name = CASE WHEN api_keys.name_event_at IS NULL
                              OR api_keys.name_event_at < EXCLUDED.name_event_at
                            THEN EXCLUDED.name ELSE api_keys.name END,
                name_event_at = GREATEST(api_keys.name_event_at, EXCLUDED.name_event_at),
                last_event_at = GREATEST(api_keys.last_event_at, EXCLUDED.last_event_at),
                updated_at = now()
            """,
            change.key_id,
            change.org_id,
            change.name,
            change.event_at,
            state.digest if state else None,
            list(state.scopes) if state else None,
            state.expires_at if state else None,
            state.created_at if state else None,
            state.previous_digest if state else None,
            state.previous_valid_until if state else None,
        )
        await notify(self._conn, KEYS_CHANNEL, change.key_id)

    async def apply_revoked(
        self, *, key_id: UUID, org_id: UUID, revoked_at: datetime, event_at: datetime
    ) -> None:
        await self._conn.execute(
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
        await notify(self._conn, KEYS_CHANNEL, key_id)

    async def get(self, key_id: UUID) -> ApiKey | None:
        return _key(await self._conn.fetchrow(_SELECT_BY_ID, key_id))

    async def find_by_digest(self, digest: str) -> ApiKey | None:
        return _key(await self._conn.fetchrow(_SELECT_BY_DIGEST, digest))
