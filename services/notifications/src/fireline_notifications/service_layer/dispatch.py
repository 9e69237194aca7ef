"""Sending due deliveries: claim, sign, POST, record, decide what follows.

Each endpoint gets its own slots: a pass claims for each endpoint only as many as it has free
here (``per_endpoint`` less those in flight), and every delivery is sent in its own task. An
endpoint that takes its whole timeout to answer holds its own slots, never another endpoint's
(or org's), and the next pass does not wait for it. A claim leases the rows; a process that
dies mid-send leaves them to be claimed again when the lease ends, with the same webhook-id.
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
    Verdict,
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
        async with self._uow() as uow:
            claimed = await uow.deliveries.claim(
                per_endpoint=self._settings.per_endpoint,
                total=free,
                in_flight=dict(self._in_flight),
                now=now,
                lease_until=now + self._settings.lease,
            )
            # Each endpoint and its secrets once per pass, not once per delivery, and in the
            # claim's transaction: a pass runs after every freed slot, so this is per delivery.
            targets = await _targets(uow, {d.endpoint_id for d in claimed}, now)
        for delivery in claimed:
            target = targets.get(delivery.endpoint_id)
            if target is None:  # deleted or disabled since: the lease keeps the row for later
                continue
            self._in_flight[delivery.endpoint_id] += 1
            task = asyncio.create_task(
                self._deliver(delivery, *target), name=f"delivery-{delivery.id}"
            )
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

    async def _deliver(self, delivery: Delivery, endpoint: Endpoint, secrets_: list[str]) -> None:
        try:
            await self.deliver(delivery, endpoint, secrets_)
        except asyncio.CancelledError:
            raise
        except Exception:  # the lease brings it back; one failure must not end the others
            log.exception("delivery failed unexpectedly", extra={"delivery_id": str(delivery.id)})
        finally:
            self._in_flight[delivery.endpoint_id] -= 1
            if self._in_flight[delivery.endpoint_id] <= 0:
                del self._in_flight[delivery.endpoint_id]
            self.wake.set()

    async def deliver(self, delivery: Delivery, endpoint: Endpoint, secrets_: list[str]) -> Outcome:
        """One attempt at ``delivery`` to ``endpoint``, signed with ``secrets_``, recorded."""
        sent_at = self._now()
        body = delivery.body.encode()
        headers = {"content-type": "application/json"}
        if endpoint.format == "standard":
            headers |= signing.headers(
                secrets_,
                webhook_id(delivery.id),
                int(sent_at.timestamp()),
                body,
            )
        result = await self._sender.post(endpoint.url, headers, body)
        return await self._record(delivery, result, sent_at)

    def _judge(self, delivery: Delivery, result: AttemptResult, endpoint: Endpoint) -> Verdict:
        return judge(
            result,
            schedule_step=delivery.schedule_step,
            failing_since=endpoint.failing_since,
            now=self._now(),
            schedule=self._settings.schedule,
            disable_after=self._settings.disable_after,
        )

    async def _record(self, delivery: Delivery, result: AttemptResult, at: datetime) -> Outcome:
        async with self._uow() as uow:
            endpoint = await uow.endpoints.get(None, delivery.endpoint_id)
            if endpoint is None:  # deleted while we sent: its log went with it
                return "failed"
            verdict = self._judge(delivery, result, endpoint)
            if verdict.failing_since != endpoint.failing_since or verdict.disable is not None:
                # The endpoint changes: judge again under its lock, so concurrent attempts to
                # it agree on when its failures began (a success needs no lock: the common case).
                endpoint = await uow.endpoints.get(None, delivery.endpoint_id, for_update=True)
                if endpoint is None:
                    return "failed"
                verdict = self._judge(delivery, result, endpoint)
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


async def _targets(
    uow: UnitOfWork, endpoint_ids: set[uuid.UUID], now: datetime
) -> dict[uuid.UUID, tuple[Endpoint, list[str]]]:
    if not endpoint_ids:
        return {}
    secrets_ = await uow.endpoints.signing_secrets(endpoint_ids, now)
    return {
        e.id: (e, [s.secret for s in secrets_.get(e.id, [])])
        for e in await uow.endpoints.enabled_of(endpoint_ids)
    }


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
