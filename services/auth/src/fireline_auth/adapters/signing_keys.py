"""The ``signing_keys`` table: SQL for creating, listing and deleting signing keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fireline_auth.domain.signing import SigningKeyInfo
from fireline_runtime.db import Connection

# One advisory lock id for "changing the signing keys": two replicas starting (or rotating) at once
# must not both create a key.
_LOCK_KEY = 0x41555448  # "AUTH"


@dataclass(frozen=True)
class StoredSigningKey:
    info: SigningKeyInfo
    private_key_encrypted: bytes

    def __repr__(self) -> str:
        return f"StoredSigningKey(kid={self.info.kid!r})"


async def lock(conn: Connection) -> None:
    """Serialise signing-key changes until the caller's transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)


async def list_all(conn: Connection) -> list[StoredSigningKey]:
    rows = await conn.fetch(
        """
        SELECT kid, public_key, private_key_encrypted, created_at, activates_at
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
            ),
            private_key_encrypted=bytes(row["private_key_encrypted"]),
        )
        for row in rows
    ]


async def insert(
    conn: Connection,
    *,
    kid: str,
    public_key: bytes,
    private_key_encrypted: bytes,
    created_at: datetime,
    activates_at: datetime,
) -> None:
    await conn.execute(
        """
        INSERT INTO signing_keys (kid, public_key, private_key_encrypted, created_at, activates_at)
        VALUES ($1, $2, $3, $4, $5)
        """,
        kid,
        public_key,
        private_key_encrypted,
        created_at,
        activates_at,
    )


async def delete(conn: Connection, kids: Sequence[str]) -> None:
    if kids:
        await conn.execute("DELETE FROM signing_keys WHERE kid = ANY($1::text[])", list(kids))
