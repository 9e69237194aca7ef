"""SQL for users."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from fireline_identity.domain.errors import EmailTaken
from fireline_identity.domain.users import Role, User
from fireline_runtime.unit_of_work import PgRepository

_COLUMNS = "id, org_id, email, name, role, active"


def _user(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        org_id=row["org_id"],
        email=row["email"],
        name=row["name"],
        role=Role(row["role"]),
        active=row["active"],
    )


class PgUserRepository(PgRepository):
    """Users with their password hashes, in table ``users``."""

    async def insert(self, user: User, *, password_hash: str) -> None:
        try:
            async with self._conn.transaction():
                await self._conn.execute(
                    """
                    INSERT INTO users (id, org_id, email, name, role, password_hash, active)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    """,
                    user.id,
                    user.org_id,
                    user.email,
                    user.name,
                    user.role.value,
                    password_hash,
                    user.active,
                )
        except asyncpg.UniqueViolationError:
            raise EmailTaken("another user of this org has that email") from None

    async def update(self, user: User) -> None:
        try:
            async with self._conn.transaction():
                await self._conn.execute(
                    """
                    UPDATE users
                    SET email = $3, name = $4, role = $5, active = $6, updated_at = now()
                    WHERE id = $1 AND org_id = $2
                    """,
                    user.id,
                    user.org_id,
                    user.email,
                    user.name,
                    user.role.value,
                    user.active,
                )
        except asyncpg.UniqueViolationError:
            raise EmailTaken("another user of this org has that email") from None

    async def set_password_hash(self, user_id: UUID, password_hash: str) -> None:
        await self._conn.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash
        )

    async def get(self, *, org_id: UUID, user_id: UUID, for_update: bool = False) -> User | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM users WHERE id = $1 AND org_id = $2{lock}",  # noqa: S608
            user_id,
            org_id,
        )
        return _user(row) if row else None

    async def list_for_org(self, org_id: UUID) -> list[User]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM users WHERE org_id = $1 ORDER BY created_at, id",  # noqa: S608
            org_id,
        )
        return [_user(r) for r in rows]

    async def count_active_admins(self, org_id: UUID) -> int:
        n = await self._conn.fetchval(
            "SELECT count(*) FROM users WHERE org_id = $1 AND role = 'admin' AND active",
            org_id,
        )
        return int(n)

    async def login_candidates(self, email_key: str) -> list[tuple[User, str]]:
        """Active users with this email in any org, oldest org first, with their password hashes."""
        rows = await self._conn.fetch(
            """
            SELECT u.id, u.org_id, u.email, u.name, u.role, u.active, u.password_hash
            FROM users u JOIN orgs o ON o.id = u.org_id
            WHERE lower(u.email) = $1 AND u.active
            ORDER BY o.created_at, o.id
            """,
            email_key,
        )
        return [(_user(r), r["password_hash"]) for r in rows]
