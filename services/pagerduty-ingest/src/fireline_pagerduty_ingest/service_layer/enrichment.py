"""Enrichment: find the emails behind an alert in PagerDuty's REST API, within a time budget."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Mapping
from typing import Any

from fireline_pagerduty_ingest.domain.enrichment import (
    SKIPPED,
    ApiCredentials,
    Enrichment,
    OnCallEntry,
    PagerDutyUnavailable,
    enrichment_status,
    oncall_emails,
)
from fireline_pagerduty_ingest.domain.webhook import Lifecycle, WebhookEvent
from fireline_pagerduty_ingest.service_layer.ports import EmailDirectory

log = logging.getLogger(__name__)

_Lookups = dict[str, asyncio.Future[Any]]


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
    lookups = _lookups(directory, credentials, event)
    if not lookups:
        return Enrichment(creator_email=None, oncall_emails=(), status="complete")
    tasks: _Lookups = {name: asyncio.ensure_future(lookup) for name, lookup in lookups.items()}
    late = await _wait_within(tasks, budget_s)
    answers = _answers(tasks, late)
    return _enrichment(answers, attempted=len(tasks))


def _lookups(
    directory: EmailDirectory, credentials: ApiCredentials, event: WebhookEvent
) -> dict[str, Awaitable[Any]]:
    """The lookups ``event`` needs, by name: ``creator`` and ``oncall``, either, both or none."""
    lookups: dict[str, Awaitable[Any]] = {}
    # The agent of an acknowledgement or resolution is whoever acted then, not the creator.
    if event.lifecycle is Lifecycle.TRIGGERED and event.agent_user_id is not None:
        lookups["creator"] = directory.user_email(credentials, event.agent_user_id)
    policy_id = event.incident.escalation_policy_id if event.incident is not None else None
    if policy_id:
        lookups["oncall"] = directory.oncalls(credentials, policy_id)
    return lookups


async def _wait_within(tasks: _Lookups, budget_s: float) -> set[asyncio.Future[Any]]:
    """Wait up to ``budget_s`` for the lookups; those still running are cancelled and returned."""
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
    return pending


def _answers(tasks: _Lookups, late: set[asyncio.Future[Any]]) -> dict[str, Any]:
    """The results of the lookups that answered in time; each one that did not is logged."""
    answers: dict[str, Any] = {}
    for name, task in tasks.items():
        if task.cancelled() or task in late:
            log.info("enrichment lookup ran out of time", extra={"lookup": name})
            continue
        error = task.exception()
        if error is None:
            answers[name] = task.result()
        elif isinstance(error, PagerDutyUnavailable):
            log.info("enrichment lookup failed", extra={"lookup": name, "reason": error.reason})
        else:
            # A bug or an unexpected shape must not cost the alert; it is logged loudly instead.
            log.error(
                "enrichment lookup raised unexpectedly",
                extra={"lookup": name, "error": type(error).__name__},
            )
    return answers


def _enrichment(answers: Mapping[str, Any], *, attempted: int) -> Enrichment:
    creator = answers.get("creator")
    entries: tuple[OnCallEntry, ...] = answers.get("oncall", ())
    return Enrichment(
        creator_email=creator if isinstance(creator, str) else None,
        oncall_emails=oncall_emails(entries),
        status=enrichment_status(attempted=attempted, succeeded=len(answers)),
    )
