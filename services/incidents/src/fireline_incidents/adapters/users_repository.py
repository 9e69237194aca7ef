"""The ``users`` projection: the orgs' users as identity announced them, for creator matching."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from fireline_incidents.domain.model import (
    DirectoryUser,
)
from fireline_runtime.unit_of_work import PgRepository


class PgUserRepository(PgRepository):
    async def record(self, user: DirectoryUser, *, version_at: datetime) -> bool:
        # The WHERE of the upsert is the order guard: a state older than the stored one loses.
        status = await self._conn.execute(
            """
            INSERT INTO users (user_id, org_id, email, active, version_at)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (user_id) DO UPDATE
            SET org_id = excluded.org_id, email = excluded.email, active = excluded.active,
                version_at = excluded.version_at, updated_at = now()
            WHERE users.version_at <= excluded.version_at
            """,
            user.user_id,
            user.org_id,
            user.email,
            user.active,
            version_at,
        )
        return bool(status == "INSERT 0 1")

    async def find_active(self, org_id: UUID, emails: Sequence[str]) -> list[DirectoryUser]:
        rows = await self._conn.fetch(
            """
            SELECT user_id, org_id, email, active FROM users
            WHERE org_id = $1 AND active AND email = ANY($2::text[])
            ORDER BY version_at DESC, user_id
            """,
            org_id,
            list(emails),
        )
        return [DirectoryUser(**dict(row)) for row in rows]

    async def find_many(
        self, org_ids: Sequence[UUID], emails: Sequence[str]
    ) -> list[tuple[datetime, DirectoryUser]]:
        """Active users matching any (org, email) pair, with the time of their version."""
        rows = await self._conn.fetch(
            """
            SELECT user_id, org_id, email, active, version_at FROM users
            WHERE active AND (org_id, email) IN (
                SELECT * FROM unnest($1::uuid[], $2::text[]))
            """,
            list(org_ids),
            list(emails),
        )
        return [
            (
                row["version_at"],
                DirectoryUser(
                    user_id=row["user_id"],
                    org_id=row["org_id"],
                    email=row["email"],
                    active=row["active"],
                ),
            )
            for row in rows
        ]

    async def get_active(self, org_id: UUID, user_id: UUID) -> DirectoryUser | None:
        row = await self._conn.fetchrow(
            """
            SELECT user_id, org_id, email, active FROM users
            WHERE org_id = $1 AND user_id = $2 AND active
            """,
            org_id,
            user_id,
        )
        return DirectoryUser(**dict(row)) if row is not None else None
