"""SQL for orgs."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from fireline_identity.domain.errors import OrgNameTaken
from fireline_runtime.unit_of_work import PgRepository

# Serialises the "create the default org when none exists" check across replicas.
_BOOTSTRAP_LOCK = 0x49444254  # "IDBT"


class PgOrgRepository(PgRepository):
    """Orgs, in table ``orgs``."""

    async def insert(self, *, org_id: UUID, name: str) -> None:
        try:
            async with (
                self._conn.transaction()
            ):  # a savepoint, so the caller's transaction survives
                await self._conn.execute(
                    "INSERT INTO orgs (id, name) VALUES ($1, $2)", org_id, name
                )
        except asyncpg.UniqueViolationError:
            raise OrgNameTaken(f"an org named {name!r} already exists") from None

    async def any_exists(self) -> bool:
        return bool(await self._conn.fetchval("SELECT EXISTS (SELECT 1 FROM orgs)"))

    async def lock_bootstrap(self) -> None:
        """Held until the caller's transaction ends."""
        await self._conn.execute("SELECT pg_advisory_xact_lock($1)", _BOOTSTRAP_LOCK)

    async def lock(self, org_id: UUID) -> bool:
        """Lock the org row until the transaction ends; False when there is no such org.

        ``FOR NO KEY UPDATE`` serialises writers of one org's keys and admins exactly like ``FOR
        UPDATE`` would, without blocking unrelated inserts that merely reference the org.
        """
        found = await self._conn.fetchval(
            "SELECT 1 FROM orgs WHERE id = $1 FOR NO KEY UPDATE", org_id
        )
        return found is not None

    async def name_of(self, org_id: UUID) -> str | None:
        name = await self._conn.fetchval("SELECT name FROM orgs WHERE id = $1", org_id)
        return str(name) if name is not None else None
