"""The ingest use cases against an in-memory unit of work: integrations and their secrets, the
receiver, the worker's publish path and enrichment's fallbacks.

The fake unit of work keeps what a committed transaction wrote and restores what a failed one
wrote, refuses writes outside a transaction and any use outside the unit of work, so a use case
that forgets its transaction fails here as it would against PostgreSQL.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import os
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

import pytest

from fireline_contracts import (
    ALERTS,
    INTEGRATIONS,
    PAGERDUTY_SYNC,
    AlertAcknowledged,
    AlertActivity,
    AlertPayload,
    AlertResolved,
    AlertTriggered,
    AlertUpdated,
    EventEnvelope,
    IncidentSource,
    IncidentStarted,
    IntegrationChanged,
    PagerDutySyncAttempted,
    SigningSecretsRotated,
)
from fireline_pagerduty_ingest.adapters.target_cache import CachedTargets
from fireline_pagerduty_ingest.domain.alert import AlertEventType
from fireline_pagerduty_ingest.domain.delivery import (
    ClaimedDelivery,
    DeliveryStatus,
    FailedAttempt,
    NewDelivery,
    Stored,
)
from fireline_pagerduty_ingest.domain.enrichment import (
    ApiCredentials,
    OnCallEntry,
    PagerDutyUnavailable,
)
from fireline_pagerduty_ingest.domain.errors import (
    IntegrationNotFound,
    InvalidIntegration,
    InvalidSignature,
    StorageUnavailable,
    UnstorableValue,
    VerificationUnavailable,
)
from fireline_pagerduty_ingest.domain.integration import (
    OFF,
    Integration,
    IntegrationChanges,
    IntegrationSettings,
    SecretInfo,
    WriteBack,
)
from fireline_pagerduty_ingest.domain.sealing import api_token_context, signing_secret_context
from fireline_pagerduty_ingest.domain.sync import (
    ECHO_WINDOW,
    Action,
    CallResult,
    IncidentOrigin,
    PagerDutyLink,
    RequestState,
    SyncRequest,
    Verdict,
)
from fireline_pagerduty_ingest.domain.target import (
    OpenTarget,
    SealedCredentials,
    SealedSecret,
    WebhookTarget,
)
from fireline_pagerduty_ingest.domain.webhook import MalformedDelivery, parse_delivery
from fireline_pagerduty_ingest.entrypoints.consumers import incidents_consumer
from fireline_pagerduty_ingest.service_layer import deliveries, integrations, sync, webhooks
from fireline_pagerduty_ingest.service_layer.deliveries import UnpublishableDelivery
from fireline_pagerduty_ingest.service_layer.enrichment import enrich
from fireline_pagerduty_ingest.service_layer.integration_events import IntegrationEventType
from fireline_pagerduty_ingest.service_layer.sync import SyncDispatcher, SyncDispatchSettings
from fireline_pagerduty_ingest.service_layer.webhooks import IncomingWebhook, WebhookReceiver
from fireline_runtime.consumers import EventHandler, Treatment
from fireline_runtime.db import Connection
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.unit_of_work import UnitOfWorkFactory
from support import fake_uow
from support.incident_events import (
    from_pagerduty,
    incident_started,
    status_changed,
    timeline_entry,
)
from support.pagerduty_fixtures import (
    ESCALATION_POLICY_ID,
    TRIGGERING_USER_ID,
    delivery,
    new_incident_id,
    signed,
)

ORG = uuid.uuid4()
API_URL = "https://api.pagerduty.com"
ALLOWED = frozenset({"api.pagerduty.com"})
SECRET_A = "pagerduty-secret-a-0123456789"
SECRET_B = "pagerduty-secret-b-0123456789"
SECRET_C = "pagerduty-secret-c-0123456789"
CREATOR_EMAIL = "ada@example.com"
ONCALL_EMAIL = "grace@example.com"
ON_CALL = (OnCallEntry(escalation_level=1, email=ONCALL_EMAIL),)


def new_box() -> SecretBox:
    return SecretBox.from_text(urlsafe_b64encode(os.urandom(32)).decode())


# --- in-memory storage ----------------------------------------------------------------------


@dataclass
class StoredSecret:
    id: UUID
    ciphertext: bytes | None
    created_at: datetime
    retired: bool = False


@dataclass
class StoredIntegration:
    id: UUID
    org_id: UUID
    name: str
    pagerduty_api_url: str
    api_token_ciphertext: bytes | None
    default_severity: str | None
    default_incident_type: str | None
    created_at: datetime
    updated_at: datetime
    secrets: list[StoredSecret] = field(default_factory=list)
    deleted: bool = False
    write_back: WriteBack = OFF
    priority_severities: Mapping[str, str] = field(default_factory=dict)


@dataclass
class StoredDelivery:
    id: int
    new: NewDelivery
    received_at: datetime
    status: DeliveryStatus
    attempts: int = 0
    claim_id: UUID | None = None
    leased: bool = False
    enrichment_status: str | None = None
    last_error: str | None = None
    processed_at: datetime | None = None


@dataclass
class StoredSyncRequest:
    request: SyncRequest
    source_event_id: UUID
    state: RequestState = "pending"
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    pagerduty_user_id: str | None = None
    echo_event_id: str | None = None


@dataclass
class Store:
    """Everything the fakes keep; copied when a transaction begins, restored when it fails."""

    integrations: dict[UUID, StoredIntegration] = field(default_factory=dict)
    deliveries: dict[int, StoredDelivery] = field(default_factory=dict)
    changed_targets: list[UUID] = field(default_factory=list)
    """What a NOTIFY on the targets channel would have carried."""
    links: dict[UUID, PagerDutyLink] = field(default_factory=dict)
    sync_requests: list[StoredSyncRequest] = field(default_factory=list)


class Repository(fake_uow.GuardedRepository[Store]):
    """A view over the store, stamping rows with its unit of work's clock."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        super().__init__(uow)
        self.clock = uow.clock


class FakeIntegrations(Repository):
    async def add(
        self, *, integration_id: UUID, org_id: UUID, settings: IntegrationSettings
    ) -> None:
        now = self.clock()
        self.writing().integrations[integration_id] = StoredIntegration(
            id=integration_id,
            org_id=org_id,
            name=settings.name,
            pagerduty_api_url=settings.pagerduty_api_url,
            api_token_ciphertext=settings.api_token_ciphertext,
            default_severity=settings.default_severity,
            default_incident_type=settings.default_incident_type,
            created_at=now,
            updated_at=now,
            write_back=settings.write_back,
            priority_severities=settings.priority_severities,
        )

    def _live(self, org_id: UUID | None, integration_id: UUID) -> StoredIntegration | None:
        row = self.store.integrations.get(integration_id)
        if row is None or row.deleted or (org_id is not None and row.org_id != org_id):
            return None
        return row

    async def get(
        self, *, org_id: UUID, integration_id: UUID, for_update: bool = False
    ) -> Integration | None:
        if for_update:
            self.writing()
        row = self._live(org_id, integration_id)
        return _integration(row) if row is not None else None

    async def of_org(self, *, org_id: UUID) -> list[Integration]:
        rows = [r for r in self.store.integrations.values() if r.org_id == org_id and not r.deleted]
        return [_integration(r) for r in sorted(rows, key=lambda r: (r.created_at, r.id))]

    async def update(self, *, integration_id: UUID, settings: IntegrationSettings) -> None:
        store = self.writing()
        row = store.integrations[integration_id]
        row.name = settings.name
        row.pagerduty_api_url = settings.pagerduty_api_url
        row.api_token_ciphertext = settings.api_token_ciphertext
        row.default_severity = settings.default_severity
        row.default_incident_type = settings.default_incident_type
        row.write_back = settings.write_back
        row.priority_severities = settings.priority_severities
        row.updated_at = self.clock()
        store.changed_targets.append(integration_id)

    async def api_token_ciphertext(self, integration_id: UUID) -> bytes | None:
        return self.store.integrations[integration_id].api_token_ciphertext

    async def delete(self, *, org_id: UUID, integration_id: UUID) -> bool:
        self.writing()
        row = self._live(org_id, integration_id)
        if row is None:
            return False
        row.deleted = True
        row.api_token_ciphertext = None
        await self.retire_secrets(integration_id=integration_id, secret_ids=None)
        return True

    async def add_secret(self, *, integration_id: UUID, secret_id: UUID, ciphertext: bytes) -> None:
        store = self.writing()
        store.integrations[integration_id].secrets.append(
            StoredSecret(id=secret_id, ciphertext=ciphertext, created_at=self.clock())
        )
        store.changed_targets.append(integration_id)

    async def retire_secrets(
        self, *, integration_id: UUID, secret_ids: Collection[UUID] | None
    ) -> None:
        store = self.writing()
        for secret in store.integrations[integration_id].secrets:
            if not secret.retired and (secret_ids is None or secret.id in secret_ids):
                secret.retired = True
                secret.ciphertext = None
        store.changed_targets.append(integration_id)

    async def webhook_target(self, integration_id: UUID) -> WebhookTarget | None:
        row = self._live(None, integration_id)
        if row is None:
            return None
        return WebhookTarget(
            id=row.id,
            org_id=row.org_id,
            default_severity=row.default_severity,
            default_incident_type=row.default_incident_type,
            secrets=tuple(
                SealedSecret(id=s.id, ciphertext=s.ciphertext)
                for s in row.secrets
                if not s.retired and s.ciphertext is not None
            ),
            publishes_on_receipt=row.api_token_ciphertext is None
            and not row.write_back.sync_to_pagerduty,
            priority_severities=row.priority_severities,
        )

    async def credentials(self, integration_id: UUID) -> SealedCredentials | None:
        row = self.store.integrations.get(integration_id)  # deleted ones too
        if row is None:
            return None
        return SealedCredentials(
            integration_id=integration_id,
            base_url=row.pagerduty_api_url,
            token_ciphertext=row.api_token_ciphertext,
            priority_severities=row.priority_severities,
            write_back=row.write_back,
        )


def _integration(row: StoredIntegration) -> Integration:
    return Integration(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        pagerduty_api_url=row.pagerduty_api_url,
        has_api_token=row.api_token_ciphertext is not None,
        default_severity=row.default_severity,
        default_incident_type=row.default_incident_type,
        secrets=tuple(
            SecretInfo(id=s.id, created_at=s.created_at) for s in row.secrets if not s.retired
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
        write_back=row.write_back,
        priority_severities=row.priority_severities,
    )


class FakeDeliveries(Repository):
    async def status_of(self, *, integration_id: UUID, dedupe_key: str) -> DeliveryStatus | None:
        for row in self.store.deliveries.values():
            if (row.new.integration_id, row.new.dedupe_key) == (integration_id, dedupe_key):
                return row.status
        return None

    async def claim(self, *, limit: int, claim_id: UUID, lease_s: float) -> list[ClaimedDelivery]:
        store = self.writing()
        pending = sorted(
            (r for r in store.deliveries.values() if r.status == "received"), key=lambda r: r.id
        )
        oldest: dict[str | None, StoredDelivery] = {}
        for row in pending:
            oldest.setdefault(row.new.incident_id, row)
        claimed = [r for r in oldest.values() if not r.leased][:limit]
        for row in claimed:
            row.claim_id, row.leased, row.attempts = claim_id, True, row.attempts + 1
        return [_claimed(r) for r in sorted(claimed, key=lambda r: r.id)]

    async def lock_claims(self, claims: Sequence[tuple[int, UUID]]) -> set[int]:
        rows = self.writing().deliveries
        return {
            delivery_id
            for delivery_id, claim_id in claims
            if rows[delivery_id].claim_id == claim_id and rows[delivery_id].status == "received"
        }

    async def mark_published(self, published: Sequence[tuple[int, str]]) -> None:
        for delivery_id, enrichment_status in published:
            row = self.writing().deliveries[delivery_id]
            row.status, row.enrichment_status, row.leased = "published", enrichment_status, False
            row.processed_at, row.last_error = self.clock(), None

    async def release(self, *, delivery_id: int, claim_id: UUID, failure: FailedAttempt) -> None:
        row = self.writing().deliveries[delivery_id]
        if row.claim_id != claim_id or row.status != "received":
            return
        row.last_error, row.claim_id, row.leased = failure.error[:500], None, False
        if failure.give_up:
            row.status, row.processed_at = "failed", self.clock()

    async def delete_finished(self, *, finished_before: datetime, limit: int) -> int:
        store = self.writing()
        doomed = [
            r.id
            for r in store.deliveries.values()
            if r.status != "received"
            and r.processed_at is not None
            and r.processed_at < finished_before
            and r.received_at < finished_before
        ][:limit]
        for delivery_id in doomed:
            del store.deliveries[delivery_id]
        return len(doomed)


def _claimed(row: StoredDelivery) -> ClaimedDelivery:
    new = row.new
    return ClaimedDelivery(
        id=row.id,
        integration_id=new.integration_id,
        org_id=new.org_id,
        dedupe_key=new.dedupe_key,
        body=new.body,
        incident_type=new.incident_type,
        severity=new.severity,
        correlation_id=new.correlation_id,
        attempts=row.attempts,
        received_at=row.received_at,
        traceparent=new.traceparent,
        parsed_event=new.parsed_event,
    )


class FakeSync(Repository):
    """The sync repository in memory, with the SQL's rules (which run against PostgreSQL in the
    integration tier)."""

    async def link_syncing(self, origins: Sequence[IncidentOrigin]) -> int:
        store, linked = self.writing(), 0
        for origin in origins:
            first = min(
                (
                    row
                    for row in store.deliveries.values()
                    if (row.new.org_id, row.new.incident_id) == (origin.org_id, origin.external_id)
                ),
                key=lambda row: row.id,
                default=None,
            )
            integration = store.integrations.get(first.new.integration_id) if first else None
            if (
                integration is None
                or integration.deleted
                or not integration.write_back.sync_to_pagerduty
                or origin.incident_id in store.links
            ):
                continue
            store.links[origin.incident_id] = PagerDutyLink(
                origin.incident_id, origin.org_id, integration.id, origin.external_id
            )
            linked += 1
        return linked

    async def link_of(self, incident_id: UUID) -> PagerDutyLink | None:
        return self.store.links.get(incident_id)

    async def add(
        self,
        *,
        request_id: UUID,
        source_event_id: UUID,
        link: PagerDutyLink,
        action: Action,
        note: str | None,
    ) -> bool:
        store = self.writing()
        if any(r.source_event_id == source_event_id for r in store.sync_requests):
            return False
        request = SyncRequest(
            id=request_id,
            org_id=link.org_id,
            incident_id=link.incident_id,
            integration_id=link.integration_id,
            external_id=link.external_id,
            action=action,
            note=note,
            attempts=0,
            schedule_step=0,
            claim_id=uuid.uuid4(),
        )
        # Due at once (None), as the SQL's now() is at any later claim.
        store.sync_requests.append(StoredSyncRequest(request, source_event_id))
        return True

    async def claim(
        self, *, limit: int, claim_id: UUID, now: datetime, lease_until: datetime
    ) -> list[SyncRequest]:
        store = self.writing()
        oldest: dict[UUID, StoredSyncRequest] = {}
        for row in store.sync_requests:
            if row.state == "pending":
                oldest.setdefault(row.request.incident_id, row)
        due = [r for r in oldest.values() if r.next_attempt_at is None or r.next_attempt_at <= now]
        claimed = []
        for row in due[:limit]:
            row.request = replace(row.request, claim_id=claim_id, attempts=row.request.attempts + 1)
            row.next_attempt_at, row.last_attempt_at = lease_until, now
            claimed.append(row.request)
        return claimed

    async def record(
        self,
        request: SyncRequest,
        verdict: Verdict,
        *,
        at: datetime,
        pagerduty_user_id: str | None,
    ) -> bool:
        for row in self.writing().sync_requests:
            if row.request.id == request.id and row.request.claim_id == request.claim_id:
                if row.state != "pending":
                    return False
                row.state, row.next_attempt_at = verdict.state, verdict.next_attempt_at
                row.request = replace(row.request, schedule_step=verdict.schedule_step)
                row.pagerduty_user_id = pagerduty_user_id or row.pagerduty_user_id
                return True
        return False

    async def match_echo(
        self,
        *,
        integration_id: UUID,
        external_id: str,
        action: Action,
        agent_id: str | None,
        received_at: datetime,
        event_id: str,
        note: str | None = None,
    ) -> UUID | None:
        for row in self.writing().sync_requests:
            r = row.request
            if (
                (r.integration_id, r.external_id, r.action) == (integration_id, external_id, action)
                and row.echo_event_id is None
                and row.state != "failed"
                and row.last_attempt_at is not None
                and received_at - ECHO_WINDOW < row.last_attempt_at <= received_at
                and row.pagerduty_user_id in (None, agent_id)
                and (note is None or r.note == note)
            ):
                row.echo_event_id = event_id
                return r.id
        return None


IngestEvent = AlertEventType | IntegrationEventType | PagerDutySyncAttempted


class FakeUnitOfWork(fake_uow.FakeUnitOfWork[Store, IngestEvent]):
    def __init__(self) -> None:
        # The order of the service's own choice: sync attempts, integrations, then alerts.
        topics = (PAGERDUTY_SYNC, INTEGRATIONS, ALERTS)
        super().__init__(fake_uow.FakeDatabase(Store(), topics=topics))
        self.integrations = FakeIntegrations(self)
        self.deliveries = FakeDeliveries(self)
        self.sync = FakeSync(self)
        self._now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        self._ticks = itertools.count()

    def clock(self) -> datetime:
        return self._now + timedelta(microseconds=next(self._ticks))


class FakeInbox:
    """The delivery writer: one row per dedupe key, ids in arrival order; an alert that comes
    with its delivery is published with it unless an earlier one of its incident is pending."""

    def __init__(
        self, db: fake_uow.FakeDatabase[Store, IngestEvent], *, down: bool = False
    ) -> None:
        self._db = db
        self._ids = itertools.count(1)
        self.down = down

    async def add(self, delivery: NewDelivery) -> Stored | None:
        if self.down:
            raise ConnectionRefusedError("database away")
        store = self._db.store
        for row in store.deliveries.values():
            if (row.new.integration_id, row.new.dedupe_key) == (
                delivery.integration_id,
                delivery.dedupe_key,
            ):
                return None
        pending = any(
            r.status == "received"
            and (r.new.org_id, r.new.incident_id) == (delivery.org_id, delivery.incident_id)
            for r in store.deliveries.values()
        )
        publish = delivery.alert is not None and not pending
        status: DeliveryStatus = "published" if publish else delivery.status
        delivery_id = next(self._ids)
        stamp = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        store.deliveries[delivery_id] = StoredDelivery(
            id=delivery_id,
            new=delivery,
            received_at=stamp,
            status=status,
            enrichment_status="skipped" if publish else None,
            processed_at=stamp if status in ("ignored", "published") else None,
        )
        if publish and delivery.alert is not None:
            self._db.published.append(delivery.alert)
        return Stored(id=delivery_id, status=status)


class FakeDirectory:
    """PagerDuty's REST API: answers, fails, or hangs per lookup."""

    def __init__(
        self,
        *,
        creator: str | BaseException | None = CREATOR_EMAIL,
        oncall: tuple[OnCallEntry, ...] | BaseException = ON_CALL,
        hang: Collection[str] = (),
    ) -> None:
        self._creator = creator
        self._oncall = oncall
        self._hang = hang
        self.calls: list[tuple[str, str]] = []
        self.cancelled: list[str] = []

    async def _maybe_hang(self, name: str) -> None:
        if name in self._hang:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                self.cancelled.append(name)
                raise

    async def user_email(self, credentials: ApiCredentials, user_id: str) -> str | None:
        self.calls.append(("user", user_id))
        await self._maybe_hang("creator")
        if isinstance(self._creator, BaseException):
            raise self._creator
        return self._creator

    async def oncalls(
        self, credentials: ApiCredentials, escalation_policy_id: str
    ) -> tuple[OnCallEntry, ...]:
        self.calls.append(("oncalls", escalation_policy_id))
        await self._maybe_hang("oncall")
        if isinstance(self._oncall, BaseException):
            raise self._oncall
        return self._oncall


# --- helpers --------------------------------------------------------------------------------


@dataclass
class World:
    uow: FakeUnitOfWork
    box: SecretBox
    inbox: FakeInbox
    receiver: WebhookReceiver
    woken: list[bool]

    @property
    def store(self) -> Store:
        return self.uow.store

    @property
    def alerts(self) -> list[AlertEventType]:
        """The alerts committed to the outbox, in commit order."""
        published = self.uow.db.published_on(ALERTS)
        return [e for e in published if isinstance(e, AlertEventType)]

    @property
    def integration_events(self) -> list[IntegrationEventType]:
        published = self.uow.db.published_on(INTEGRATIONS)
        return [e for e in published if isinstance(e, IntegrationEventType)]

    @property
    def sync_events(self) -> list[PagerDutySyncAttempted]:
        published = self.uow.db.published_on(PAGERDUTY_SYNC)
        return [e for e in published if isinstance(e, PagerDutySyncAttempted)]


@pytest.fixture
def world() -> World:
    uow = FakeUnitOfWork()
    box = new_box()
    inbox = FakeInbox(uow.db)
    woken: list[bool] = []

    async def load(integration_id: UUID) -> WebhookTarget | None:
        return await webhooks.load_target(uow, integration_id)

    receiver = WebhookReceiver(
        targets=CachedTargets(box, load),
        inbox=inbox,
        unit_of_work=lambda: uow,
        on_stored=lambda: woken.append(True),
    )
    return World(uow=uow, box=box, inbox=inbox, receiver=receiver, woken=woken)


async def create(
    world: World,
    *,
    secrets: list[str] | None = None,
    token: str | None = "pd-token",
    org_id: UUID = ORG,
    **fields: Any,
) -> integrations.SavedIntegration:
    return await integrations.create_integration(
        uow=world.uow,
        box=world.box,
        org_id=org_id,
        name=fields.get("name", "Checkout"),
        signing_secrets=secrets,
        pagerduty_api_token=token,
        pagerduty_api_url=fields.get("pagerduty_api_url", API_URL),
        allowed_api_hosts=ALLOWED,
        default_severity=fields.get("default_severity"),
        default_incident_type=fields.get("default_incident_type"),
        write_back=fields.get("write_back", OFF),
        priority_severities=fields.get("priority_severities"),
        by=ACTOR_KEY,
    )


async def update(
    world: World, integration_id: UUID, **changes: Any
) -> integrations.SavedIntegration:
    return await integrations.update_integration(
        uow=world.uow,
        box=world.box,
        org_id=ORG,
        integration_id=integration_id,
        changes=IntegrationChanges(**changes),
        allowed_api_hosts=ALLOWED,
        by=ACTOR_KEY,
    )


def incoming(
    integration_id: UUID | str, body: bytes, secret: str = SECRET_A, **fields: Any
) -> IncomingWebhook:
    headers = signed(body, secret, webhook_id=fields.pop("webhook_id", None))
    return IncomingWebhook(
        integration_id=str(integration_id),
        body=body,
        signature=fields.pop("signature", headers["X-PagerDuty-Signature"]),
        webhook_id=headers["X-Webhook-Id"],
        query_incident_type=fields.pop("query_incident_type", None),
        query_severity=fields.pop("query_severity", None),
        correlation_id=fields.pop("correlation_id", None),
    )


async def drain(world: World, directory: FakeDirectory | None = None) -> list[str]:
    """Run worker passes until nothing is claimable; each publish's outcome, in order."""
    outcomes: list[str] = []
    while True:
        claim = await deliveries.claim_deliveries(uow=world.uow, limit=16, lease_s=30)
        if not claim.deliveries:
            return outcomes
        for claimed in claim.deliveries:
            outcomes.append(
                await publish_one(
                    uow=world.uow,
                    box=world.box,
                    directory=directory or FakeDirectory(),
                    delivery=claimed,
                    claim_id=claim.id,
                    budget_s=1.0,
                )
            )


def secret_values(world: World, integration_id: UUID) -> set[str]:
    row = world.store.integrations[integration_id]
    return {
        world.box.open_text(s.ciphertext, context=signing_secret_context(integration_id, s.id))
        for s in row.secrets
        if not s.retired and s.ciphertext is not None
    }


# --- integrations ---------------------------------------------------------------------------

ACTOR_KEY = uuid.uuid4()


async def test_every_integration_change_is_announced_without_secrets(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    await update(world, created.id, name="Payments", pagerduty_api_token="pd-token-2")
    await update(world, created.id, add_signing_secret=SECRET_B)
    await update(world, created.id, name="Payments")  # no change: nothing to announce
    await integrations.delete_integration(
        uow=world.uow, org_id=ORG, integration_id=created.id, by=ACTOR_KEY
    )

    events = world.integration_events
    assert [e.event_type for e in events] == [
        "IntegrationCreated",
        "IntegrationChanged",
        "SigningSecretsRotated",
        "IntegrationDeleted",
    ]
    assert {e.payload.integration_id for e in events} == {created.id}
    assert {e.payload.changed_by_key for e in events} == {ACTOR_KEY}
    assert {e.org_id for e in events} == {ORG}
    assert isinstance(events[1], IntegrationChanged)
    assert events[1].payload.changed == ("name", "pagerduty_api_token")
    assert isinstance(events[2], SigningSecretsRotated)
    assert (events[2].payload.added, events[2].payload.retired) == (1, 0)
    text = "".join(e.model_dump_json() for e in events)
    for secret in (SECRET_A, SECRET_B, "pd-token", "pd-token-2"):
        assert f'"{secret}"' not in text


def full(alert: object) -> AlertPayload:
    """The payload of an alert that carries the whole incident (not an AlertActivity)."""
    assert not isinstance(alert, AlertActivity)
    assert isinstance(alert, AlertTriggered | AlertAcknowledged | AlertResolved)
    return alert.payload


async def test_create_generates_a_secret_and_seals_secret_and_token(world: World) -> None:
    saved = await create(world, default_severity=" SEV1 ")

    integration = saved.integration
    assert saved.generated_secret is not None
    assert secret_values(world, integration.id) == {saved.generated_secret}
    stored = world.store.integrations[integration.id]
    assert stored.api_token_ciphertext is not None
    assert b"pd-token" not in stored.api_token_ciphertext
    token_context = api_token_context(integration.id)
    assert world.box.open_text(stored.api_token_ciphertext, context=token_context) == "pd-token"
    assert integration.has_api_token
    assert integration.default_severity == "SEV1"
    assert len(integration.secrets) == 1
    assert world.uow.db.commits == 1


async def test_create_with_given_secrets_returns_none_generated(world: World) -> None:
    saved = await create(world, secrets=[SECRET_A, SECRET_B], token=None)

    assert saved.generated_secret is None
    assert secret_values(world, saved.integration.id) == {SECRET_A, SECRET_B}
    assert not saved.integration.has_api_token


async def test_create_refuses_a_url_off_the_allow_list_and_stores_nothing(world: World) -> None:
    with pytest.raises(InvalidIntegration) as refused:
        await create(world, pagerduty_api_url="https://internal.example/")

    assert refused.value.code == "api_url_not_allowed"
    assert world.store.integrations == {}


async def test_list_and_get_see_only_the_orgs_live_integrations(world: World) -> None:
    first = (await create(world, name="First")).integration
    second = (await create(world, name="Second")).integration
    other = (await create(world, org_id=uuid.uuid4())).integration

    listed = await integrations.list_integrations(uow=world.uow, org_id=ORG)
    got = await integrations.get_integration(uow=world.uow, org_id=ORG, integration_id=second.id)

    assert [i.name for i in listed] == ["First", "Second"]
    assert got.id == second.id
    with pytest.raises(IntegrationNotFound):
        await integrations.get_integration(uow=world.uow, org_id=ORG, integration_id=other.id)
    assert first.id in world.store.integrations


async def test_update_changes_only_what_it_names(world: World) -> None:
    created = (await create(world, default_incident_type="Outage")).integration
    token_before = world.store.integrations[created.id].api_token_ciphertext

    saved = await update(world, created.id, name=" Payments ", default_severity="SEV2")

    updated = saved.integration
    assert (updated.name, updated.default_severity) == ("Payments", "SEV2")
    assert updated.default_incident_type == "Outage"
    assert updated.pagerduty_api_url == API_URL
    assert world.store.integrations[created.id].api_token_ciphertext == token_before
    assert saved.generated_secret is None
    assert created.id in world.store.changed_targets


async def test_update_removes_or_replaces_the_api_token(world: World) -> None:
    created = (await create(world)).integration

    removed = await update(world, created.id, pagerduty_api_token=None)
    assert not removed.integration.has_api_token
    replaced = await update(world, created.id, pagerduty_api_token="new-token")

    stored = world.store.integrations[created.id].api_token_ciphertext
    assert replaced.integration.has_api_token
    assert stored is not None
    assert world.box.open_text(stored, context=api_token_context(created.id)) == "new-token"


async def test_a_refused_update_changes_nothing(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    before = copy.deepcopy(world.store.integrations[created.id])

    with pytest.raises(InvalidIntegration):
        await update(world, created.id, name="x", pagerduty_api_url="http://api.pagerduty.com")
    with pytest.raises(InvalidIntegration) as too_many:
        await update(world, created.id, name="y", signing_secrets=(SECRET_A, SECRET_B, SECRET_C))

    assert too_many.value.code == "secret_limit_reached"
    assert world.store.integrations[created.id] == before


async def test_updating_another_orgs_integration_is_not_found(world: World) -> None:
    other = (await create(world, org_id=uuid.uuid4())).integration

    with pytest.raises(IntegrationNotFound):
        await update(world, other.id, name="mine now")

    assert world.store.integrations[other.id].name == "Checkout"


async def test_a_rotation_adds_a_second_secret_then_retires_the_first(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    [old] = created.secrets

    added = await update(world, created.id, add_signing_secret=SECRET_B)
    assert secret_values(world, created.id) == {SECRET_A, SECRET_B}
    assert len(added.integration.secrets) == 2

    with pytest.raises(InvalidIntegration) as third:
        await update(world, created.id, add_signing_secret=SECRET_C)
    assert third.value.code == "secret_limit_reached"

    retired = await update(world, created.id, retire_signing_secret_ids=(old.id,))
    assert [s.id for s in retired.integration.secrets] != [old.id]
    assert secret_values(world, created.id) == {SECRET_B}
    wiped = next(s for s in world.store.integrations[created.id].secrets if s.id == old.id)
    assert wiped.ciphertext is None


async def test_retire_and_generate_in_one_request_swaps_the_secret(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A, SECRET_B])).integration

    saved = await update(
        world,
        created.id,
        retire_signing_secret_ids=tuple(s.id for s in created.secrets),
        generate_signing_secret=True,
    )

    assert saved.generated_secret is not None
    assert secret_values(world, created.id) == {saved.generated_secret}


async def test_retiring_an_unknown_or_the_last_secret_is_refused(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration

    with pytest.raises(InvalidIntegration) as unknown:
        await update(world, created.id, retire_signing_secret_ids=(uuid.uuid4(),))
    with pytest.raises(InvalidIntegration) as last:
        await update(world, created.id, retire_signing_secret_ids=(created.secrets[0].id,))

    assert (unknown.value.code, last.value.code) == ("unknown_signing_secret", "no_active_secret")
    assert secret_values(world, created.id) == {SECRET_A}


async def test_delete_wipes_secrets_and_token_and_hides_the_integration(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration

    await integrations.delete_integration(uow=world.uow, org_id=ORG, integration_id=created.id)

    stored = world.store.integrations[created.id]
    assert stored.deleted
    assert stored.api_token_ciphertext is None
    assert all(s.retired and s.ciphertext is None for s in stored.secrets)
    assert await integrations.list_integrations(uow=world.uow, org_id=ORG) == []
    with pytest.raises(IntegrationNotFound):
        await integrations.delete_integration(uow=world.uow, org_id=ORG, integration_id=created.id)
    with pytest.raises(IntegrationNotFound):
        await webhooks.receive_webhook(
            world.receiver, incoming(created.id, delivery("incident_triggered"))
        )


async def test_another_org_cannot_delete_an_integration(world: World) -> None:
    created = (await create(world)).integration

    with pytest.raises(IntegrationNotFound):
        await integrations.delete_integration(
            uow=world.uow, org_id=uuid.uuid4(), integration_id=created.id
        )

    assert not world.store.integrations[created.id].deleted


# --- the receiver ---------------------------------------------------------------------------


async def test_a_signed_trigger_is_stored_classified_and_wakes_the_worker(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A], default_severity="SEV2")).integration
    body = delivery("incident_triggered")

    receipt = await webhooks.receive_webhook(
        world.receiver,
        incoming(
            created.id, body, webhook_id="hook-1", query_incident_type="Outage", correlation_id="c1"
        ),
    )

    assert (receipt.delivery_id, receipt.duplicate, receipt.status) == ("hook-1", False, "received")
    [row] = world.store.deliveries.values()
    assert row.new.body == body
    assert (row.new.org_id, row.new.incident_type, row.new.severity) == (ORG, "Outage", "SEV2")
    assert row.new.event_type == "incident.triggered"
    assert row.new.correlation_id == "c1"
    assert world.woken == [True]


@pytest.mark.parametrize("fixture", ["pagey_ping", "service_updated"])
async def test_other_event_types_are_recorded_ignored_and_never_published(
    world: World, fixture: str
) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration

    receipt = await webhooks.receive_webhook(
        world.receiver, incoming(created.id, delivery(fixture))
    )

    assert (receipt.duplicate, receipt.status) == (False, "ignored")
    assert [r.status for r in world.store.deliveries.values()] == ["ignored"]
    assert world.woken == []
    assert await drain(world) == []
    assert world.alerts == []


async def test_a_repeated_delivery_is_a_duplicate_with_the_first_ones_status(
    world: World,
) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    body = delivery("incident_triggered")

    first = await webhooks.receive_webhook(
        world.receiver, incoming(created.id, body, webhook_id="w")
    )
    assert await drain(world) == ["published"]
    again = await webhooks.receive_webhook(
        world.receiver, incoming(created.id, body, webhook_id="w")
    )

    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.delivery_id == "w"
    assert again.status == "published"
    assert len(world.store.deliveries) == 1
    assert world.woken == [True]
    assert len(world.alerts) == 1


async def test_the_receiver_refuses_in_pagerdutys_order(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    good = delivery("incident_triggered")

    with pytest.raises(IntegrationNotFound):
        await webhooks.receive_webhook(world.receiver, incoming("not-a-uuid", good))
    with pytest.raises(IntegrationNotFound):
        await webhooks.receive_webhook(world.receiver, incoming(uuid.uuid4(), good))
    with pytest.raises(InvalidSignature):
        # Not even parsed: a bad signature comes before a malformed body.
        await webhooks.receive_webhook(world.receiver, incoming(created.id, b"{", SECRET_B))
    with pytest.raises(MalformedDelivery):
        await webhooks.receive_webhook(world.receiver, incoming(created.id, b"{"))

    assert world.store.deliveries == {}
    assert world.woken == []


async def test_an_unreadable_secret_asks_pagerduty_to_retry(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    world.store.integrations[created.id].secrets[0].ciphertext = b"garbage" * 8

    with pytest.raises(VerificationUnavailable):
        await webhooks.receive_webhook(
            world.receiver, incoming(created.id, delivery("incident_triggered"))
        )


async def test_storage_down_becomes_storage_unavailable(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    world.inbox.down = True

    with pytest.raises(StorageUnavailable):
        await webhooks.receive_webhook(
            world.receiver, incoming(created.id, delivery("incident_triggered"))
        )

    assert world.woken == []


# --- the worker -----------------------------------------------------------------------------


async def publish_one(
    *,
    uow: FakeUnitOfWork,
    box: SecretBox,
    directory: FakeDirectory,
    delivery: ClaimedDelivery,
    claim_id: uuid.UUID,
    budget_s: float,
) -> deliveries.Outcome:
    """One claimed delivery through the worker's two steps, alone (the worker groups the second
    across the alerts ready together)."""
    ready = await deliveries.prepare_alert(
        settings_of=lambda iid: deliveries.publishing_settings(uow, box, iid),
        directory=directory,
        delivery=delivery,
        claim_id=claim_id,
        budget_s=budget_s,
    )
    return (await deliveries.publish_alerts(uow=uow, ready=[ready]))[0]


async def publish_first(world: World, claim: deliveries.Claim) -> deliveries.Outcome:
    """The claim's first delivery through the worker's steps, with nobody to look up."""
    return await publish_one(
        uow=world.uow,
        box=world.box,
        directory=FakeDirectory(),
        delivery=claim.deliveries[0],
        claim_id=claim.id,
        budget_s=1.0,
    )


async def test_an_incidents_alerts_are_published_in_the_order_received(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    incident, other = new_incident_id(), new_incident_id()
    names = ["incident_triggered", "incident_acknowledged", "incident_resolved"]
    for name in names:
        body = delivery(name, incident_id=incident)
        await webhooks.receive_webhook(world.receiver, incoming(created.id, body))
    await webhooks.receive_webhook(
        world.receiver, incoming(created.id, delivery("incident_triggered", incident_id=other))
    )

    # The first pass may take only the oldest delivery of each incident.
    claim = await deliveries.claim_deliveries(uow=world.uow, limit=16, lease_s=30)
    assert sorted(d.dedupe_key for d in claim.deliveries) == sorted(
        r.new.dedupe_key
        for r in world.store.deliveries.values()
        if r.new.event_type == "incident.triggered"
    )
    for claimed in claim.deliveries:
        await publish_one(
            uow=world.uow,
            box=world.box,
            directory=FakeDirectory(),
            delivery=claimed,
            claim_id=claim.id,
            budget_s=1.0,
        )
    assert await drain(world) == ["published", "published"]

    mine = [a for a in world.alerts if a.payload.external_id == incident]
    assert [type(a) for a in mine] == [AlertTriggered, AlertAcknowledged, AlertResolved]
    assert all(r.status == "published" for r in world.store.deliveries.values())
    assert {r.enrichment_status for r in world.store.deliveries.values()} == {"complete"}
    assert mine[0].org_id == ORG
    assert full(mine[0]).creator_email == CREATOR_EMAIL
    assert full(mine[0]).oncall_emails == (ONCALL_EMAIL,)


async def test_a_lost_claim_publishes_nothing(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    await webhooks.receive_webhook(
        world.receiver, incoming(created.id, delivery("incident_triggered"))
    )
    claim = await deliveries.claim_deliveries(uow=world.uow, limit=16, lease_s=30)

    outcome = await publish_one(
        uow=world.uow,
        box=world.box,
        directory=FakeDirectory(),
        delivery=claim.deliveries[0],
        claim_id=uuid.uuid4(),  # another worker's claim meanwhile
        budget_s=1.0,
    )

    assert outcome == "lost_claim"
    assert world.alerts == []
    assert [r.status for r in world.store.deliveries.values()] == ["received"]


async def test_alerts_ready_together_are_published_in_one_transaction_except_lost_claims(
    world: World,
) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    for _ in range(3):
        body = delivery("incident_triggered", incident_id=new_incident_id())
        await webhooks.receive_webhook(world.receiver, incoming(created.id, body))
    claim = await deliveries.claim_deliveries(uow=world.uow, limit=16, lease_s=30)
    ready = [
        await deliveries.prepare_alert(
            settings_of=lambda iid: deliveries.publishing_settings(world.uow, world.box, iid),
            directory=FakeDirectory(),
            delivery=claimed,
            claim_id=claim.id,
            budget_s=1.0,
        )
        for claimed in claim.deliveries
    ]
    taken_over = replace(ready[1], claim_id=uuid.uuid4())  # another worker's now
    commits_before = world.uow.db.commits

    outcomes = await deliveries.publish_alerts(
        uow=world.uow, ready=[ready[0], taken_over, ready[2]]
    )

    assert outcomes == ["published", "lost_claim", "published"]
    assert world.uow.db.commits == commits_before + 1
    assert [a.payload.delivery_id for a in world.alerts] == [
        ready[0].delivery.dedupe_key,
        ready[2].delivery.dedupe_key,
    ]
    statuses = {r.new.dedupe_key: r.status for r in world.store.deliveries.values()}
    assert statuses[ready[1].delivery.dedupe_key] == "received"


async def test_an_integration_without_token_publishes_on_receipt(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A], token=None)).integration
    receipt = await webhooks.receive_webhook(
        world.receiver, incoming(created.id, delivery("incident_triggered"))
    )

    assert receipt.status == "published"
    [alert] = world.alerts
    assert isinstance(alert, AlertTriggered)
    assert full(alert).enrichment_status == "skipped"
    assert full(alert).creator_email is None
    assert world.woken == []  # nothing for the worker
    directory = FakeDirectory()
    assert await drain(world, directory) == []
    assert directory.calls == []
    [row] = world.store.deliveries.values()
    assert (row.status, row.enrichment_status) == ("published", "skipped")


async def test_the_alert_published_on_receipt_is_the_one_the_worker_would_build(
    world: World,
) -> None:
    # A priority map that is not the default one: both sides must read the integration's.
    severities = {"P1": "SEV3"}
    created = (
        await create(world, secrets=[SECRET_A], token=None, priority_severities=severities)
    ).integration
    body = delivery("incident_triggered", incident_id=new_incident_id(), priority="P1")
    await webhooks.receive_webhook(
        world.receiver, incoming(created.id, body, correlation_id="corr-1", query_severity="SEV2")
    )
    [on_receipt] = world.alerts
    [row] = world.store.deliveries.values()

    async def settings_of(integration_id: UUID) -> deliveries.PublishingSettings:
        return None, severities

    by_worker = await deliveries.prepare_alert(
        settings_of=settings_of,
        directory=FakeDirectory(),
        delivery=_claimed(row),
        claim_id=uuid.uuid4(),
        budget_s=1.0,
    )
    # Only the time differs: the worker stamps the row's arrival, the receiver its own clock.
    assert on_receipt.model_dump(exclude={"occurred_at"}) == by_worker.alert.model_dump(
        exclude={"occurred_at"}
    )
    assert full(on_receipt).severity == "SEV2"
    assert full(on_receipt).priority_severity == "SEV3"
    assert on_receipt.correlation_id == "corr-1"


async def test_a_users_acknowledgement_goes_to_the_worker_and_holds_its_incident(
    world: World,
) -> None:
    created = (await create(world, secrets=[SECRET_A], token=None)).integration
    incident = new_incident_id()
    statuses = []
    for name in ("incident_triggered", "incident_acknowledged", "incident_escalated"):
        body = delivery(name, incident_id=incident)
        receipt = await webhooks.receive_webhook(world.receiver, incoming(created.id, body))
        statuses.append(receipt.status)

    # The acknowledgement may be the echo of Fireline's own change, which only the worker
    # recognises; the escalation after it waits for it rather than overtaking it.
    assert statuses == ["published", "received", "received"]
    assert await drain(world) == ["published", "published"]
    assert [type(a) for a in world.alerts] == [AlertTriggered, AlertAcknowledged, AlertUpdated]
    assert [getattr(a.payload, "enrichment_status", None) for a in world.alerts] == ["skipped"] * 3


async def test_a_token_that_does_not_decrypt_degrades_to_skipped(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    world.store.integrations[created.id].api_token_ciphertext = b"\x00" * 40
    await webhooks.receive_webhook(
        world.receiver, incoming(created.id, delivery("incident_triggered"))
    )

    assert await drain(world) == ["published"]

    assert full(world.alerts[0]).enrichment_status == "skipped"


async def test_deliveries_accepted_before_a_deletion_still_go_out(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    await webhooks.receive_webhook(
        world.receiver, incoming(created.id, delivery("incident_triggered"))
    )
    await integrations.delete_integration(uow=world.uow, org_id=ORG, integration_id=created.id)

    assert await drain(world) == ["published"]
    assert len(world.alerts) == 1


async def test_the_worker_publishes_what_the_receiver_parsed_without_parsing_the_body(
    world: World,
) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    incident = new_incident_id()
    await webhooks.receive_webhook(
        world.receiver, incoming(created.id, delivery("incident_triggered", incident_id=incident))
    )
    [row] = world.store.deliveries.values()
    assert row.new.parsed_event is not None
    # Were the body parsed again, this would make the delivery unpublishable.
    row.new = replace(row.new, body=b"not json")
    claim = await deliveries.claim_deliveries(uow=world.uow, limit=16, lease_s=30)

    assert await publish_first(world, claim) == "published"
    [alert] = world.alerts
    assert alert.payload.external_id == incident


async def test_an_ignored_delivery_is_stored_without_a_parsed_event(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration

    await webhooks.receive_webhook(world.receiver, incoming(created.id, delivery("pagey_ping")))

    [row] = world.store.deliveries.values()
    assert (row.status, row.new.parsed_event) == ("ignored", None)


async def test_a_delivery_that_cannot_be_parsed_is_unpublishable(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    await webhooks.receive_webhook(
        world.receiver, incoming(created.id, delivery("incident_triggered"))
    )
    [row] = world.store.deliveries.values()
    # A row stored before the receiver kept its parse: only the body is there to read.
    row.new = replace(row.new, body=b"not json", parsed_event=None)
    claim = await deliveries.claim_deliveries(uow=world.uow, limit=16, lease_s=30)

    with pytest.raises(UnpublishableDelivery):
        await publish_first(world, claim)
    gave_up = await deliveries.release_delivery(
        uow=world.uow,
        delivery=claim.deliveries[0],
        claim_id=claim.id,
        error="UnpublishableDelivery",
        retry_in_s=1.0,
        max_attempts=10,
        hopeless=True,
    )

    assert gave_up
    assert row.status == "failed"
    assert world.alerts == []


async def test_a_value_storage_refuses_rolls_back_and_is_unpublishable(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    await webhooks.receive_webhook(
        world.receiver, incoming(created.id, delivery("incident_triggered"))
    )
    claim = await deliveries.claim_deliveries(uow=world.uow, limit=16, lease_s=30)
    refused = UnstorableValue("invalid byte sequence")
    refused.__cause__ = LookupError("text refused")
    world.uow.db.fail_next_commit(refused)

    with pytest.raises(UnpublishableDelivery, match=r"^LookupError: text refused"):
        await publish_first(world, claim)

    assert world.uow.db.rollbacks == 1
    assert [r.status for r in world.store.deliveries.values()] == ["received"]
    assert world.alerts == []


async def test_a_failed_delivery_is_retried_until_its_attempts_run_out(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    await webhooks.receive_webhook(
        world.receiver, incoming(created.id, delivery("incident_triggered"))
    )
    [row] = world.store.deliveries.values()

    outcomes = []
    for _ in range(3):
        claim = await deliveries.claim_deliveries(uow=world.uow, limit=16, lease_s=30)
        outcomes.append(
            await deliveries.release_delivery(
                uow=world.uow,
                delivery=claim.deliveries[0],
                claim_id=claim.id,
                error="boom",
                retry_in_s=1.0,
                max_attempts=3,
            )
        )

    assert outcomes == [False, False, True]
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, "boom")


async def test_pruning_deletes_old_finished_deliveries_in_batches(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    for _ in range(5):
        await webhooks.receive_webhook(world.receiver, incoming(created.id, delivery("pagey_ping")))
    await webhooks.receive_webhook(
        world.receiver, incoming(created.id, delivery("incident_triggered"))
    )

    deleted = await deliveries.prune_deliveries(
        uow=world.uow, finished_before=datetime(2024, 5, 2, tzinfo=UTC), batch_size=2
    )

    assert deleted == 5
    assert [r.status for r in world.store.deliveries.values()] == ["received"]
    assert world.uow.db.commits >= 3  # one transaction per batch


# --- enrichment -----------------------------------------------------------------------------

CREDENTIALS = ApiCredentials(base_url=API_URL, token="pd-token")


def triggered_by_a_person() -> bytes:
    return delivery("incident_triggered", agent_user_id=TRIGGERING_USER_ID)


async def test_enrichment_finds_creator_and_oncall() -> None:
    directory = FakeDirectory()

    found = await enrich(
        directory=directory,
        credentials=CREDENTIALS,
        event=parse_delivery(triggered_by_a_person()),
        budget_s=1.0,
    )

    assert (found.creator_email, found.oncall_emails, found.status) == (
        CREATOR_EMAIL,
        (ONCALL_EMAIL,),
        "complete",
    )
    assert ("oncalls", ESCALATION_POLICY_ID) in directory.calls


async def test_enrichment_without_credentials_is_skipped_and_calls_nobody() -> None:
    directory = FakeDirectory()

    found = await enrich(
        directory=directory,
        credentials=None,
        event=parse_delivery(triggered_by_a_person()),
        budget_s=1.0,
    )

    assert found.status == "skipped"
    assert directory.calls == []


async def test_an_acknowledgers_email_is_not_taken_for_the_creator() -> None:
    directory = FakeDirectory()

    found = await enrich(
        directory=directory,
        credentials=CREDENTIALS,
        event=parse_delivery(delivery("incident_acknowledged")),
        budget_s=1.0,
    )

    assert found.creator_email is None
    assert [kind for kind, _ in directory.calls] == ["oncalls"]
    assert found.status == "complete"


@pytest.mark.parametrize(
    "failure", [PagerDutyUnavailable("GET /users answered 500"), KeyError("surprise")]
)
async def test_a_failed_lookup_leaves_its_email_out(failure: BaseException) -> None:
    found = await enrich(
        directory=FakeDirectory(creator=failure),
        credentials=CREDENTIALS,
        event=parse_delivery(triggered_by_a_person()),
        budget_s=1.0,
    )

    assert (found.creator_email, found.oncall_emails, found.status) == (
        None,
        (ONCALL_EMAIL,),
        "partial",
    )


async def test_lookups_past_the_budget_are_cancelled_and_count_as_failed() -> None:
    directory = FakeDirectory(hang=("creator", "oncall"))

    found = await enrich(
        directory=directory,
        credentials=CREDENTIALS,
        event=parse_delivery(triggered_by_a_person()),
        budget_s=0.05,
    )

    assert (found.creator_email, found.oncall_emails, found.status) == (None, (), "failed")
    assert sorted(directory.cancelled) == ["creator", "oncall"]


async def test_a_slow_oncall_lookup_still_leaves_the_creator() -> None:
    directory = FakeDirectory(hang=("oncall",))

    found = await enrich(
        directory=directory,
        credentials=CREDENTIALS,
        event=parse_delivery(triggered_by_a_person()),
        budget_s=0.05,
    )

    assert (found.creator_email, found.status) == (CREATOR_EMAIL, "partial")
    assert directory.cancelled == ["oncall"]


async def test_a_published_alert_carries_the_degraded_enrichment(world: World) -> None:
    created = (await create(world, secrets=[SECRET_A])).integration
    await webhooks.receive_webhook(
        world.receiver, incoming(created.id, triggered_by_a_person(), webhook_id="deg")
    )
    directory = FakeDirectory(oncall=PagerDutyUnavailable("rate limited"))

    assert await drain(world, directory) == ["published"]

    [alert] = world.alerts
    assert full(alert).enrichment_status == "partial"
    assert full(alert).creator_email == CREATOR_EMAIL
    assert full(alert).oncall_emails == ()
    [row] = world.store.deliveries.values()
    assert row.enrichment_status == "partial"


def test_open_targets_do_not_show_their_secrets() -> None:
    target = WebhookTarget(
        id=uuid.uuid4(), org_id=ORG, default_severity=None, default_incident_type=None, secrets=()
    )
    assert SECRET_A not in repr(OpenTarget(target=target, secrets=(SECRET_A,), unreadable=False))


# --- Fireline → PagerDuty sync -------------------------------------------------------------------

FROM_EMAIL = "fireline-bot@example.com"
SYNC_ON = WriteBack(sync_to_pagerduty=True, sync_notes=True, from_email=FROM_EMAIL)
PD_USER = "PFIRELINE"


@dataclass
class FakeWriter:
    """PagerDuty's write API: records each call and answers from a script (then 200)."""

    answers: list[CallResult] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)

    async def set_status(
        self, *, base_url: str, token: str, from_email: str, incident_id: str, status: str
    ) -> CallResult:
        self.calls.append(
            {"token": token, "from": from_email, "incident": incident_id, "status": status}
        )
        return self.answers.pop(0) if self.answers else CallResult(200, pagerduty_user_id=PD_USER)

    async def add_note(
        self, *, base_url: str, token: str, from_email: str, incident_id: str, content: str
    ) -> CallResult:
        self.calls.append(
            {"token": token, "from": from_email, "incident": incident_id, "note": content}
        )
        return self.answers.pop(0) if self.answers else CallResult(201)


def dispatcher(world: World, writer: FakeWriter, now: list[datetime]) -> SyncDispatcher:
    return SyncDispatcher(
        uow=UnitOfWorkFactory(lambda conn: world.uow),
        box=world.box,
        writer=writer,
        settings=SyncDispatchSettings(schedule=(5.0,), lease=timedelta(seconds=30), batch_size=8),
        now=lambda: now[0],
    )


async def linked_incident(world: World, write_back: WriteBack = SYNC_ON) -> tuple[UUID, str]:
    """A Fireline incident started from a delivery of a syncing integration, which has
    ``write_back`` afterwards."""
    created = (await create(world, secrets=[SECRET_A], write_back=SYNC_ON)).integration
    external_id = new_incident_id()
    body = delivery("incident_triggered", incident_id=external_id)
    await webhooks.receive_webhook(world.receiver, incoming(created.id, body))
    incident_id = uuid.uuid4()
    origin = IncidentOrigin(org_id=ORG, incident_id=incident_id, external_id=external_id)
    assert await sync.link_incidents(uow=world.uow, origins=[origin]) == 1
    if write_back != SYNC_ON:
        await update(
            world,
            created.id,
            sync_to_pagerduty=write_back.sync_to_pagerduty,
            sync_notes=write_back.sync_notes,
        )
    return incident_id, external_id


@pytest.mark.parametrize(
    ("token", "write_back", "refusal"),
    [
        (None, SYNC_ON, "needs pagerduty_api_token"),
        ("pd-token", WriteBack(sync_to_pagerduty=True), "needs from_email"),
        ("pd-token", WriteBack(sync_notes=True, from_email=FROM_EMAIL), "needs sync_to_pagerduty"),
        ("pd-token", replace(SYNC_ON, from_email="not an email"), "must be an email"),
    ],
)
async def test_sync_is_refused_without_what_sending_needs_and_nothing_is_stored(
    world: World, token: str | None, write_back: WriteBack, refusal: str
) -> None:
    with pytest.raises(InvalidIntegration, match=refusal):
        await create(world, token=token, write_back=write_back)
    assert world.store.integrations == {}


async def test_removing_the_token_of_a_syncing_integration_is_refused(world: World) -> None:
    created = (await create(world, write_back=SYNC_ON)).integration
    with pytest.raises(InvalidIntegration, match="needs pagerduty_api_token"):
        await update(world, created.id, pagerduty_api_token=None)
    kept = await integrations.get_integration(uow=world.uow, org_id=ORG, integration_id=created.id)
    assert kept.has_api_token
    assert kept.write_back == SYNC_ON


async def test_turning_sync_on_is_audited_by_setting_name(world: World) -> None:
    created = (await create(world)).integration
    await update(world, created.id, sync_to_pagerduty=True, from_email=FROM_EMAIL)
    changed = world.integration_events[-1]
    assert isinstance(changed, IntegrationChanged)
    assert changed.payload.changed == ("sync_to_pagerduty", "from_email")


async def test_a_change_made_in_fireline_is_sent_once_with_the_from_header(world: World) -> None:
    incident_id, external_id = await linked_incident(world)
    event_id = uuid.uuid4()
    for _ in range(2):  # the incidents event delivered twice
        await sync.request_sync(
            uow=world.uow, source_event_id=event_id, incident_id=incident_id, action="resolve"
        )
    writer, now = FakeWriter(), [datetime(2024, 5, 1, 12, 1, tzinfo=UTC)]

    await dispatcher(world, writer, now).pass_once()
    await dispatcher(world, writer, now).pass_once()

    assert writer.calls == [
        {"token": "pd-token", "from": FROM_EMAIL, "incident": external_id, "status": "resolved"}
    ]
    (attempt,) = world.sync_events
    assert (attempt.payload.action, attempt.payload.outcome) == ("resolve", "succeeded")
    assert attempt.payload.incident_id == incident_id


async def test_nothing_is_stored_for_an_integration_without_sync(world: World) -> None:
    incident_id, _ = await linked_incident(world, write_back=OFF)
    stored = await sync.request_sync(
        uow=world.uow, source_event_id=uuid.uuid4(), incident_id=incident_id, action="resolve"
    )
    assert stored is False
    assert world.store.sync_requests == []


async def test_notes_need_sync_notes(world: World) -> None:
    without_notes = replace(SYNC_ON, sync_notes=False)
    incident_id, _ = await linked_incident(world, write_back=without_notes)
    assert not await sync.request_sync(
        uow=world.uow,
        incident_id=incident_id,
        source_event_id=uuid.uuid4(),
        action="note",
        note="x",
    )
    assert await sync.request_sync(
        uow=world.uow, incident_id=incident_id, source_event_id=uuid.uuid4(), action="acknowledge"
    )


async def test_a_429_waits_for_retry_after_and_a_403_stops(world: World) -> None:
    incident_id, _ = await linked_incident(world)
    for action in ("acknowledge", "resolve"):
        await sync.request_sync(
            uow=world.uow, source_event_id=uuid.uuid4(), incident_id=incident_id, action=action
        )
    writer = FakeWriter(
        answers=[CallResult(429, "Rate Limit Exceeded", retry_after_s=20), CallResult(200)]
    )
    now = [datetime(2024, 5, 1, 12, 1, tzinfo=UTC)]
    await dispatcher(world, writer, now).pass_once()
    now[0] += timedelta(seconds=19)
    await dispatcher(world, writer, now).pass_once()
    assert len(writer.calls) == 1, "not before Retry-After, and the resolve waits its turn"
    now[0] += timedelta(seconds=2)
    await dispatcher(world, writer, now).pass_once()
    writer.answers.append(CallResult(403, "Access Denied"))
    await dispatcher(world, writer, now).pass_once()
    now[0] += timedelta(hours=1)
    await dispatcher(world, writer, now).pass_once()

    assert [c["status"] for c in writer.calls] == ["acknowledged", "acknowledged", "resolved"]
    outcomes = [(e.payload.action, e.payload.outcome) for e in world.sync_events]
    assert outcomes == [
        ("acknowledge", "rate_limited"),
        ("acknowledge", "succeeded"),
        ("resolve", "refused"),
    ]
    assert world.sync_events[-1].payload.status_code == 403


async def test_pagerdutys_webhook_for_fireline_own_change_is_published_as_its_echo(
    world: World,
) -> None:
    incident_id, external_id = await linked_incident(world)
    await drain(world)
    await sync.request_sync(
        uow=world.uow, source_event_id=uuid.uuid4(), incident_id=incident_id, action="resolve"
    )
    # The fake inbox stamps every delivery 12:00; the call was made just before.
    called_at = datetime(2024, 5, 1, 11, 59, tzinfo=UTC)
    await dispatcher(world, FakeWriter(), [called_at]).pass_once()
    (request,) = world.store.sync_requests
    integration_id = request.request.integration_id
    for _ in range(2):  # the echo, then someone resolving again in PagerDuty as the same user
        body = delivery(
            "incident_resolved",
            incident_id=external_id,
            event_id=uuid.uuid4().hex,
            agent_user_id=PD_USER,
        )
        await webhooks.receive_webhook(world.receiver, incoming(integration_id, body))
        await drain(world)

    echo, later = [full(a) for a in world.alerts if isinstance(a, AlertResolved)]
    assert echo.fireline_change == request.request.id
    assert later.fireline_change is None, "one echo per change"


async def test_the_webhook_of_a_note_fireline_posted_is_its_echo_and_no_other_is(
    world: World,
) -> None:
    incident_id, external_id = await linked_incident(world)
    await drain(world)
    await sync.request_sync(
        uow=world.uow,
        source_event_id=uuid.uuid4(),
        incident_id=incident_id,
        action="note",
        note="rolled back",
    )
    writer = FakeWriter(answers=[CallResult(201, pagerduty_user_id=PD_USER)])
    await dispatcher(world, writer, [datetime(2024, 5, 1, 11, 59, tzinfo=UTC)]).pass_once()
    (request,) = world.store.sync_requests
    for text in ("someone else's words", "rolled back"):
        document = json.loads(
            delivery(
                "incident_annotated",
                incident_id=external_id,
                event_id=uuid.uuid4().hex,
                agent_user_id=PD_USER,
            )
        )
        document["event"]["data"]["content"] = text
        body = json.dumps(document).encode()
        await webhooks.receive_webhook(
            world.receiver, incoming(request.request.integration_id, body)
        )
        await drain(world)

    other, echo = [a.payload for a in world.alerts if isinstance(a, AlertActivity)]
    assert other.fireline_change is None
    assert echo.fireline_change == request.request.id


@pytest.mark.parametrize("write_back", [SYNC_ON, OFF])
async def test_a_reopening_is_never_sent_and_said_so_only_when_syncing(
    world: World, write_back: WriteBack
) -> None:
    incident_id, _ = await linked_incident(world, write_back=write_back)
    said = await sync.report_reopening(
        uow=world.uow,
        source_event_id=uuid.uuid4(),
        incident_id=incident_id,
        previous_status="resolved",
        at=datetime(2024, 5, 1, 12, 1, tzinfo=UTC),
    )

    assert world.store.sync_requests == []
    assert said is (write_back == SYNC_ON)
    outcomes = [(e.payload.action, e.payload.outcome) for e in world.sync_events]
    assert outcomes == ([("reopen", "refused")] if said else [])


# --- the incidents consumer's decisions ---------------------------------------------------------

INCIDENT = uuid.uuid4()
NO_CONNECTION = cast(Connection, object())
"""The fakes' unit of work takes no connection."""


@pytest.mark.parametrize(
    ("event", "treatment"),
    [
        (incident_started(ORG, source=from_pagerduty("PABC123")), "idempotent"),
        (incident_started(ORG), "ignore"),
        (incident_started(ORG, source=IncidentSource(kind="pagerduty")), "ignore"),
        (status_changed(ORG, INCIDENT, status="acknowledged"), "once"),
        (status_changed(ORG, INCIDENT, status="triggered", previous_status="resolved"), "once"),
        (status_changed(ORG, INCIDENT, status="resolved", changed_in="pagerduty"), "ignore"),
        (timeline_entry(ORG, INCIDENT, kind="note", source="api", text="x"), "once"),
        (timeline_entry(ORG, INCIDENT, kind="note", source="pagerduty", text="x"), "ignore"),
        (timeline_entry(ORG, INCIDENT, kind="started", source="pagerduty"), "ignore"),
        (timeline_entry(ORG, INCIDENT, kind="status_changed", source="api"), "ignore"),
    ],
    ids=lambda value: getattr(value, "event_type", value),
)
def test_the_incidents_consumer_claims_only_what_would_be_written_twice(
    world: World, event: EventEnvelope, treatment: Treatment
) -> None:
    handler = consumer(world, [])
    assert handler.triage is not None
    assert handler.triage(event) == treatment


def consumer(world: World, woken: list[bool]) -> EventHandler:
    return incidents_consumer(
        UnitOfWorkFactory(lambda conn: world.uow), wake=lambda: woken.append(True)
    )


async def started_from(world: World, integration_id: UUID) -> IncidentStarted:
    """An ``IncidentStarted`` for a PagerDuty incident a delivery of the integration named."""
    external_id = new_incident_id()
    body = delivery("incident_triggered", incident_id=external_id)
    await webhooks.receive_webhook(world.receiver, incoming(integration_id, body))
    return incident_started(ORG, source=from_pagerduty(external_id))


async def apply(handler: EventHandler, events: Sequence[EventEnvelope]) -> None:
    """What the runtime does with a batch: the events it does not ignore, then each commit."""
    assert handler.handle_batch is not None
    assert handler.triage is not None
    kept = [event for event in events if handler.triage(event) != "ignore"]
    await handler.handle_batch(NO_CONNECTION, kept)
    for event in events:
        assert handler.after_commit is not None
        handler.after_commit(event)


async def test_a_batch_links_the_incidents_of_syncing_integrations_in_one_transaction(
    world: World,
) -> None:
    syncing = (await create(world, secrets=[SECRET_A], write_back=SYNC_ON)).integration
    silent = (await create(world, secrets=[SECRET_A], name="Silent")).integration
    on = [await started_from(world, syncing.id) for _ in range(3)]
    off = [await started_from(world, silent.id) for _ in range(3)]
    woken: list[bool] = []
    handler = consumer(world, woken)
    commits = world.uow.db.commits

    await apply(handler, [*on, *off])
    await apply(handler, [*on, *off])  # the batch redelivered

    assert {link.incident_id for link in world.store.links.values()} == {
        e.payload.incident_id for e in on
    }
    assert {link.integration_id for link in world.store.links.values()} == {syncing.id}
    assert world.uow.db.commits - commits == 2, "one transaction per batch, not one per event"
    assert woken == [], "nothing for the dispatcher to send"


async def test_a_change_made_in_fireline_in_the_batch_that_started_the_incident_is_stored(
    world: World,
) -> None:
    syncing = (await create(world, secrets=[SECRET_A], write_back=SYNC_ON)).integration
    started = await started_from(world, syncing.id)
    incident_id = started.payload.incident_id
    acknowledged = status_changed(ORG, incident_id, status="acknowledged")
    mirrored = status_changed(ORG, incident_id, status="resolved", changed_in="pagerduty")
    woken: list[bool] = []
    handler = consumer(world, woken)

    await apply(handler, [started, acknowledged, mirrored])

    assert [(r.request.action, r.source_event_id) for r in world.store.sync_requests] == [
        ("acknowledge", acknowledged.event_id)
    ]
    assert woken == [True], "woken once, for the one request"


async def test_an_incident_started_while_sync_was_off_stays_unsynced_once_it_is_on(
    world: World,
) -> None:
    integration = (await create(world, secrets=[SECRET_A])).integration
    handler = consumer(world, [])
    before = await started_from(world, integration.id)
    await apply(handler, [before])
    await update(world, integration.id, sync_to_pagerduty=True, from_email=FROM_EMAIL)
    after = await started_from(world, integration.id)
    await apply(handler, [after])

    await apply(
        handler,
        [
            status_changed(ORG, before.payload.incident_id, status="resolved"),
            status_changed(ORG, after.payload.incident_id, status="resolved"),
        ],
    )

    assert [r.request.incident_id for r in world.store.sync_requests] == [after.payload.incident_id]
