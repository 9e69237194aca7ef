"""Use case: report the failed key exchanges of each finished minute (for the audit log)."""

from __future__ import annotations

from datetime import datetime

from fireline_auth.domain.exchange_failures import WINDOW, ExchangeFailureTally
from fireline_auth.service_layer.unit_of_work import UnitOfWork
from fireline_contracts import KeyExchangeFailed, KeyExchangeFailedPayload


async def report_failures(uow: UnitOfWork, tally: ExchangeFailureTally, now: datetime) -> int:
    """Publish one KeyExchangeFailed per key and finished minute; how many were published.

    Forgotten only after the transaction committed: a failed publish is retried next pass.
    """
    closed = tally.closed(now)
    if not closed:
        return 0
    async with uow:
        for window in closed:
            payload = KeyExchangeFailedPayload(
                key_id=window.key_id,
                window_start=window.start,
                window_s=int(WINDOW.total_seconds()),
                attempts=window.attempts,
                addresses=tuple(window.addresses),
            )
            await uow.publish(
                KeyExchangeFailed(org_id=window.org_id, occurred_at=window.start, payload=payload)
            )
    tally.forget(closed)
    return len(closed)
