"""Sending due deliveries: claim, sign, POST, record, decide what follows.

Each endpoint gets its own slots: a pass claims only for endpoints with nothing in flight here,
and at most ``per_endpoint`` of each, and every delivery is sent in its own task. An endpoint
that takes its whole timeout to answer holds its own slots, never another endpoint's (or org's),
and the next pass does not wait for it. A claim leases the rows; a process that dies mid-send
leaves them to be claimed again when the lease ends, with the same webhook-id.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from fireline_contracts import WebhookEndpointDisabled, WebhookEndpointDisabledPayload
from fireline_notifications.domain import signing
from fireline_notifications.domain.delivery import (
    MAX_ERROR,
    MAX_STORED_BODY,
    Attempt,
    AttemptResult,
    Delivery,
    Outcome,
    judge,
    truncated,
    webhook_id,
)
from fireline_notifications.domain.endpoint import Endpoint
from fireline_notifications.service_layer.ports import Sender
from fireline_notifications.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchSettings:
    schedule: tuple[float, ...]
    disable_after: timedelta
    per_endpoint: int
    max_in_flight: int
    lease: timedelta


class Dispatcher:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory[UnitOfWork],
        sender: Sender,
        settings: DispatchSettings,
        on_outcome: Callable[[Outcome], None] = lambda _: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._uow = uow
        self._sender = sender
        self._settings = settings
        self._on_outcome = on_outcome
        self._now = now
        self._in_flight: Counter[uuid.UUID] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        """Set to start the next pass at once (new deliveries, or an endpoint's slot freed)."""

    @property
    def in_flight(self) -> int:
        return sum(self._in_flight.values())

    async def pass_once(self) -> bool:
        """Claim what is due and start sending it; True when the pass filled every free slot
        (more may be due)."""
        free = self._settings.max_in_flight - self.in_flight
        if free <= 0:
            return False
        now = self._now()
        busy = [endpoint for endpoint, n in self._in_flight.items() if n > 0]
        async with self._uow() as uow:
            claimed = await uow.deliveries.claim(
                per_endpoint=self._settings.per_endpoint,
                total=free,
                busy=busy,
                now=now,
                lease_until=now + self._settings.lease,
            )
        for delivery in claimed:
            self._in_flight[delivery.endpoint_id] += 1
            task = asyncio.create_task(self._deliver(delivery), name=f"delivery-{delivery.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(claimed) == free

    async def drain(self) -> None:
        """Wait for the sends in flight (tests; a shutdown cancels them instead)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            await self.deliver(delivery)
        except asyncio.CancelledError:
            raise
        except Exception:  # the lease brings it back; one failure must not end the others
            log.exception("delivery failed unexpectedly", extra={"delivery_id": str(delivery.id)})
        finally:
            self._in_flight[delivery.endpoint_id] -= 1
            if self._in_flight[delivery.endpoint_id] <= 0:
                del self._in_flight[delivery.endpoint_id]
            self.wake.set()

    async def deliver(self, delivery: Delivery) -> Outcome | None:
        """One attempt at ``delivery``, recorded; its outcome (None: the endpoint is gone or
        disabled, and the delivery waits)."""
        sent_at = self._now()
        async with self._uow().reading() as uow:
            endpoint = await uow.endpoints.get(None, delivery.endpoint_id)
            secrets_ = await uow.endpoints.signing_secrets(delivery.endpoint_id, sent_at)
        if endpoint is None or not endpoint.enabled:
            return None
        body = delivery.body.encode()
        headers = {"content-type": "application/json"}
        if endpoint.format == "standard":
            headers |= signing.headers(
                [s.secret for s in secrets_],
                webhook_id(delivery.id),
                int(sent_at.timestamp()),
                body,
            )
        result = await self._sender.post(endpoint.url, headers, body)
        return await self._record(delivery, result, sent_at)

    async def _record(self, delivery: Delivery, result: AttemptResult, at: datetime) -> Outcome:
        async with self._uow() as uow:
            endpoint = await uow.endpoints.get(None, delivery.endpoint_id, for_update=True)
            if endpoint is None:  # deleted while we sent: its log went with it
                return "failed"
            verdict = judge(
                result,
                schedule_step=delivery.schedule_step,
                failing_since=endpoint.failing_since,
                now=self._now(),
                schedule=self._settings.schedule,
                disable_after=self._settings.disable_after,
            )
            attempt = Attempt(
                id=uuid.uuid4(),
                delivery_id=delivery.id,
                endpoint_id=delivery.endpoint_id,
                event_type=delivery.event_type,
                attempted_at=at,
                status_code=result.status_code,
                latency_ms=result.latency_ms,
                error=truncated(result.error, MAX_ERROR),
                response_body=truncated(result.response_body, MAX_STORED_BODY),
                outcome=verdict.outcome,
                next_retry_at=verdict.next_attempt_at,
            )
            await uow.deliveries.record(delivery, verdict, attempt)
            changed = endpoint
            if verdict.failing_since != endpoint.failing_since:
                changed = replace(changed, failing_since=verdict.failing_since)
            if verdict.disable is not None and endpoint.enabled:
                changed = changed.disabled(verdict.disable, self._now())
                await uow.publish(_disabled_event(changed))
                log.warning(
                    "webhook endpoint disabled",
                    extra={"endpoint_id": str(endpoint.id), "reason": verdict.disable},
                )
            if changed != endpoint:
                await uow.endpoints.save(changed)
        self._on_outcome(verdict.outcome)
        return verdict.outcome


def _disabled_event(endpoint: Endpoint) -> WebhookEndpointDisabled:
    assert endpoint.disabled_at is not None
    reason = "gone" if endpoint.disabled_reason == "gone" else "failing"
    return WebhookEndpointDisabled(
        org_id=endpoint.org_id,
        payload=WebhookEndpointDisabledPayload(
            endpoint_id=endpoint.id,
            host=endpoint.host,
            reason=reason,
            failing_since=endpoint.failing_since,
            disabled_at=endpoint.disabled_at,
        ),
    )
