"""The deny list's tables in every service that checks tokens, and how current they are.

``revoked_keys`` and ``revoked_sessions`` hold ids whose tokens are refused; ``key_rotations``
the latest rotation of each key. Every write also sends a NOTIFY in the same transaction, so each
replica's listener (``token_guard``) learns it at commit and never for a rolled-back write.
``key_watermarks`` holds identity's latest watermark per keys partition (``keys_view``), which
every replica polls instead.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fireline_runtime.revocation import Rotation
from fireline_runtime.unit_of_work import PgRepository

REVOKED_CHANNEL = "fireline_revoked_keys"
ROTATED_CHANNEL = "fireline_key_rotations"


_INSERT_KEY = """
    INSERT INTO revoked_keys (key_id, org_id, revoked_at) VALUES ($1, $2, $3)
    ON CONFLICT (key_id) DO NOTHING
"""
_INSERT_SESSION = """
    INSERT INTO revoked_sessions (session_id, org_id, revoked_at) VALUES ($1, $2, $3)
    ON CONFLICT (session_id) DO NOTHING
"""


class PgRevocationsRepository(PgRepository):
    async def revoke_key(self, key_id: uuid.UUID, org_id: uuid.UUID, at: datetime) -> None:
        await self._deny(_INSERT_KEY, key_id, org_id, at)

    async def revoke_session(self, session_id: uuid.UUID, org_id: uuid.UUID, at: datetime) -> None:
        await self._deny(_INSERT_SESSION, session_id, org_id, at)

    async def _deny(self, insert: str, denied: uuid.UUID, org_id: uuid.UUID, at: datetime) -> None:
        await self._conn.execute(insert, denied, org_id, at)
        # Key and session ids are both random UUIDs, so one set and one channel serve both.
        await self._conn.execute("SELECT pg_notify($1, $2)", REVOKED_CHANNEL, str(denied))

    async def record_rotation(self, key_id: uuid.UUID, rotation: Rotation) -> None:
        """Store the key's latest rotation (an older one never overwrites it)."""
        await self._conn.execute(
            """
            INSERT INTO key_rotations (key_id, current_fingerprint, previous_fingerprint,
                                       valid_until, rotated_at)
            VALUES ($1, $2, $3, to_timestamp($4), to_timestamp($5))
            ON CONFLICT (key_id) DO UPDATE SET
                current_fingerprint = EXCLUDED.current_fingerprint,
                previous_fingerprint = EXCLUDED.previous_fingerprint,
                valid_until = EXCLUDED.valid_until,
                rotated_at = EXCLUDED.rotated_at
            WHERE key_rotations.rotated_at <= EXCLUDED.rotated_at
            """,
            key_id,
            rotation.current,
            rotation.previous,
            rotation.valid_until,
            rotation.rotated_at,
        )
        await self._conn.execute(
            "SELECT pg_notify($1, $2)", ROTATED_CHANNEL, rotation_notice(str(key_id), rotation)
        )

    async def denied_ids(self) -> list[str]:
        """Every revoked key's and ended session's id."""
        rows = await self._conn.fetch(
            "SELECT key_id AS id FROM revoked_keys"
            " UNION ALL SELECT session_id FROM revoked_sessions"
        )
        return [str(row["id"]) for row in rows]

    async def rotations(self) -> list[tuple[str, Rotation]]:
        """Each rotated key's id and latest rotation."""
        rows = await self._conn.fetch(
            "SELECT key_id, current_fingerprint, previous_fingerprint,"
            " extract(epoch FROM valid_until) AS valid_until,"
            " extract(epoch FROM rotated_at) AS rotated_at FROM key_rotations"
        )
        return [
            (
                str(row["key_id"]),
                Rotation(
                    current=row["current_fingerprint"],
                    previous=row["previous_fingerprint"],
                    valid_until=float(row["valid_until"]),
                    rotated_at=float(row["rotated_at"]),
                ),
            )
            for row in rows
        ]


class PgKeyWatermarksRepository(PgRepository):
    async def store(self, partition: int, partitions: int, as_of: datetime) -> None:
        """Keep ``as_of`` unless the partition already has a later one."""
        await self._conn.execute(
            """
            INSERT INTO key_watermarks (partition, partitions, as_of) VALUES ($1, $2, $3)
            ON CONFLICT (partition) DO UPDATE
                SET partitions = EXCLUDED.partitions, as_of = EXCLUDED.as_of
            WHERE key_watermarks.as_of < EXCLUDED.as_of
            """,
            partition,
            partitions,
            as_of,
        )

    async def latest(self) -> list[tuple[int, int, float]]:
        """(partition, partitions, as_of as Unix time) of every partition heard from."""
        rows = await self._conn.fetch(
            "SELECT partition, partitions, extract(epoch FROM as_of) AS as_of FROM key_watermarks"
        )
        return [(row["partition"], row["partitions"], float(row["as_of"])) for row in rows]


def rotation_notice(key_id: str, rotation: Rotation) -> str:
    """A rotation as a ``ROTATED_CHANNEL`` payload (well under NOTIFY's 8000 bytes)."""
    previous = rotation.previous or "-"
    return (
        f"{key_id} {rotation.current} {previous} {rotation.valid_until!r} {rotation.rotated_at!r}"
    )


def parse_rotation_notice(payload: str) -> tuple[str, Rotation]:
    key_id, current, previous, valid_until, rotated_at = payload.split(" ")
    rotation = Rotation(
        current=current,
        previous=None if previous == "-" else previous,
        valid_until=float(valid_until),
        rotated_at=float(rotated_at),
    )
    return key_id, rotation
