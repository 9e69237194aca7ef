"""The ``signing_keys`` table: SQL for creating, listing and deleting signing keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fireline_auth.domain.signing import SigningKeyInfo, StoredSigningKey
from fireline_runtime.db import Connection

# One advisory lock id for "changing the signing keys": two replicas starting (or rotating) at once
# must not both create a key.
_LOCK_KEY = 0x41555448  # "AUTH"

_INSERT = """
        INSERT INTO signing_keys
            (kid, algorithm, public_key, private_key_encrypted, created_at, activates_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        """


class PgSigningKeys:
    """The ``signing_keys`` table on one connection (see :class:`SigningKeyRepository`)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

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

    async def insert(
        self,
        *,
        kid: str,
        algorithm: str,
        public_key: bytes,
        private_key_encrypted: bytes,
        created_at: datetime,
        activates_at: datetime,
    ) -> None:
        await self._conn.execute(
            _INSERT,
            kid,
            algorithm,
            public_key,
            private_key_encrypted,
            created_at,
            activates_at,
        )

    async def delete(self, kids: Sequence[str]) -> None:
        if kids:
            await self._conn.execute(
                "DELETE FROM signing_keys WHERE kid = ANY($1::text[])", list(kids)
            )
