"""Use case: the keys topic's watermarks, which bound how stale a service's view of revocations
can be without its noticing (``fireline_contracts.KeysWatermark``, the runtime's ``keys_view``).

``as_of`` is read before the transaction that writes the watermarks begins. A revocation
acknowledged before then had committed, so its outbox row has a smaller id than the watermarks'
and is visible to every relay pass that sees them; the relay sends a partition's rows in id order
and stops the partition at a failure, so the watermark never reaches a partition ahead of it.
Dropping unsent watermarks changes nothing of that: only key events prove anything, and they are
never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from fireline_contracts import KeysWatermark, KeysWatermarkPayload
from fireline_identity.service_layer.ports import KeysTopic
from fireline_identity.service_layer.unit_of_work import UnitOfWork

NO_ORG = UUID(int=0)


async def write_watermarks(
    uow: UnitOfWork, topic: KeysTopic, clock: Callable[[], datetime]
) -> None:
    """One watermark per partition of the keys topic, replacing any still unsent."""
    partitions = await topic.partitions()
    if partitions is None:
        return
    as_of = clock()  # before the transaction: see the module's docstring
    async with uow:
        await uow.keys.drop_unsent_watermarks()
        for partition in range(partitions):
            payload = KeysWatermarkPayload(
                partition=partition,
                partitions=partitions,
                as_of=as_of,
                route=topic.route(partition, partitions),
            )
            await uow.publish(KeysWatermark(org_id=NO_ORG, payload=payload))
