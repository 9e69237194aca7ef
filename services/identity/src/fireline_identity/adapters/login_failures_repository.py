"""SQL for failed-login records (shared by replicas, so the limits hold across them)."""

from __future__ import annotations

from datetime import datetime

from fireline_runtime.unit_of_work import PgRepository

# Transaction-scoped advisory locks make "count, then record an attempt" atomic per account and
# per address, so parallel guesses cannot all slip under the limit.
_ACCOUNT_NS = "login-account\n"
_ADDRESS_NS = "login-address\n"


class PgLoginFailureRepository(PgRepository):
    """Failed logins and the addresses each account logged in from."""

    async def lock(self, *, account: str, address: str) -> None:
        # Always account first, then address: one order for every transaction, so no deadlock.
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", _ACCOUNT_NS + account
        )
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", _ADDRESS_NS + address
        )

    async def recent_for_account(self, account: str, since: datetime) -> list[datetime]:
        rows = await self._conn.fetch(
            "SELECT failed_at FROM login_failures WHERE account = $1 AND failed_at > $2",
            account,
            since,
        )
        return [r["failed_at"] for r in rows]

    async def recent_for_pair(self, account: str, address: str, since: datetime) -> list[datetime]:
        rows = await self._conn.fetch(
            "SELECT failed_at FROM login_failures"
            " WHERE account = $1 AND address = $2 AND failed_at > $3",
            account,
            address,
            since,
        )
        return [r["failed_at"] for r in rows]

    async def recent_for_address(self, address: str, since: datetime) -> list[datetime]:
        rows = await self._conn.fetch(
            "SELECT failed_at FROM login_failures WHERE address = $1 AND failed_at > $2",
            address,
            since,
        )
        return [r["failed_at"] for r in rows]

    async def insert(self, *, account: str, address: str, at: datetime) -> int:
        """Record an attempt as failed (provisionally, until its password check says otherwise)."""
        row_id = await self._conn.fetchval(
            "INSERT INTO login_failures (account, address, failed_at) VALUES ($1, $2, $3)"
            " RETURNING id",
            account,
            address,
            at,
        )
        return int(row_id)

    async def succeeded(self, *, account: str, address: str, attempt_id: int, at: datetime) -> None:
        """A successful login: forget this attempt and the pair's earlier failures (the account's
        other failures still count towards its slow-down) and remember the address."""
        await self._conn.execute(
            "DELETE FROM login_failures WHERE id = $1 OR (account = $2 AND address = $3)",
            attempt_id,
            account,
            address,
        )
        await self._conn.execute(
            """
            INSERT INTO login_known_addresses (account, address, last_success_at)
            VALUES ($1, $2, $3)
            ON CONFLICT (account, address) DO UPDATE SET last_success_at = EXCLUDED.last_success_at
            """,
            account,
            address,
            at,
        )

    async def is_known_address(self, *, account: str, address: str, since: datetime) -> bool:
        found = await self._conn.fetchval(
            "SELECT 1 FROM login_known_addresses"
            " WHERE account = $1 AND address = $2 AND last_success_at > $3",
            account,
            address,
            since,
        )
        return found is not None

    async def prune(self, *, before: datetime, known_before: datetime) -> int:
        status = await self._conn.execute("DELETE FROM login_failures WHERE failed_at < $1", before)
        known = await self._conn.execute(
            "DELETE FROM login_known_addresses WHERE last_success_at < $1", known_before
        )
        return int(status.split()[-1]) + int(known.split()[-1])
