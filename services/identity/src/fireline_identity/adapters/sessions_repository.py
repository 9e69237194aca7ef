"""SQL for sessions (looked up by the SHA-256 of the cookie's token)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fireline_identity.domain.sessions import (
    NewSession,
    RevokedSession,
    SessionUser,
    StoredSession,
)
from fireline_identity.domain.users import Role
from fireline_runtime.unit_of_work import PgRepository


class PgSessionRepository(PgRepository):
    """Sessions, in table ``sessions``."""

    async def insert(self, session: NewSession) -> None:
        await self._conn.execute(
            """
            INSERT INTO sessions (id, token_digest, user_id, org_id, created_at, last_seen_at,
                                  expires_at)
            VALUES ($1, $2, $3, $4, $5, $5, $6)
            """,
            session.id,
            session.token_digest,
            session.user_id,
            session.org_id,
            session.started_at,
            session.expires_at,
        )

    async def find(self, token_digest: str) -> StoredSession | None:
        row = await self._conn.fetchrow(
            """
            SELECT s.id, s.user_id, s.org_id, o.name AS org_name, u.email, u.name, u.role,
                   u.active AS user_active, s.last_seen_at, s.expires_at, s.revoked_at
            FROM sessions s
            JOIN users u ON u.id = s.user_id
            JOIN orgs o ON o.id = s.org_id
            WHERE s.token_digest = $1
            """,
            token_digest,
        )
        if row is None:
            return None
        caller = SessionUser(
            session_id=row["id"],
            user_id=row["user_id"],
            org_id=row["org_id"],
            org_name=row["org_name"],
            email=row["email"],
            name=row["name"],
            role=Role(row["role"]),
        )
        return StoredSession(
            caller=caller,
            user_active=row["user_active"],
            last_seen_at=row["last_seen_at"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
        )

    async def touch(self, session_id: UUID, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2",
            session_id,
            now,
        )

    async def revoke(self, token_digest: str, now: datetime) -> RevokedSession | None:
        row = await self._conn.fetchrow(
            """
            UPDATE sessions SET revoked_at = $2 WHERE token_digest = $1 AND revoked_at IS NULL
            RETURNING id, user_id, org_id
            """,
            token_digest,
            now,
        )
        return RevokedSession(**dict(row)) if row is not None else None

    async def revoke_all_for_user(self, user_id: UUID, now: datetime) -> list[RevokedSession]:
        rows = await self._conn.fetch(
            """
            UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL
            RETURNING id, user_id, org_id
            """,
            user_id,
            now,
        )
        return [RevokedSession(**dict(row)) for row in rows]

    async def prune(self, *, ended_before: datetime, idle_since: datetime) -> int:
        """Delete sessions that ended before ``ended_before`` or were idle since ``idle_since``."""
        status = await self._conn.execute(
            """
            DELETE FROM sessions
            WHERE expires_at < $1 OR revoked_at < $1 OR last_seen_at < $2
            """,
            ended_before,
            idle_since,
        )
        return int(status.split()[-1])
