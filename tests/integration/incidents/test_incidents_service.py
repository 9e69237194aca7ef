"""The incidents service against real PostgreSQL and the real Kafka-protocol broker.

Events are fed the way identity, auth and pagerduty-ingest would publish them (contract models on
the prefixed topics); outcomes are read back through the HTTP API with access tokens minted by
:class:`support.token_issuer.TokenIssuer` and verified through the JWKS it serves on loopback,
exactly as the auth service's would be.

One service instance serves the whole module; every test works in an org of its own, so tests
cannot see each other's incidents or users.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from fireline_contracts import (
    ALERTS,
    INCIDENTS,
    KEYS,
    USERS,
    AlertAcknowledged,
    AlertActivity,
    AlertActivityPayload,
    AlertAgent,
    AlertAssignee,
    AlertPayload,
    AlertResolved,
    AlertTriggered,
    AlertUpdated,
    EventEnvelope,
    IncidentAssignmentChanged,
    IncidentStarted,
    IncidentStatusChanged,
    IncidentTimelineEntryAdded,
    KeyRevoked,
    KeyRevokedPayload,
    UserCreated,
    UserDeactivated,
    UserPayload,
    parse_event,
    topic_name,
)
from fireline_devtools.postgres import Postgres
from fireline_incidents.adapters.postgres import PgUnitOfWork
from fireline_incidents.bootstrap import create_app
from fireline_incidents.config import Settings
from fireline_incidents.domain.commands import ApplyAlert
from fireline_incidents.service_layer import source_events
from fireline_runtime.service import ServiceRuntime
from support import infra
from support.in_process import serving
from support.kafka import client_options, read_topic
from support.token_issuer import ALL_SCOPES, TokenIssuer
from support.waiting import wait_for

pytestmark = pytest.mark.integration

ISSUER = "http://auth.fireline.test"
AUDIENCE = "fireline-api"
WAIT_S = 20.0

AlertEvent = AlertTriggered | AlertAcknowledged | AlertResolved | AlertUpdated
_Watched = (
    IncidentStarted | IncidentStatusChanged | IncidentAssignmentChanged | IncidentTimelineEntryAdded
)


# -- the service under test -------------------------------------------------------------------


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    producer: AIOKafkaProducer
    token_issuer: TokenIssuer
    bootstrap: str
    prefix: str
    key_ids: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)

    @property
    def runtime(self) -> ServiceRuntime:
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime

    def headers(
        self,
        org_id: uuid.UUID,
        scopes: Sequence[str] = ALL_SCOPES,
        *,
        key_id: uuid.UUID | None = None,
    ) -> dict[str, str]:
        key = key_id or self.key_ids.setdefault(org_id, uuid.uuid4())
        token = self.token_issuer.token(org_id=org_id, scopes=scopes, key_id=key)
        return {"Authorization": f"Bearer {token}"}

    async def publish(self, spec: Any, *events: EventEnvelope, key: str | None = None) -> None:
        """Publish in order; ``key`` overrides each event's Kafka key to pin one partition."""
        for event in events:
            await self.producer.send_and_wait(
                topic_name(spec, self.prefix),
                event.to_bytes(),
                key=(key or event.kafka_key).encode(),
            )

    async def add_user(
        self, org_id: uuid.UUID, email: str, *, deactivate: bool = False
    ) -> uuid.UUID:
        """Publish a user as identity would, and wait until the projection holds its last state."""
        user_id = uuid.uuid4()
        payload = UserPayload(user_id=user_id, email=email, name=email, role="member", active=True)
        events: list[EventEnvelope] = [UserCreated(org_id=org_id, payload=payload)]
        if deactivate:
            gone = payload.model_copy(update={"active": False})
            events.append(UserDeactivated(org_id=org_id, payload=gone))
        await self.publish(USERS, *events)

        async def projected() -> bool:
            async with self.runtime.pool.acquire() as conn:
                active = await conn.fetchval("SELECT active FROM users WHERE user_id = $1", user_id)
            return active is not None and active is (not deactivate)

        assert await wait_for(projected, WAIT_S), "the users projection never caught up"
        return user_id

    async def incidents(self, org_id: uuid.UUID, **params: str | int) -> list[dict[str, Any]]:
        response = await self.client.get(
            "/v1/incidents", params={"limit": 100, **params}, headers=self.headers(org_id)
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def wait_for_incident(
        self,
        org_id: uuid.UUID,
        external_id: str,
        until: Callable[[dict[str, Any]], bool] = lambda _: True,
    ) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        async def arrived() -> bool:
            found[:] = await self.incidents(org_id, external_id=external_id)
            return bool(found) and until(found[0])

        assert await wait_for(arrived, WAIT_S), f"incident {external_id} never got there: {found}"
        return found[0]

    async def barrier(self, org_id: uuid.UUID, key: str) -> None:
        """Wait until everything published earlier with Kafka key ``key`` has been consumed.

        One key is one partition, consumed in order: once an alert sent last under that key has
        started its incident, every earlier alert under the key has been handled.
        """
        marker = f"barrier-{uuid.uuid4().hex[:8]}"
        await self.publish(ALERTS, alert(AlertTriggered, org_id, marker), key=key)
        await self.wait_for_incident(org_id, marker)

    async def incident_events(
        self,
        incident_id: str,
        kinds: tuple[type[_Watched], ...] = (IncidentStarted, IncidentStatusChanged),
    ) -> list[EventEnvelope]:
        """The events of ``kinds`` published on the incidents topic about ``incident_id``, in
        order."""
        relay = self.runtime.relay
        assert relay is not None

        async def drained() -> bool:
            return await relay.pending() == 0

        assert await wait_for(drained, WAIT_S), "the outbox never drained"
        topic = topic_name(INCIDENTS, self.prefix)
        async with self.runtime.pool.acquire() as conn:
            published = await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", topic)
        records = await read_topic(self.bootstrap, topic, until=published, timeout=WAIT_S)
        events = [parse_event(r.value, spec=INCIDENTS) for r in records if r.value is not None]
        return [
            e for e in events if isinstance(e, kinds) and str(e.payload.incident_id) == incident_id
        ]


def alert(
    kind: type[AlertEvent],
    org_id: uuid.UUID,
    external_id: str,
    *,
    occurred_at: datetime | None = None,
    **fields: Any,
) -> AlertEvent:
    payload = AlertPayload(
        integration_id=uuid.UUID(int=7),
        external_id=external_id,
        number=42,
        title=fields.pop("title", f"Checkout is down ({external_id})"),
        urgency="high",
        html_url=f"https://acme.pagerduty.com/incidents/{external_id}",
        service_id="PSVC01",
        service_name="Checkout",
        escalation_policy_id="PESC01",
        alert_occurred_at=occurred_at or datetime.now(UTC),
        delivery_id=uuid.uuid4().hex,
        pagerduty_event_type=fields.pop("pagerduty_event_type", None)
        or {
            AlertTriggered: "incident.triggered",
            AlertAcknowledged: "incident.acknowledged",
            AlertResolved: "incident.resolved",
        }[kind],
        enrichment_status="complete",
        **fields,
    )
    return kind(org_id=org_id, payload=payload)


@pytest.fixture(scope="module")
async def service(postgres: Postgres, kafka: str) -> AsyncIterator[Harness]:
    database = await infra.fresh_database(postgres, "incidents")
    prefix = infra.unique("t") + "."
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, enable_idempotence=False, **client_options()
    )
    await producer.start()
    try:
        with TokenIssuer(issuer_url=ISSUER, audience=AUDIENCE) as token_issuer:
            settings = Settings(
                database_url=database,
                kafka_bootstrap_servers=kafka,
                topic_prefix=prefix,
                kafka_session_timeout_ms=6000,
                outbox_poll_interval_s=0.2,
                jwks_url=token_issuer.jwks_url,
                token_issuer=ISSUER,
                token_audience=AUDIENCE,
            )
            app = create_app(settings)
            async with serving(app, join_timeout=WAIT_S) as client:
                yield Harness(app, client, producer, token_issuer, kafka, prefix)
    finally:
        await producer.stop()
        await infra.drop(postgres, database)


def new_org() -> uuid.UUID:
    return uuid.uuid4()


def ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


# -- alerts start incidents -------------------------------------------------------------------


async def test_an_alert_matching_no_user_still_starts_an_incident_without_creator(
    service: Harness,
) -> None:
    org = new_org()
    await service.add_user(org, "someone@example.com")
    started_at = ago(3)

    await service.publish(
        ALERTS,
        alert(
            AlertTriggered,
            org,
            "PNOMATCH",
            occurred_at=started_at,
            creator_email="stranger@example.com",
            oncall_emails=("also-unknown@example.com",),
            severity="SEV1",
            incident_type="Security",
        ),
    )
    incident = await service.wait_for_incident(org, "PNOMATCH")

    assert incident["creator_id"] is None
    assert incident["status"] == "triggered"
    assert incident["number"] == 1
    assert incident["title"] == "Checkout is down (PNOMATCH)"
    assert (incident["severity"], incident["incident_type"]) == ("SEV1", "Security")
    assert incident["source"] == {
        "kind": "pagerduty",
        "external_id": "PNOMATCH",
        "html_url": "https://acme.pagerduty.com/incidents/PNOMATCH",
        "service_id": "PSVC01",
        "service_name": "Checkout",
    }
    assert datetime.fromisoformat(incident["created_at"]) == started_at
    assert incident["acknowledged_at"] is None
    assert incident["resolved_at"] is None
    assert set(incident) == {
        "id",
        "number",
        "title",
        "status",
        "severity",
        "incident_type",
        "creator_id",
        "source",
        "created_at",
        "acknowledged_at",
        "resolved_at",
        "updated_at",
        "reopen_count",
        "merged_into",
        "assignees",
        "escalation_policy_id",
        "escalation_policy_name",
        "source_priority",
    }


async def test_an_alert_without_severity_or_type_gets_the_defaults(service: Harness) -> None:
    org = new_org()

    await service.publish(ALERTS, alert(AlertTriggered, org, "PDEFAULTS"))
    incident = await service.wait_for_incident(org, "PDEFAULTS")

    assert (incident["severity"], incident["incident_type"]) == ("SEV3", "Default")


async def test_the_creator_email_matches_a_user_whatever_its_letter_case(
    service: Harness,
) -> None:
    org = new_org()
    alice = await service.add_user(org, "Alice.Smith@Example.com")
    oncall = await service.add_user(org, "oncall@example.com")

    await service.publish(
        ALERTS,
        alert(
            AlertTriggered,
            org,
            "PCASE",
            creator_email="  alice.smith@EXAMPLE.COM ",
            oncall_emails=("oncall@example.com",),
        ),
    )
    incident = await service.wait_for_incident(org, "PCASE")

    assert incident["creator_id"] == str(alice), "the creator beats the on-call user"
    assert incident["creator_id"] != str(oncall)


async def test_without_a_creator_match_the_first_matching_oncall_user_is_the_creator(
    service: Harness,
) -> None:
    org = new_org()
    second = await service.add_user(org, "second@example.com")
    await service.add_user(org, "third@example.com")

    await service.publish(
        ALERTS,
        alert(
            AlertTriggered,
            org,
            "PONCALL",
            creator_email="stranger@example.com",
            oncall_emails=("nobody@example.com", "SECOND@example.com", "third@example.com"),
        ),
    )
    incident = await service.wait_for_incident(org, "PONCALL")

    assert incident["creator_id"] == str(second)


async def test_deactivated_users_and_other_orgs_users_never_match(service: Harness) -> None:
    org, other_org = new_org(), new_org()
    await service.add_user(org, "gone@example.com", deactivate=True)
    await service.add_user(other_org, "elsewhere@example.com")

    await service.publish(
        ALERTS,
        alert(
            AlertTriggered,
            org,
            "PGONE",
            creator_email="gone@example.com",
            oncall_emails=("elsewhere@example.com", "gone@example.com"),
        ),
    )
    incident = await service.wait_for_incident(org, "PGONE")

    assert incident["creator_id"] is None


async def test_a_redelivered_or_repeated_trigger_never_starts_a_second_incident(
    service: Harness,
) -> None:
    org = new_org()
    trigger = alert(AlertTriggered, org, "PDUP")
    # The same event twice (a redelivery) and a new event for the same PagerDuty incident (a
    # replayed webhook with another delivery id).
    replay = alert(AlertTriggered, org, "PDUP", title="Replayed")

    await service.publish(ALERTS, trigger, trigger, replay)
    await service.barrier(org, "PDUP")

    incidents = await service.incidents(org, external_id="PDUP")
    assert len(incidents) == 1
    assert incidents[0]["title"] == "Checkout is down (PDUP)"
    assert incidents[0]["number"] == 1


async def test_a_resolve_arriving_before_its_trigger_leaves_the_incident_resolved(
    service: Harness,
) -> None:
    org = new_org()
    triggered_at, resolved_at = ago(10), ago(2)

    await service.publish(
        ALERTS,
        alert(AlertResolved, org, "PEARLY", occurred_at=resolved_at),
        alert(AlertTriggered, org, "PEARLY", occurred_at=triggered_at),
    )
    await service.barrier(org, "PEARLY")

    incidents = await service.incidents(org, external_id="PEARLY")
    assert len(incidents) == 1
    assert incidents[0]["status"] == "resolved"
    assert datetime.fromisoformat(incidents[0]["resolved_at"]) == resolved_at


async def test_acknowledge_and_resolve_follow_the_alert_and_are_announced(
    service: Harness,
) -> None:
    org = new_org()
    triggered_at, acked_at, resolved_at = ago(10), ago(6), ago(1)

    await service.publish(ALERTS, alert(AlertTriggered, org, "PLIFE", occurred_at=triggered_at))
    await service.publish(ALERTS, alert(AlertAcknowledged, org, "PLIFE", occurred_at=acked_at))
    acknowledged = await service.wait_for_incident(
        org, "PLIFE", until=lambda i: i["status"] == "acknowledged"
    )
    assert datetime.fromisoformat(acknowledged["acknowledged_at"]) == acked_at
    assert acknowledged["resolved_at"] is None

    await service.publish(ALERTS, alert(AlertResolved, org, "PLIFE", occurred_at=resolved_at))
    resolved = await service.wait_for_incident(
        org, "PLIFE", until=lambda i: i["status"] == "resolved"
    )
    assert datetime.fromisoformat(resolved["resolved_at"]) == resolved_at
    assert datetime.fromisoformat(resolved["acknowledged_at"]) == acked_at

    events = await service.incident_events(resolved["id"])
    assert [e.event_type for e in events] == [
        "IncidentStarted",
        "IncidentStatusChanged",
        "IncidentStatusChanged",
    ]
    started, acked, closed = events
    assert isinstance(started, IncidentStarted)
    assert started.org_id == org
    assert started.payload.number == resolved["number"]
    assert started.payload.status == "triggered"
    assert started.payload.source is not None
    assert started.payload.source.external_id == "PLIFE"
    assert started.payload.creator_id is None
    assert isinstance(acked, IncidentStatusChanged)
    assert (acked.payload.previous_status, acked.payload.status) == ("triggered", "acknowledged")
    assert isinstance(closed, IncidentStatusChanged)
    assert (closed.payload.previous_status, closed.payload.status) == ("acknowledged", "resolved")
    assert closed.payload.resolved_at == resolved_at


async def test_an_incident_starts_with_its_assignees_and_entries_and_announces_only_later_changes(
    service: Harness,
) -> None:
    org = new_org()
    grace = (AlertAssignee(id="PUB3D4E", name="Grace Hopper"),)
    linus = (AlertAssignee(id="PUC7K9M", name="Linus Pauling"),)

    await service.publish(
        ALERTS,
        alert(
            AlertTriggered,
            org,
            "PASSIGN",
            occurred_at=ago(5),
            assignees=grace,
            escalation_policy_name="Checkout",
        ),
    )
    await service.publish(
        ALERTS,
        alert(
            AlertUpdated,
            org,
            "PASSIGN",
            occurred_at=ago(1),
            pagerduty_event_type="incident.reassigned",
            assignees=linus,
            escalation_policy_name="Checkout",
        ),
    )
    incident = await service.wait_for_incident(
        org, "PASSIGN", until=lambda i: [a["id"] for a in i["assignees"]] == ["PUC7K9M"]
    )

    kinds = (
        IncidentStarted,
        IncidentStatusChanged,
        IncidentAssignmentChanged,
        IncidentTimelineEntryAdded,
    )
    events = await service.incident_events(incident["id"], kinds)
    assert [e.event_type for e in events] == [
        "IncidentStarted",
        "IncidentTimelineEntryAdded",
        "IncidentAssignmentChanged",
    ]
    started, entry, changed = events
    assert isinstance(started, IncidentStarted)
    assert [(a.id, a.name) for a in started.payload.assignees] == [("PUB3D4E", "Grace Hopper")]
    assert (started.payload.escalation_policy_id, started.payload.escalation_policy_name) == (
        "PESC01",
        "Checkout",
    )
    assert isinstance(changed, IncidentAssignmentChanged)
    assert [a.id for a in changed.payload.assignees] == ["PUC7K9M"]
    # The start carries the timeline's first two entries; the reassignment's is an event.
    timeline = await service.client.get(
        f"/v1/incidents/{incident['id']}/timeline", headers=service.headers(org)
    )
    stored = [(e["id"], e["kind"]) for e in timeline.json()["items"]]
    carried = [(str(e.entry_id), e.kind) for e in started.payload.timeline]
    assert isinstance(entry, IncidentTimelineEntryAdded)
    assert [*carried, (str(entry.payload.entry_id), entry.payload.kind)] == stored
    assert carried[0][1] == "started"


# -- the API ----------------------------------------------------------------------------------


async def test_the_list_filters_and_pages_through_every_incident_once(service: Harness) -> None:
    org = new_org()
    for n in range(5):
        await service.publish(
            ALERTS, alert(AlertTriggered, org, f"PLIST{n}", occurred_at=ago(60 - n)), key="PLIST"
        )
    await service.publish(ALERTS, alert(AlertResolved, org, "PLIST2"), key="PLIST")
    await service.barrier(org, "PLIST")
    manual = []
    for title in ("Manual one", "Manual two"):
        response = await service.client.post(
            "/v1/incidents", json={"title": title}, headers=service.headers(org)
        )
        assert response.status_code == 201, response.text
        manual.append(response.json()["id"])

    everything = await service.incidents(org)
    assert len(everything) == 8  # five alerts, the barrier's, two by hand
    created = [datetime.fromisoformat(i["created_at"]) for i in everything]
    assert created == sorted(created, reverse=True), "newest first"

    resolved = await service.incidents(org, status="resolved")
    assert [i["source"]["external_id"] for i in resolved] == ["PLIST2"]
    by_hand = await service.incidents(org, source="manual")
    assert sorted(i["id"] for i in by_hand) == sorted(manual)
    assert len(await service.incidents(org, source="pagerduty")) == 6
    assert [
        i["source"]["external_id"] for i in await service.incidents(org, external_id="PLIST3")
    ] == ["PLIST3"]
    assert await service.incidents(org, source="pagerduty", status="acknowledged") == []

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        response = await service.client.get(
            "/v1/incidents", params=params, headers=service.headers(org)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([i["id"] for i in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [i for page in pages for i in page] == [i["id"] for i in everything]

    filtered = await service.client.get(
        "/v1/incidents", params={"limit": 4, "source": "pagerduty"}, headers=service.headers(org)
    )
    assert filtered.json()["next_cursor"] is not None
    rest = await service.client.get(
        "/v1/incidents",
        params={"limit": 4, "source": "pagerduty", "cursor": filtered.json()["next_cursor"]},
        headers=service.headers(org),
    )
    assert len(rest.json()["items"]) == 2
    assert rest.json()["next_cursor"] is None


async def test_bad_list_parameters_are_clear_client_errors(service: Harness) -> None:
    org = new_org()
    headers = service.headers(org)

    bad_cursor = await service.client.get(
        "/v1/incidents", params={"cursor": "not-a-cursor"}, headers=headers
    )
    assert bad_cursor.status_code == 400
    assert bad_cursor.headers["content-type"] == "application/problem+json"
    assert bad_cursor.json()["code"] == "invalid_cursor"
    for params in ({"limit": 0}, {"limit": 101}, {"status": "open"}):
        response = await service.client.get("/v1/incidents", params=params, headers=headers)
        assert response.status_code == 422, params
        assert response.json()["code"] == "validation_error"


async def test_another_orgs_incident_is_not_found_and_not_listed(service: Harness) -> None:
    org, intruder = new_org(), new_org()
    created = await service.client.post(
        "/v1/incidents", json={"title": "Private"}, headers=service.headers(org)
    )
    incident_id = created.json()["id"]

    fetched = await service.client.get(
        f"/v1/incidents/{incident_id}", headers=service.headers(intruder)
    )
    patched = await service.client.patch(
        f"/v1/incidents/{incident_id}",
        json={"status": "resolved"},
        headers=service.headers(intruder),
    )
    listed = await service.incidents(intruder)
    malformed = await service.client.get("/v1/incidents/not-a-uuid", headers=service.headers(org))

    assert fetched.status_code == 404
    assert fetched.json()["code"] == "not_found"
    assert patched.status_code == 404
    assert listed == []
    assert malformed.status_code == 404
    own = await service.client.get(f"/v1/incidents/{incident_id}", headers=service.headers(org))
    assert own.status_code == 200
    assert own.json()["status"] == "triggered", "the intruder's PATCH changed nothing"


async def test_the_api_needs_a_token_with_the_right_scope(service: Harness) -> None:
    org = new_org()

    anonymous = await service.client.get("/v1/incidents")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    garbage = await service.client.get(
        "/v1/incidents", headers={"Authorization": "Bearer not.a.token"}
    )
    assert garbage.status_code == 401
    assert 'error="invalid_token"' in garbage.headers["www-authenticate"]

    reader = service.headers(org, ("incidents:read",))
    writer = service.headers(org, ("incidents:write",))
    assert (await service.client.get("/v1/incidents", headers=reader)).status_code == 200
    refused_write = await service.client.post(
        "/v1/incidents", json={"title": "Nope"}, headers=reader
    )
    refused_read = await service.client.get("/v1/incidents", headers=writer)
    assert refused_write.status_code == 403
    assert refused_write.json()["code"] == "insufficient_scope"
    assert refused_read.status_code == 403
    assert await service.incidents(org) == [], "the refused create stored nothing"


async def test_a_revoked_keys_outstanding_tokens_are_refused(service: Harness) -> None:
    org = new_org()
    revoked_key, other_key = uuid.uuid4(), uuid.uuid4()
    doomed = service.headers(org, key_id=revoked_key)
    unaffected = service.headers(org, key_id=other_key)
    assert (await service.client.get("/v1/incidents", headers=doomed)).status_code == 200

    await service.publish(
        KEYS,
        KeyRevoked(
            org_id=org,
            payload=KeyRevokedPayload(key_id=revoked_key, revoked_at=datetime.now(UTC)),
        ),
    )

    async def refused() -> bool:
        response = await service.client.get("/v1/incidents", headers=doomed)
        return response.status_code == 401

    assert await wait_for(refused, WAIT_S), "the revoked key's token was still accepted"
    assert (await service.client.get("/v1/incidents", headers=unaffected)).status_code == 200


async def test_incidents_can_be_started_by_hand_with_or_without_a_creator(
    service: Harness,
) -> None:
    org = new_org()
    alice = await service.add_user(org, "alice@example.com")
    gone = await service.add_user(org, "gone@example.com", deactivate=True)
    elsewhere = await service.add_user(new_org(), "elsewhere@example.com")
    headers = service.headers(org)

    anonymous = await service.client.post(
        "/v1/incidents", json={"title": "  Database slow  "}, headers=headers
    )
    assert anonymous.status_code == 201, anonymous.text
    body = anonymous.json()
    assert body["title"] == "Database slow"
    assert body["creator_id"] is None
    assert body["status"] == "triggered"
    assert (body["severity"], body["incident_type"]) == ("SEV3", "Default")
    assert body["source"] == {
        "kind": "manual",
        "external_id": None,
        "html_url": None,
        "service_id": None,
        "service_name": None,
    }

    owned = await service.client.post(
        "/v1/incidents",
        json={
            "title": "Checkout errors",
            "severity": "SEV2",
            "incident_type": "Outage",
            "creator_id": str(alice),
        },
        headers=headers,
    )
    assert owned.status_code == 201, owned.text
    assert owned.json()["creator_id"] == str(alice)
    assert (owned.json()["severity"], owned.json()["incident_type"]) == ("SEV2", "Outage")
    assert [body["number"], owned.json()["number"]] == [1, 2]

    for stranger in (gone, elsewhere, uuid.uuid4()):
        refused = await service.client.post(
            "/v1/incidents", json={"title": "x", "creator_id": str(stranger)}, headers=headers
        )
        assert refused.status_code == 422
        assert refused.json()["code"] == "unknown_creator"
    for bad in ({"title": "   "}, {}, {"title": "x", "colour": "red"}):
        assert (
            await service.client.post("/v1/incidents", json=bad, headers=headers)
        ).status_code == 422
    assert len(await service.incidents(org)) == 2, "refused creates stored nothing"

    started = await service.incident_events(owned.json()["id"])
    assert [e.event_type for e in started] == ["IncidentStarted"]
    assert isinstance(started[0], IncidentStarted)
    assert started[0].payload.creator_id == alice
    assert started[0].payload.source is None


async def test_status_changes_set_their_timestamps_and_are_announced(service: Harness) -> None:
    org = new_org()
    headers = service.headers(org)
    created = await service.client.post("/v1/incidents", json={"title": "x"}, headers=headers)
    url = f"/v1/incidents/{created.json()['id']}"

    async def patch(status: str) -> dict[str, Any]:
        response = await service.client.patch(url, json={"status": status}, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    acknowledged = await patch("acknowledged")
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledged_at"] is not None
    resolved = await patch("resolved")
    assert resolved["resolved_at"] is not None
    assert resolved["acknowledged_at"] == acknowledged["acknowledged_at"]
    assert (await patch("resolved"))["resolved_at"] == resolved["resolved_at"], "no-op repeat"
    reopened = await patch("triggered")
    assert reopened["resolved_at"] is None
    assert reopened["acknowledged_at"] == acknowledged["acknowledged_at"]
    assert (await service.client.get(url, headers=headers)).json() == reopened

    invalid = await service.client.patch(url, json={"status": "closed"}, headers=headers)
    assert invalid.status_code == 422

    events = await service.incident_events(created.json()["id"])
    changes = [
        (e.payload.previous_status, e.payload.status)
        for e in events
        if isinstance(e, IncidentStatusChanged)
    ]
    assert changes == [
        ("triggered", "acknowledged"),
        ("acknowledged", "resolved"),
        ("resolved", "triggered"),
    ]


async def test_concurrent_creates_get_distinct_gapless_numbers(service: Harness) -> None:
    org = new_org()
    headers = service.headers(org)

    responses = await asyncio.gather(
        *(
            service.client.post("/v1/incidents", json={"title": f"#{n}"}, headers=headers)
            for n in range(20)
        )
    )

    assert all(r.status_code == 201 for r in responses)
    assert sorted(r.json()["number"] for r in responses) == list(range(1, 21))


async def test_one_alert_started_twice_at_once_makes_one_incident_and_no_number_gap(
    service: Harness,
) -> None:
    # Two consumers (replicas, or a redelivery racing its original) apply the same alert in
    # parallel: one of them must find the other's incident under the numbering lock, and give
    # back the number it had reserved, so the org's numbers stay gapless.
    org = new_org()
    runtime = service.runtime

    def command(external_id: str) -> ApplyAlert:
        return ApplyAlert(
            org_id=org,
            status="triggered",
            source="pagerduty",
            external_id=external_id,
            title="Checkout is down",
            severity=None,
            incident_type=None,
            creator_email=None,
            oncall_emails=(),
            html_url=None,
            service_id=None,
            service_name=None,
            occurred_at=datetime.now(UTC),
        )

    async def apply(external_id: str) -> None:
        uow = PgUnitOfWork(runtime.outbox, pool=runtime.pool)
        await source_events.apply_alert(uow=uow, command=command(external_id))

    await asyncio.gather(*(apply("PRACE") for _ in range(6)))
    await apply("PNEXT")

    raced = await service.incidents(org, external_id="PRACE")
    following = await service.incidents(org, external_id="PNEXT")
    assert len(raced) == 1
    assert (raced[0]["number"], following[0]["number"]) == (1, 2)


async def test_text_that_cannot_be_stored_is_a_400_and_starts_nothing(service: Harness) -> None:
    org = new_org()
    headers = service.headers(org)

    created = await service.client.post(
        "/v1/incidents", json={"title": "nul\u0000title"}, headers=headers
    )
    listed = [
        await service.client.get("/v1/incidents", params={name: "a\u0000b"}, headers=headers)
        for name in ("external_id", "source", "cursor")
    ]

    for refused in (created, *listed):
        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "invalid_text"
    assert await service.incidents(org) == []


# -- the timeline -----------------------------------------------------------------------------


def activity(org_id: uuid.UUID, external_id: str, event_id: str, text: str) -> AlertActivity:
    return AlertActivity(
        org_id=org_id,
        payload=AlertActivityPayload(
            integration_id=uuid.UUID(int=7),
            external_id=external_id,
            title="Checkout is down",
            kind="note",
            summary="Note added in PagerDuty by Grace Hopper",
            text=text,
            agent=AlertAgent(id="PUB3D4E", type="user_reference", name="Grace Hopper"),
            alert_occurred_at=ago(1),
            pagerduty_event_id=event_id,
            pagerduty_event_type="incident.annotated",
            delivery_id=uuid.uuid4().hex,
        ),
    )


async def test_a_redelivered_pagerduty_note_is_one_entry_and_a_timeline_is_read_in_pages(
    service: Harness,
) -> None:
    org = new_org()
    headers = service.headers(org)
    await service.publish(ALERTS, alert(AlertTriggered, org, "PTIMELINE", occurred_at=ago(5)))
    note = activity(org, "PTIMELINE", "01NOTE", "Rolled back deploy 4812.")
    # The same PagerDuty event three times, as three different alert events (new event ids,
    # as a delivery re-sent under another X-Webhook-Id would be).
    copies = [note.model_copy(update={"event_id": uuid.uuid4()}) for _ in range(3)]
    await service.publish(ALERTS, *copies)
    await service.barrier(org, "PTIMELINE")
    incident = await service.wait_for_incident(org, "PTIMELINE")
    url = f"/v1/incidents/{incident['id']}/timeline"

    first = await service.client.get(url, params={"limit": 2}, headers=headers)
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    rest = await service.client.get(url, params={"limit": 2, "cursor": cursor}, headers=headers)

    entries = first.json()["items"] + rest.json()["items"]
    assert [e["kind"] for e in entries] == ["started", "status_changed", "note"]
    assert rest.json()["next_cursor"] is None
    assert entries[2]["text"] == "Rolled back deploy 4812."
    assert entries[2]["actor"] == {
        "kind": "pagerduty_user",
        "id": "PUB3D4E",
        "name": "Grace Hopper",
    }
    assert entries[2]["source_event_id"] == "01NOTE"
    async with service.runtime.pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT count(*) FROM timeline_entries WHERE source_event_id = '01NOTE'"
        )
    assert stored == 1


async def test_bad_timeline_writes_are_clear_problems_and_write_nothing(service: Harness) -> None:
    org, stranger = new_org(), new_org()
    mine = (
        await service.client.post(
            "/v1/incidents", json={"title": "Disk full"}, headers=service.headers(org)
        )
    ).json()
    other = (
        await service.client.post(
            "/v1/incidents", json={"title": "Other"}, headers=service.headers(org)
        )
    ).json()
    url = f"/v1/incidents/{mine['id']}/timeline"
    added = await service.client.post(url, json={"text": "ok"}, headers=service.headers(org))
    assert added.status_code == 201, added.text
    before = (await service.client.get(url, headers=service.headers(org))).json()["items"]
    page = await service.client.get(url, params={"limit": 1}, headers=service.headers(org))

    too_long = await service.client.post(
        url, json={"text": "x" * 10_001}, headers=service.headers(org)
    )
    foreign = await service.client.post(
        url, json={"text": "hello"}, headers=service.headers(stranger)
    )
    wrong_cursor = await service.client.get(
        f"/v1/incidents/{other['id']}/timeline",
        params={"cursor": page.json()["next_cursor"]},
        headers=service.headers(org),
    )
    read_only = await service.client.post(
        url, json={"text": "hello"}, headers=service.headers(org, ["incidents:read"])
    )

    assert (too_long.status_code, too_long.json()["code"]) == (422, "invalid_note")
    assert too_long.headers["content-type"].startswith("application/problem+json")
    assert foreign.status_code == 404
    assert (wrong_cursor.status_code, wrong_cursor.json()["code"]) == (400, "invalid_cursor")
    assert "another incident" in wrong_cursor.json()["detail"]
    assert read_only.status_code == 403
    after = (await service.client.get(url, headers=service.headers(org))).json()["items"]
    assert after == before


# -- a burst is applied as one batch ----------------------------------------------------------


async def test_a_burst_in_one_partition_is_applied_together_exactly_as_one_by_one(
    service: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A storm's alerts arrive as batches (a fetch each) that are written set-based; what they leave
    must be what applying them one at a time leaves: numbers, creators, states, timelines."""
    org = new_org()
    creator = await service.add_user(org, "oncall@example.com")
    key = f"burst-{uuid.uuid4().hex[:8]}"
    triggers = [alert(AlertTriggered, org, f"PB{i:02d}", occurred_at=ago(30)) for i in range(20)]
    matched = alert(
        AlertTriggered, org, "PBMATCH", occurred_at=ago(30), creator_email="ONCALL@example.com"
    )
    note = activity(org, "PB03", "01BURSTNOTE", "Paged the database team.")
    burst: list[EventEnvelope] = [
        alert(AlertResolved, org, "PB04", occurred_at=ago(1)),  # overtakes its own trigger
        *triggers,
        triggers[5],  # redelivered: the inbox drops it
        alert(AlertTriggered, org, "PB05", occurred_at=ago(30), title="Replayed"),
        matched,
        alert(AlertAcknowledged, org, "PB01", occurred_at=ago(20)),
        alert(AlertResolved, org, "PB02", occurred_at=ago(10)),
        *(note.model_copy(update={"event_id": uuid.uuid4()}) for _ in range(3)),
    ]
    topic = topic_name(ALERTS, service.prefix)
    caplog.set_level("INFO", logger="fireline_runtime.messaging")
    # Sent without waiting for each answer, so that they reach the consumer together.
    sent = [
        await service.producer.send(topic, event.to_bytes(), key=key.encode()) for event in burst
    ]
    await asyncio.gather(*sent)
    await service.barrier(org, key)

    incidents = {i["source"]["external_id"]: i for i in await service.incidents(org)}
    started = {k: v for k, v in incidents.items() if k.startswith("PB")}
    assert len(started) == 21
    assert sorted(i["number"] for i in started.values()) == list(range(1, 22))
    assert incidents["PB01"]["status"] == "acknowledged"
    assert incidents["PB02"]["status"] == "resolved"
    assert incidents["PB04"]["status"] == "resolved"
    assert (
        datetime.fromisoformat(incidents["PB04"]["created_at"])
        == triggers[4].payload.alert_occurred_at
    )
    assert incidents["PB05"]["title"] == "Checkout is down (PB05)"
    assert incidents["PBMATCH"]["creator_id"] == str(creator)
    assert {i["creator_id"] for k, i in started.items() if k != "PBMATCH"} == {None}
    headers = service.headers(org)
    timeline = await service.client.get(
        f"/v1/incidents/{incidents['PB03']['id']}/timeline", headers=headers
    )
    assert [e["kind"] for e in timeline.json()["items"]] == ["started", "status_changed", "note"]
    events = await service.incident_events(incidents["PB04"]["id"])
    assert [type(e).__name__ for e in events] == ["IncidentStarted", "IncidentStatusChanged"]
    assert "batch not applied together" not in caplog.text
