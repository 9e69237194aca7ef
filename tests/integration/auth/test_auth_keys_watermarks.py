"""Identity's watermarks reach auth's view of the keys topic without growing the inbox.

A watermark arrives once a second per partition; stored with an inbox claim each, the five
consumers of the keys topic in a stack kept about 1.3 million inbox rows a day for nothing, since
storing the newest ``as_of`` is already safe to repeat. A revocation is still claimed once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fireline_contracts import KeysWatermark, KeysWatermarkPayload
from integration.auth.auth_harness import AuthHarness

CONSUMER = "auth.key-projection"


def watermark(route: str, as_of: datetime, partition: int) -> KeysWatermark:
    return KeysWatermark(
        org_id=uuid.UUID(int=0),
        payload=KeysWatermarkPayload(partition=partition, partitions=1, as_of=as_of, route=route),
    )


async def test_watermarks_are_stored_newest_first_without_inbox_rows_and_revocations_claimed_once(
    auth: AuthHarness,
) -> None:
    key = await auth.create_key()
    # Routed like the key's events, so they share its partition and come before its revocation,
    # the positive signal that every one of them was consumed. A partition number of its own
    # keeps this test's row apart from other tests' watermarks.
    partition = 1000 + uuid.uuid4().int % 1000
    now = datetime.now(UTC).replace(microsecond=0)
    older, newer = (
        watermark(str(key.key_id), now - timedelta(seconds=5), partition),
        watermark(str(key.key_id), now, partition),
    )
    revocation = auth.key_revoked(key)
    # The older one twice (a redelivery), then the newer, then the older again (a replay).
    await auth.publish(older, older, newer, older, revocation)
    await auth.wait_row(key.key_id, revoked_at=...)

    async with auth.runtime.pool.acquire() as conn:
        as_of = await conn.fetchval(
            "SELECT as_of FROM key_watermarks WHERE partition = $1", partition
        )
        claims = await conn.fetch(
            "SELECT event_id FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
            CONSUMER,
            [older.event_id, newer.event_id, revocation.event_id],
        )
    assert as_of == now
    assert [row["event_id"] for row in claims] == [revocation.event_id]
