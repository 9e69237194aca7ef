"""The ``signing_keys`` table: SQL for creating, listing and deleting signing keys."""

from __future__ import annotations

from collections.abc import Sequence

from fireline_auth.domain.signing import SigningKeyInfo, StoredSigningKey
from fireline_runtime.unit_of_work import PgRepository

# One advisory lock id for "changing the signing keys": two replicas starting (or rotating) at once
# must not both create a key.
_LOCK_KEY = 0x41555448  # "AUTH"

_INSERT = """
        INSERT INTO signing_keys
            (kid, algorithm, public_key, private_key_encrypted, created_at, activates_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        """


class PgSigningKeyRepository(PgRepository):
    """The ``signing_keys`` table on one connection (see :class:`SigningKeyRepository`)."""

    async def lock(self) -> None:
        """Serialise signing-key changes until the caller's transaction ends."""
        await self._conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)

    async def list_all(self) -> list[StoredSigningKey]:
        rows = await self._conn.fetch(
            """
            SELECT kid, algorithm, public_key, private_key_encrypted, created_at, activates_at
            FROM signing_keys ORDER BY activates_at, created_at
            """
        )
        return [
            StoredSigningKey(
                info=SigningKeyInfo(
                    kid=row["kid"],
                    public_key=bytes(row["public_key"]),
                    created_at=row["created_at"],
                    activates_at=row["activates_at"],
                    algorithm=row["algorithm"],
                ),
                private_key_encrypted=bytes(row["private_key_encrypted"]),
            )
            for row in rows
        ]

    async def insert(self, key: StoredSigningKey) -> None:
        info = key.info
        await self._conn.execute(
            _INSERT,
            info.kid,
            info.algorithm,
            info.public_key,
            key.private_key_encrypted,
            info.created_at,
            info.activates_at,
        )

    async def delete(self, kids: Sequence[str]) -> None:
        if kids:
            await self._conn.execute(
                "DELETE FROM signing_keys WHERE kid = ANY($1::text[])", list(kids)
            )
