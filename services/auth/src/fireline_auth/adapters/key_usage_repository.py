"""The ``key_usage_marks`` table: when a key's use was last announced."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fireline_runtime.unit_of_work import PgRepository


class PgKeyUsageRepository(PgRepository):
    """The ``key_usage_marks`` table on one connection (see :class:`KeyUsageMarks`)."""

    async def claim_emission(
        self, *, key_id: UUID, now: datetime, interval_s: float, previous_secret: bool = False
    ) -> bool:
        """Record ``now`` as the key's last announcement unless one is younger than ``interval_s``.

        True means the caller should emit KeyUsed (in this same transaction). Concurrent exchanges
        of one key serialise on the row, so only one of them wins per interval, across replicas.
        """
        row = await self._conn.fetchrow(
            """
            INSERT INTO key_usage_marks (key_id, last_emitted_at, previous_secret)
            VALUES ($1, $2, $4)
            ON CONFLICT (key_id, previous_secret)
            DO UPDATE SET last_emitted_at = EXCLUDED.last_emitted_at
            WHERE key_usage_marks.last_emitted_at
                  <= EXCLUDED.last_emitted_at - make_interval(secs => $3)
            RETURNING key_id
            """,
            key_id,
            now,
            interval_s,
            previous_secret,
        )
        return row is not None
