"""Fireline → PagerDuty: remember where incidents came from, store the changes to send, send them.

Durable and at least once, like the notifications service's outgoing webhooks: the request row
is written in the inbox transaction of the incidents event that asked for it (so the event is
never acknowledged without it), and a dispatcher loop claims due rows with a lease, calls
PagerDuty outside any transaction and records the verdict together with the
``PagerDutySyncAttempted`` event that puts it on the incident's timeline. A process killed
between the event and the call leaves a pending row that the next dispatcher sends; one killed
between PagerDuty's answer and the record sends again once the lease is over, which PagerDuty's
``PUT`` absorbs (setting the status it already has) and which can repeat a note.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from fireline_contracts import PagerDutySyncAttempted, PagerDutySyncAttemptedPayload
from fireline_pagerduty_ingest.domain.sync import (
    ACTION_STATUSES,
    MAX_NOTE,
    Action,
    CallResult,
    IncidentOrigin,
    IncidentsChange,
    Outcome,
    PagerDutyLink,
    ReopenedInFireline,
    SyncAsked,
    SyncRequest,
    SyncSettings,
    Verdict,
    judge,
    short_detail,
)
from fireline_pagerduty_ingest.service_layer.deliveries import opened_credentials
from fireline_pagerduty_ingest.service_layer.ports import PagerDutyWriter
from fireline_pagerduty_ingest.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


async def apply_incidents_changes(
    *, uow: UnitOfWork, changes: Sequence[IncidentsChange]
) -> set[UUID]:
    """Apply a batch's worth (a fetch) of incidents events; the ids of the events that stored a
    request (the dispatcher has something to send once they commit).

    The links are written first, in one statement: an incident's link only ever precedes its
    requests on the topic (``IncidentStarted`` is the incident's first event, and events are
    keyed by incident), so this leaves what applying the batch in order would."""
    await link_incidents(uow=uow, origins=[c for c in changes if isinstance(c, IncidentOrigin)])
    stored: set[UUID] = set()
    for change in changes:
        match change:
            case SyncAsked():
                if await request_sync(
                    uow=uow,
                    source_event_id=change.source_event_id,
                    incident_id=change.incident_id,
                    action=change.action,
                    note=change.note,
                ):
                    stored.add(change.source_event_id)
            case ReopenedInFireline():
                await report_reopening(
                    uow=uow,
                    source_event_id=change.source_event_id,
                    incident_id=change.incident_id,
                    previous_status=change.previous_status,
                    at=change.at,
                )
    return stored


async def link_incidents(*, uow: UnitOfWork, origins: Sequence[IncidentOrigin]) -> int:
    """Remember which integration each PagerDuty-sourced incident came from, for the incidents
    whose integration syncs to PagerDuty now; how many links are new.

    Only those: a link is what a later change made in Fireline is sent back through, and an
    integration that does not sync would never use it, while during an alert storm every
    incident would pay for it. An incident started while its integration's sync was off stays
    unlinked when sync is turned on later (services/pagerduty-ingest/README.md). Linking again
    changes nothing, so a redelivered event needs no inbox row."""
    if not origins:
        return 0
    async with uow:
        return await uow.sync.link_syncing(origins)


async def request_sync(
    *,
    uow: UnitOfWork,
    source_event_id: UUID,
    incident_id: UUID,
    action: Action,
    note: str | None = None,
) -> bool:
    """Store a change made in Fireline for the dispatcher when the incident's integration sends
    such changes; True when one was stored. The request's id derives from the incidents event,
    so a redelivered event stores nothing twice."""
    async with uow:
        link = await _syncing(uow, incident_id, notes=action == "note")
        if link is None:
            return False
        return await uow.sync.add(
            request_id=uuid.uuid5(link.integration_id, str(source_event_id)),
            source_event_id=source_event_id,
            link=link,
            action=action,
            note=note[:MAX_NOTE] if note is not None else None,
        )


async def report_reopening(
    *,
    uow: UnitOfWork,
    source_event_id: UUID,
    incident_id: UUID,
    previous_status: str,
    at: datetime,
) -> bool:
    """Say on the incident's timeline that a reopening in Fireline cannot reach PagerDuty (its
    REST API has no way back to triggered), when the integration syncs; True when said."""
    async with uow:
        link = await _syncing(uow, incident_id, notes=False)
        if link is None:
            return False
        await uow.publish(
            PagerDutySyncAttempted(
                org_id=link.org_id,
                payload=PagerDutySyncAttemptedPayload(
                    incident_id=link.incident_id,
                    integration_id=link.integration_id,
                    external_id=link.external_id,
                    request_id=uuid.uuid5(link.integration_id, str(source_event_id)),
                    action="reopen",
                    outcome="refused",
                    attempt=1,
                    detail=f"PagerDuty's REST API cannot reopen an incident; it stays "
                    f"{previous_status} in PagerDuty",
                    attempted_at=at,
                ),
            )
        )
    return True


async def _syncing(uow: UnitOfWork, incident_id: UUID, *, notes: bool) -> PagerDutyLink | None:
    """The incident's link when its integration sends such changes now."""
    link = await uow.sync.link_of(incident_id)
    if link is None:
        return None
    sealed = await uow.integrations.credentials(link.integration_id)
    if sealed is None or sealed.token_ciphertext is None:
        return None
    back = sealed.write_back
    return link if back.sync_to_pagerduty and (back.sync_notes or not notes) else None


@dataclass(frozen=True)
class SyncDispatchSettings:
    schedule: tuple[float, ...]
    lease: timedelta
    batch_size: int


class SyncDispatcher:
    """Claims due requests, calls PagerDuty, records each attempt with its timeline event."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory[UnitOfWork],
        box: SecretBox,
        writer: PagerDutyWriter,
        settings: SyncDispatchSettings,
        on_outcome: Callable[[Action, Outcome], None] = lambda action, outcome: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._uow = uow
        self._box = box
        self._writer = writer
        self._settings = settings
        self._on_outcome = on_outcome
        self._now = now
        self.wake = asyncio.Event()
        """Set to start the next pass at once (a request was stored)."""

    async def pass_once(self) -> bool:
        """Send what is due; True when the pass was full (more may be due)."""
        now = self._now()
        async with self._uow() as uow:
            claimed = await uow.sync.claim(
                limit=self._settings.batch_size,
                claim_id=uuid.uuid4(),
                now=now,
                lease_until=now + self._settings.lease,
            )
        # Different incidents concurrently; each incident has at most one request claimed.
        await asyncio.gather(*(self.send(request) for request in claimed))
        return len(claimed) == self._settings.batch_size

    async def send(self, request: SyncRequest) -> Outcome | None:
        """One attempt at ``request``, recorded; None when its claim was lost meanwhile."""
        settings = await self._settings_of(request.integration_id)
        attempted_at = self._now()
        if settings is None or not settings.sends(request.action):
            # Turned off (or the token removed, the integration deleted) since the change was
            # made: saying so on the timeline beats sending with settings the admin withdrew.
            result = CallResult(
                status_code=None, detail="not sent: sync is off for it now", hopeless=True
            )
        else:
            result = await self._call(request, settings)
        verdict = judge(
            result,
            schedule_step=request.schedule_step,
            now=self._now(),
            schedule=self._settings.schedule,
        )
        async with self._uow() as uow:
            recorded = await uow.sync.record(
                request, verdict, at=attempted_at, pagerduty_user_id=result.pagerduty_user_id
            )
            if recorded:
                await uow.publish(_attempted(request, result, verdict, attempted_at))
        if not recorded:
            return None
        self._on_outcome(request.action, verdict.outcome)
        if verdict.outcome in ("refused", "failed"):
            log.warning(
                "PagerDuty did not take a change made in Fireline",
                extra={
                    "request_id": str(request.id),
                    "action": request.action,
                    "status_code": result.status_code,
                    "outcome": verdict.outcome,
                },
            )
        return verdict.outcome

    async def _call(self, request: SyncRequest, settings: SyncSettings) -> CallResult:
        # sends() said both are there.
        assert settings.token is not None
        assert settings.from_email is not None
        if request.action == "note":
            return await self._writer.add_note(
                base_url=settings.base_url,
                token=settings.token,
                from_email=settings.from_email,
                incident_id=request.external_id,
                content=request.note or "",
            )
        return await self._writer.set_status(
            base_url=settings.base_url,
            token=settings.token,
            from_email=settings.from_email,
            incident_id=request.external_id,
            status=ACTION_STATUSES[request.action],
        )

    async def _settings_of(self, integration_id: UUID) -> SyncSettings | None:
        async with self._uow().reading() as uow:
            sealed = await uow.integrations.credentials(integration_id)
        if sealed is None:
            return None
        credentials = opened_credentials(
            self._box, integration_id, sealed.token_ciphertext, sealed.base_url
        )
        back = sealed.write_back
        return SyncSettings(
            sync_status=back.sync_to_pagerduty,
            sync_notes=back.sync_notes,
            from_email=back.from_email,
            base_url=sealed.base_url,
            token=credentials.token if credentials is not None else None,
        )


def _attempted(
    request: SyncRequest, result: CallResult, verdict: Verdict, at: datetime
) -> PagerDutySyncAttempted:
    return PagerDutySyncAttempted(
        org_id=request.org_id,
        payload=PagerDutySyncAttemptedPayload(
            incident_id=request.incident_id,
            integration_id=request.integration_id,
            external_id=request.external_id,
            request_id=request.id,
            action=request.action,
            outcome=verdict.outcome,
            attempt=max(request.attempts, 1),
            status_code=result.status_code,
            detail=short_detail(result.detail),
            next_attempt_at=verdict.next_attempt_at,
            attempted_at=at,
        ),
    )
