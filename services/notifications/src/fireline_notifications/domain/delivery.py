"""Deliveries and their attempts, and the one rule that decides what follows an attempt.

A delivery is one event for one endpoint; its id is the ``webhook-id`` every attempt carries, so
a receiver recognises a retry (or a redelivery after a crash) as the same message.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal
from uuid import UUID

from fireline_notifications.domain.endpoint import DisabledReason

DeliveryState = Literal["pending", "succeeded", "failed"]
Outcome = Literal["succeeded", "retrying", "rate_limited", "failed", "gone"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("succeeded", "retrying", "rate_limited", "failed", "gone")

JITTER: Final = 0.2
"""Each retry delay is scaled by a random factor in [1 - JITTER, 1 + JITTER], so the retries of
many deliveries that failed together (an endpoint's outage) do not all arrive together."""
MAX_RETRY_AFTER: Final = timedelta(hours=1)
"""The longest a receiver's Retry-After is honoured; a larger one is taken as this."""
MAX_STORED_BODY: Final = 1024
"""Characters of a response body kept in the log; the rest is cut."""
MAX_ERROR: Final = 500


def parse_schedule(text: str) -> tuple[float, ...]:
    """``5,300,1800`` → the delays before the first, second, third retry, in seconds."""
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError("the retry schedule must be comma-separated seconds") from None
    if any(d <= 0 for d in delays):
        raise ValueError("every retry delay must be positive")
    return delays


def webhook_id(delivery_id: UUID) -> str:
    return f"msg_{delivery_id.hex}"


def truncated(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + "…"


@dataclass(frozen=True)
class Delivery:
    id: UUID
    endpoint_id: UUID
    org_id: UUID
    event_type: str
    body: str
    """The exact bytes (UTF-8) every attempt sends, fixed when the event arrived."""
    state: DeliveryState
    attempts: int
    schedule_step: int
    """How many retries of the schedule were used (a rate-limited attempt uses none)."""
    created_at: datetime
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP attempt came back with (no status: it never got an answer)."""

    status_code: int | None
    latency_ms: float
    error: str | None = None
    response_body: str | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True)
class Attempt:
    id: UUID
    delivery_id: UUID
    endpoint_id: UUID
    event_type: str
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    response_body: str | None
    outcome: Outcome
    next_retry_at: datetime | None
    seq: int = 0
    """Its place in the log (numbered when stored; 0 before)."""


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    next_attempt_at: datetime | None
    schedule_step: int
    failing_since: datetime | None
    """The endpoint's unbroken run of failures, counting this attempt; None after a success."""
    disable: DisabledReason | None = None

    @property
    def state(self) -> DeliveryState:
        if self.outcome == "succeeded":
            return "succeeded"
        return "pending" if self.next_attempt_at is not None else "failed"


def judge(
    result: AttemptResult,
    *,
    schedule_step: int,
    failing_since: datetime | None,
    now: datetime,
    schedule: Sequence[float],
    disable_after: timedelta,
    rng: random.Random | None = None,
) -> Verdict:
    """What follows an attempt: done, retried (when, with jitter), failed, and whether the
    endpoint is disabled with it (410 Gone at once; failing for ``disable_after``)."""
    code = result.status_code
    if code is not None and 200 <= code < 300:
        return Verdict("succeeded", None, schedule_step, None)
    since = failing_since or now
    if code == 410:
        return Verdict("gone", None, schedule_step, since, disable="gone")
    disable: DisabledReason | None = "failing" if now - since >= disable_after else None
    if code == 429 and result.retry_after_s is not None:
        # The receiver said when; that is not the endpoint failing, so no retry is used up.
        wait = min(timedelta(seconds=max(result.retry_after_s, 0.0)), MAX_RETRY_AFTER)
        return Verdict("rate_limited", now + wait, schedule_step, since, disable)
    if schedule_step >= len(schedule):
        return Verdict("failed", None, schedule_step, since, disable)
    factor = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    delay = timedelta(seconds=schedule[schedule_step] * factor)
    return Verdict("retrying", now + delay, schedule_step + 1, since, disable)
