"""The keys topic as identity's watermarks see it: through the service's outbox relay."""

from __future__ import annotations

from fireline_contracts import KEYS
from fireline_runtime.outbox import key_for_partition
from fireline_runtime.service import ServiceRuntime


class RelayedKeysTopic:
    """Partitions from the relay's producer; only the replica whose relay publishes writes
    watermarks (the others' would be duplicates)."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self._runtime = runtime

    async def partitions(self) -> int | None:
        relay = self._runtime.relay
        if relay is None or not relay.active:
            return None
        return await self._runtime.partition_count(KEYS)

    def route(self, partition: int, partitions: int) -> str:
        return key_for_partition(partition, partitions, "keys-watermark")
