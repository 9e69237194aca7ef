"""Enrichment: find the emails behind an alert in PagerDuty's REST API, within a time budget."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any, Protocol

from fireline_pagerduty_ingest.adapters.pagerduty import ApiCredentials, PagerDutyUnavailable
from fireline_pagerduty_ingest.domain.enrichment import (
    SKIPPED,
    Enrichment,
    OnCallEntry,
    enrichment_status,
    oncall_emails,
)
from fireline_pagerduty_ingest.domain.webhook import Lifecycle, WebhookEvent

log = logging.getLogger(__name__)


class EmailDirectory(Protocol):
    """What enrichment needs from PagerDuty (the REST client, or a fake in tests)."""

    async def user_email(self, credentials: ApiCredentials, user_id: str) -> str | None: ...

    async def oncalls(
        self, credentials: ApiCredentials, escalation_policy_id: str
    ) -> tuple[OnCallEntry, ...]: ...


async def enrich(
    *,
    directory: EmailDirectory,
    credentials: ApiCredentials | None,
    event: WebhookEvent,
    budget_s: float,
) -> Enrichment:
    """Emails for ``event``: its creator (triggers only) and its policy's on-call users.

    Never raises for PagerDuty's sake: no token → ``skipped``; a lookup that fails, times out or
    is rate limited leaves its emails out (``partial``/``failed``). The lookups run concurrently
    and whatever has not answered when ``budget_s`` runs out counts as failed.
    """
    if credentials is None:
        return SKIPPED
    lookups: dict[str, Awaitable[Any]] = {}
    # The agent of an acknowledgement or resolution is whoever acted then, not the creator.
    if event.lifecycle is Lifecycle.TRIGGERED and event.agent_user_id is not None:
        lookups["creator"] = directory.user_email(credentials, event.agent_user_id)
    policy_id = event.incident.escalation_policy_id if event.incident is not None else None
    if policy_id:
        lookups["oncall"] = directory.oncalls(credentials, policy_id)
    if not lookups:
        return Enrichment(creator_email=None, oncall_emails=(), status="complete")

    tasks = {name: asyncio.ensure_future(lookup) for name, lookup in lookups.items()}
    pending: set[asyncio.Future[Any]] = set(tasks.values())
    try:
        _, pending = await asyncio.wait(tasks.values(), timeout=budget_s)
    finally:
        # Also when the worker itself is cancelled (shutdown): no lookup may outlive it.
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    results: dict[str, Any] = {}
    for name, task in tasks.items():
        if task.cancelled() or task in pending:
            log.info("enrichment lookup ran out of time", extra={"lookup": name})
            continue
        error = task.exception()
        if error is None:
            results[name] = task.result()
        elif isinstance(error, PagerDutyUnavailable):
            log.info("enrichment lookup failed", extra={"lookup": name, "reason": error.reason})
        else:
            # A bug or an unexpected shape must not cost the alert; it is logged loudly instead.
            log.error(
                "enrichment lookup raised unexpectedly",
                extra={"lookup": name, "error": type(error).__name__},
            )
    creator = results.get("creator")
    entries: tuple[OnCallEntry, ...] = results.get("oncall", ())
    return Enrichment(
        creator_email=creator if isinstance(creator, str) else None,
        oncall_emails=oncall_emails(entries),
        status=enrichment_status(attempted=len(tasks), succeeded=len(results)),
    )
