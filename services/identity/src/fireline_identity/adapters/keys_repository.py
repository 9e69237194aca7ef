"""SQL for API keys. Reads never select the digests, so nothing above this module can leak them;
only ``rename`` and ``rotate`` hand them back, for the events that must carry the key's whole
state."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from fireline_identity.domain.keys import ApiKey, NewSecret, Revocation, RevocationReason, Secrets
from fireline_runtime.unit_of_work import PgRepository

_COLUMNS = (
    "id, org_id, name, hint, scopes, created_at, created_by, expires_at, revoked_at, last_used_at,"
    " revoked_reason, revoked_report_url, rotated_at, previous_valid_until, previous_used_at"
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
        revoked_reason=_reason(row["revoked_reason"], row["revoked_at"]),
        revoked_report_url=row["revoked_report_url"],
        rotated_at=row["rotated_at"],
        previous_valid_until=row["previous_valid_until"],
        previous_used_at=row["previous_used_at"],
    )


def _reason(stored: str | None, revoked_at: datetime | None) -> RevocationReason | None:
    # Keys revoked before the column existed were all revoked by an admin.
    if revoked_at is None:
        return None
    return RevocationReason(stored) if stored else RevocationReason.REVOKED


def _secrets(row: asyncpg.Record | None, key_id: UUID) -> Secrets:
    if row is None:
        # The caller locked the row first, so a missing row is a bug, not a race.
        raise LookupError(f"api key {key_id} vanished while locked")
    return Secrets(row["digest"], row["previous_digest"], row["previous_valid_until"])


class PgKeyRepository(PgRepository):
    """API keys, in table ``api_keys``."""

    async def drop_unsent_watermarks(self) -> None:
        # A relay pass sending one of them meanwhile only marks nothing; an older watermark
        # published anyway is ignored by consumers that have a newer one.
        await self._conn.execute(
            "DELETE FROM outbox WHERE published_at IS NULL AND event_type = 'KeysWatermark'"
        )

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

    async def rename(self, key_id: UUID, name: str) -> Secrets:
        """Rename the key; returns its digests, for the KeyRenamed that carries the whole key."""
        row = await self._conn.fetchrow(
            """
            UPDATE api_keys SET name = $2 WHERE id = $1
            RETURNING digest, previous_digest, previous_valid_until
            """,
            key_id,
            name,
        )
        return _secrets(row, key_id)

    async def rotate(self, key_id: UUID, new: NewSecret) -> Secrets:
        """Replace the secret; the old digest is kept only with a grace end (else forgotten)."""
        # SET expressions read the row as it was, so previous_digest gets the replaced digest.
        row = await self._conn.fetchrow(
            """
            UPDATE api_keys SET
                previous_digest = CASE WHEN $6::timestamptz IS NULL THEN NULL ELSE digest END,
                previous_valid_until = $6,
                previous_used_at = NULL,
                digest = $2, hint = $3, rotated_at = $4, rotated_by = $5
            WHERE id = $1
            RETURNING digest, previous_digest, previous_valid_until
            """,
            key_id,
            new.digest,
            new.hint,
            new.at,
            new.by,
            new.previous_valid_until,
        )
        return _secrets(row, key_id)

    async def revoke(self, key_id: UUID, revocation: Revocation) -> None:
        await self._conn.execute(
            """
            UPDATE api_keys SET revoked_at = $2, revoked_by = $3, revoked_reason = $4,
                                revoked_report_url = $5
            WHERE id = $1
            """,
            key_id,
            revocation.at,
            revocation.by,
            revocation.reason.value,
            revocation.report_url,
        )

    async def find_by_secret(self, digest: str) -> tuple[ApiKey, bool] | None:
        """The key (of any org) whose current or replaced secret has ``digest``, locked, and
        whether it was the current one; the replaced one may be past its grace period."""
        # Locked so a rotation or revocation of the key waits: "is it live" stays true until the
        # caller's revocation commits.
        row = await self._conn.fetchrow(
            f"""
            SELECT {_COLUMNS}, digest = $1 AS is_current FROM api_keys
            WHERE digest = $1 OR previous_digest = $1
            LIMIT 1 FOR UPDATE
            """,  # noqa: S608
            digest,
        )
        return (_key(row), bool(row["is_current"])) if row else None

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

    async def record_previous_secret_use(
        self, *, org_id: UUID, key_id: UUID, used_at: datetime
    ) -> bool:
        """Move ``previous_used_at`` forward, counting only uses after the latest rotation."""
        status = await self._conn.execute(
            """
            UPDATE api_keys SET previous_used_at = $3
            WHERE id = $1 AND org_id = $2 AND rotated_at <= $3
              AND (previous_used_at IS NULL OR previous_used_at < $3)
            """,
            key_id,
            org_id,
            used_at,
        )
        return bool(status == "UPDATE 1")
